import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import empty_store
from lab2prod import model_edge, model_logging, tracking
from lab2prod.modeling.estimators import build_estimator, trusted_types


def test_logged_model_loads_back_with_skops_and_predicts_the_same(store):
    empty_store(store)
    tracking.connect(store, "exp")
    x = pd.DataFrame({"a": np.arange(20.0), "c": ["p", "q"] * 10})
    y = (x["a"] > 9).astype(int)
    model = build_estimator(
        "hist_gradient_boosting", "classification", ["a"], ["c"], {"max_iter": 5}
    ).fit(x, y)
    with mlflow.start_run():
        uri = model_logging.log_sklearn_model(
            model, x, trusted_types("hist_gradient_boosting"), "predict_proba"
        )
    assert uri.startswith("models:/m-")
    loaded = model_edge.load_sklearn_model(uri)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    saved = list((store / "mlartifacts").rglob("model.skops"))
    assert saved, "the model must be stored with skops, not pickle"
    assert not list((store / "mlartifacts").rglob("*.pkl"))


@pytest.mark.readiness("monitor 1")
def test_pip_requirements_are_exact_pins():
    reqs = model_logging.pip_requirements()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert all("==" in r for r in reqs)


LOG_AT_ONCE = """
import sys, time
from pathlib import Path
import mlflow, pandas as pd
from lab2prod import model_logging
uri, experiment_id, go, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
mlflow.set_tracking_uri(uri)
frame = pd.DataFrame({"x": [1, 2], "y": [0, 1]})
with mlflow.start_run(experiment_id=experiment_id):
    while not go.exists():  # every process waits here, so that they all log at once
        time.sleep(0.005)
    for number in range(count):
        model_logging.log_dataset(frame, "credit", "lake", "y", f"{number:032x}" + "0" * 32, "training")
"""


@pytest.mark.integration  # three fresh interpreters importing MLflow: seconds
def test_grid_cells_logging_one_dataset_at_once_all_succeed(store):
    """The race of parallel grid cells (a fresh build failed on it: UNIQUE constraint failed:
    datasets.experiment_id, datasets.name, datasets.digest): every process's run gets its inputs,
    and the store holds each dataset once."""
    import time

    empty_store(store)
    experiment_id = tracking.connect(store, "grid")
    uri = mlflow.get_tracking_uri()
    processes, count, go = 3, 25, store / "go"
    args = [sys.executable, "-c", LOG_AT_ONCE, uri, experiment_id, str(go), str(count)]
    started = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    deadline = time.monotonic() + 120
    while len(mlflow.search_runs([experiment_id], output_format="list")) < processes:
        assert time.monotonic() < deadline and all(p.poll() is None for p in started), [
            p.communicate()[1][-2000:] for p in started if p.poll() is not None
        ]
        time.sleep(0.1)
    go.touch()
    for process in started:
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
    found = mlflow.search_runs([experiment_id], output_format="list")
    runs = [mlflow.get_run(run.info.run_id) for run in found]
    assert len(runs) == processes
    assert [len(run.inputs.dataset_inputs) for run in runs] == [count] * processes
    digests = {i.dataset.digest for run in runs for i in run.inputs.dataset_inputs}
    assert len(digests) == count


def test_a_training_run_records_what_its_run_record_holds_nested_under_its_parent(store, contract):
    from lab2prod.modeling.training import train_model

    empty_store(store)
    tracking.connect(store, "exp")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(40)],
            "age": rng.integers(18, 90, 40),
            "income": rng.normal(100, 10, 40),
            "home": ["owner", "rent"] * 20,
            "y": ["bad", "good"] * 20,
        }
    )
    trained = train_model(frame, contract, "linear", seed=1)
    with mlflow.start_run() as parent:
        pass
    record = model_logging.RunRecord(
        counts={"rows_train": 40},
        metrics={"valid_roc_auc": 0.5},
        tags={"grid.cell": "train-0"},
        parent_run_id=parent.info.run_id,
    )
    logged = model_logging.log_training_run(
        trained, frame, contract, run_name="cell", record=record
    )
    run = mlflow.MlflowClient().get_run(logged.run_id)
    assert run.data.params["rows_train"] == "40" and run.data.metrics["valid_roc_auc"] == 0.5
    assert run.data.tags["grid.cell"] == "train-0"
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    with pytest.raises(TypeError, match="unexpected keyword argument 'metrics'"):
        model_logging.log_training_run(trained, frame, contract, run_name="old", metrics={})

import dataclasses

import mlflow
import pandas as pd
import pytest

from conftest import empty_store
from lab2prod import tracking
from lab2prod.data.lake import Lake
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.retrain import (
    RetrainConfig,
    newest_window,
    pipeline_command,
    retrain_in_process,
    retrain_needed,
    write_window_catalog,
)
from lab2prod.project import Project
from lab2prod.release import registry
from lab2prod.steps.results import RegisterResult, SelectResult


@pytest.mark.readiness("monitor 4")
def test_retrain_needed_follows_the_status():
    assert retrain_needed(
        {"status": "alert", "retrain": True, "triggers": ["dataset drift 40% >= 25%"]}
    ) == (True, ["dataset drift 40% >= 25%"])
    due, reasons = retrain_needed({"status": "warning", "retrain": False, "batch_id": "b7"})
    assert not due and "no retraining threshold crossed" in reasons[0]
    with pytest.raises(MonitoringError, match="no 'retrain' field"):
        retrain_needed({"batch_id": "b"})


def test_newest_window_takes_the_latest_rows():
    batches = [pd.DataFrame({"i": range(k * 10, k * 10 + 10)}) for k in range(5)]
    window = newest_window(batches, 25)
    assert window["i"].tolist() == list(range(25, 50))
    with pytest.raises(MonitoringError, match="no labelled batch yet"):
        newest_window([], 100)
    with pytest.raises(MonitoringError, match="at least 10 rows"):
        newest_window(batches, 5)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Return a project in `tmp_path` whose store is empty: model `m`, experiment `retrain`."""
    uri = f"sqlite:///{empty_store(tmp_path)}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.MlflowClient().create_experiment(
        "retrain", artifact_location=(tmp_path / "art").as_uri()
    )
    return Project(root=tmp_path, model_name="m", experiment="retrain")


@pytest.mark.integration  # trains and gates a model: tens of seconds on 2 cores
def test_a_retrained_model_that_is_not_better_is_not_promoted(credit_lake, store):
    contract, frame, _ = credit_lake
    config = RetrainConfig(window_rows=2000, seed=1)
    window = frame.sample(n=2000, random_state=3).reset_index(drop=True)
    first = retrain_in_process(store, window, contract, config, ["first"])
    assert first.decision.promote and first.champion_version == first.version == "1"
    # the pipeline's own steps ran on the window's lake: their results are there, as in a build
    lake = first.window
    assert lake.lake.parent.parent == store.lake.lake / "monitoring" / "retrain"
    assert SelectResult.read(lake.summary("select")).run_id == first.run_id
    assert RegisterResult.read(lake.summary("register")).version == "1"
    parts = {
        part: pd.read_csv(lake.split(contract.dataset, part)) for part in ("train", "valid", "test")
    }
    # the held-out rows are both the validation the cell is measured on and the test the gate judges on
    assert parts["valid"].equals(parts["test"]) and len(parts["train"]) + len(parts["test"]) == 2000
    # a one-split stump retrained on the same rows is worse than the champion on the same held-out rows
    stump = RetrainConfig(
        window_rows=2000,
        seed=1,
        family="random_forest",
        model_params={"n_estimators": 1, "max_depth": 1},
    )
    second = retrain_in_process(store, window, contract, stump, ["drift"])
    assert not second.decision.promote and "not better" in "; ".join(second.decision.reasons)
    assert registry.version_by_alias("m", registry.CHAMPION).version == "1"
    assert registry.version_by_alias("m", registry.CHALLENGER).version == "2"
    metrics, _, tags = tracking.run_data(second.run_id)
    assert (
        tags["gate.decision"] == "reject"
        and "test_roc_auc" in metrics
        and "champion_roc_auc" in metrics
        and tags["retrain.reasons"] == "drift"
    )
    assert second.window != first.window  # each retraining keeps its own window
    assert second.record("b9")["decision"] == "reject"


def test_pipeline_path_gets_a_window_catalog(credit_lake, tmp_path):
    from lab2prod import settings

    contract, frame, _ = credit_lake
    lake = Lake.of(tmp_path, "lake")
    catalog = write_window_catalog(lake, "s1", frame.head(50), contract)
    assert catalog == lake.window_source("s1")["catalog"]
    loaded = settings.load_catalog(catalog)
    assert loaded.key == "applicant_id" and loaded.sources[0].path.name == "window.csv"
    window_lake = lake.window_lake("s1").lake
    command, env = pipeline_command(tmp_path, catalog, window_lake, "env.test.yaml")
    assert command[1:4] == ["build", "--force", "--env--data"] and env == {
        "PLOOMBER_ENV_FILENAME": "env.test.yaml"
    }
    assert command[4] == str(catalog.relative_to(tmp_path))
    assert command[5:] == ["--env--lake", str(catalog.relative_to(tmp_path).parent / "lake")]
    with pytest.raises(MonitoringError, match="outside the project"):
        pipeline_command(tmp_path / "elsewhere", catalog, window_lake)


@pytest.mark.integration  # two fresh-process infrastructure checks: tens of seconds
def test_a_retrained_model_below_a_floor_is_never_champion(credit_lake, store):
    # the in-process path releases through release_challenger: floors first, then the fresh-process check
    contract, frame, _ = credit_lake
    window = frame.sample(n=1500, random_state=5).reset_index(drop=True)
    strict = RetrainConfig(window_rows=1500, seed=2, gate_floors={"roc_auc": 0.99})
    floored = dataclasses.replace(store, model_name="floored")
    below = retrain_in_process(floored, window, contract, strict, ["drift"])
    assert not below.decision.promote
    assert "misses floor 0.99" in "; ".join(below.decision.reasons)
    assert registry.version_by_alias("floored", registry.CHAMPION) is None
    assert below.registered.infra["infra.error"] == "not run: the gate rejected it"
    # passing the floors is not enough either: the model must load and score in a fresh process
    broken_check = RetrainConfig(
        window_rows=1500, seed=2, gate_floors={"roc_auc": 0.6}, infra_rows=0
    )
    blocked = retrain_in_process(floored, window, contract, broken_check, ["drift"])
    assert not blocked.decision.promote and blocked.registered.infra["infra.ok"] == "false"
    assert "infrastructure check failed" in "; ".join(blocked.decision.reasons)
    assert registry.version_by_alias("floored", registry.CHAMPION) is None
    # floors met and the check passed: now it is champion, with the numbers on the version
    fine = RetrainConfig(window_rows=1500, seed=2, gate_floors={"roc_auc": 0.6, "brier": 0.3})
    passed = retrain_in_process(floored, window, contract, fine, ["drift"])
    assert passed.decision.promote and passed.registered.infra["infra.ok"] == "true"
    assert registry.version_by_alias("floored", registry.CHAMPION).version == passed.version
    tags = mlflow.MlflowClient().get_model_version("floored", passed.version).tags
    assert tags["infra.ok"] == "true" and tags["origin"] == "retrain"
    assert registry.evidence("floored", passed.version)["gate.floor.roc_auc"] == "0.6"


@pytest.mark.integration
def test_the_pipeline_path_releases_with_floors_and_the_infra_check(built, credit_lake, tmp_path):
    # `lab2prod retrain` (pipeline path) runs this very pipeline on the window: its register step is
    # release_challenger with the env file's gate_floors, as the session's sample build shows
    import json

    registered = json.loads((built / "products/register.json").read_text())
    assert registered["decision"]["gate.floor.roc_auc"] == "0.7"
    assert registered["decision"]["gate.floor.brier"] == "0.25"
    assert registered["infra"]["infra.ok"] == "true" and "infra.load_seconds" in registered["infra"]
    contract, frame, _ = credit_lake
    lake = Lake.of(built)
    catalog = write_window_catalog(lake, "s1", frame.head(50), contract)
    command, _ = pipeline_command(built, catalog, lake.window_lake("s1").lake, "env.test.yaml")
    # the window build keeps the env file's gate settings: nothing on its command line overrides them
    assert not [arg for arg in command if arg.startswith("--env--gate")]


def test_retraining_and_the_replay_train_and_release_only_through_the_pipelines_steps():
    # one orchestration of training: no module of monitoring trains, logs or releases a model itself
    import ast
    from pathlib import Path

    import lab2prod.monitoring.retrain as retrain
    import lab2prod.monitoring.simulate as simulate

    own = {"train_model", "log_training_run", "release_challenger"}
    for module in (retrain, simulate):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & own, module.__name__
        assert "lab2prod.tracking" not in modules and "lab2prod.release.promotion" not in modules
    steps = {
        node.module: {a.name for a in node.names}
        for node in ast.walk(ast.parse(Path(retrain.__file__).read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
    }
    assert steps["lab2prod.steps"] == {"release", "training"}

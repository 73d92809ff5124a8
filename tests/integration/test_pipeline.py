"""Build the whole training pipeline with env.test.yaml in a temporary copy of the project, for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from lab2prod import tracking
from lab2prod.data import lake
from tests.conftest import PROJECT, SAMPLE_STEPS, dag_steps

pytestmark = pytest.mark.integration
STEPS = SAMPLE_STEPS


@pytest.mark.readiness("infra 3")
def test_products_and_reports_exist(built):
    for step in STEPS:
        assert (built / "products" / "notebooks" / f"{step}.ipynb").is_file()
        assert (built / "reports" / "notebooks" / f"{step}.html").is_file()
    index = (built / "reports" / "index.html").read_text()
    for step in STEPS:
        assert f'href="notebooks/{step}.html"' in index
    assert "roc_auc" in index
    assert (built / "reports" / "model_card.html").is_file()
    assert (built / "reports" / "data_quality.html").is_file()


def test_lake_holds_raw_normalized_and_manifest(built):
    lake_dir = built / "data" / "lake"
    raw = sorted(
        p.relative_to(lake_dir / "raw").parts[0]
        for p in (lake_dir / "raw").rglob("*")
        if p.is_file()
    )
    assert raw == ["applications", "bureau", "outcomes"]
    normalized = pd.read_csv(lake.normalized_path(lake_dir, "credit"))
    quarantined = pd.read_csv(lake.quarantine_path(lake_dir, "credit"))
    assert len(normalized) + len(quarantined) == 4454
    manifest = json.loads(next((lake_dir / "manifests").glob("credit-*.json")).read_text())
    assert manifest["outputs"]["normalized"]["sha256"] == lake.sha256_file(
        lake.normalized_path(lake_dir, "credit")
    )


@pytest.mark.readiness("infra 3")
def test_mlflow_run_and_champion(built):
    mlflow.set_tracking_uri(f"sqlite:///{built / 'mlflow.db'}")
    try:
        client = MlflowClient()
        trained = json.loads((built / "products" / "select.json").read_text())
        run = client.get_run(trained["run_id"])
        assert run.data.metrics["test_roc_auc"] > 0.75
        assert run.data.params["family"] in ("linear", "hist_gradient_boosting", "random_forest")
        assert run.data.tags["mlflow.parentRunId"] == trained["parent_run_id"]
        cells = client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{trained['parent_run_id']}'",
        )
        assert len(cells) == 4, "each grid cell is a run nested under the build's parent run"
        assert run.data.tags["data.sha256"] == lake.sha256_file(
            built / "data/lake/normalized/credit.csv"
        )
        assert "version.scikit-learn" in run.data.tags
        # built in a copy (no git repository): the runs carry the commit the copy was made from
        commit = tracking.git_commit(PROJECT)
        assert commit != "unknown" and run.data.tags["git_commit"] == commit
        assert client.get_run(trained["parent_run_id"]).data.tags["git_commit"] == commit
        assert run.inputs.dataset_inputs, "the training data must be logged as an MLflow dataset"
        artifacts = [a.path for a in client.list_artifacts(trained["parent_run_id"], "notebooks")]
        assert "notebooks/train-0.ipynb" in artifacts and "notebooks/evaluate.ipynb" in artifacts
        # each executed notebook's HTML beside it: the MLflow UI previews HTML, an .ipynb as JSON
        assert {"notebooks/train-0.html", "notebooks/evaluate.html"} <= set(artifacts), artifacts
        # the UI opens the experiment on its runs, where the build's run has a name of its own
        experiment = client.get_experiment(run.info.experiment_id)
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
        parent = client.get_run(trained["parent_run_id"])
        assert parent.info.run_name.startswith("build-credit 20"), parent.info.run_name
        assert parent.info.run_name.endswith(commit[:7] + ("-dirty" if "-dirty" in commit else ""))
        # the evaluation's figures: the run keeps the very PNGs of the report
        evaluated = json.loads((built / "products" / "evaluate.json").read_text())
        figures = [a.path for a in client.list_artifacts(trained["run_id"], "evaluation")]
        assert {f"evaluation/{Path(f).name}" for f in evaluated["figures"]} <= set(figures)
        roc = client.download_artifacts(trained["run_id"], "evaluation/roc.png")
        assert Path(roc).read_bytes() == (built / "reports/figures/roc.png").read_bytes()
        # the fresh-process check ran beside evaluate, on the model register made champion
        checked = json.loads((built / "products" / "check.json").read_text())
        assert checked["ok"] and checked["model_uri"] == trained["model_uri"]
        champion = client.get_model_version_by_alias("credit-risk", "champion")
        assert champion.run_id == trained["run_id"]
        assert champion.tags["infra.ok"] == "true"
        model = mlflow.pyfunc.load_model("models:/credit-risk@champion")
        assert model.metadata.signature is not None
    finally:
        mlflow.set_tracking_uri(None)


def test_rebuild_does_nothing_and_an_edit_outdates_only_what_follows(built):
    # what the next `ploomber build` would run (it decides from exactly this status; nothing executes):
    # unchanged, nothing; an edited notebook, it and what follows; the notebook put back, nothing again
    unchanged, edited, restored = dag_steps(
        built,
        [
            "status",
            "append:notebooks/evaluate.ipynb",
            "status",
            "restore:notebooks/evaluate.ipynb",
            "status",
        ],
    )
    assert set(unchanged.values()) == {"Skipped"} and set(unchanged) == set(STEPS)
    assert {s for s in STEPS if edited[s] == "WaitingExecution"} == {"evaluate"}
    assert {s for s in STEPS if edited[s] == "WaitingUpstream"} == {"register", "report"}
    assert {s for s in STEPS if edited[s] == "Skipped"} == set(STEPS) - {
        "evaluate",
        "register",
        "report",
    }
    assert set(restored.values()) == {"Skipped"}


def test_a_notebook_runs_standalone_under_plain_papermill(built, tmp_path):
    # in a copy of the build's lake: the shared build keeps its own splits
    shutil.copytree(built / "data", tmp_path / "data")
    out = tmp_path / "split.ipynb"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LAB2PROD_ROOT")}
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "papermill"),
            str(built / "notebooks" / "split.ipynb"),
            str(out),
            "-p",
            "root",
            str(tmp_path),
            "-p",
            "seed",
            "7",
            "-p",
            "sample_rows",
            "500",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    executed = nbformat.read(out, as_version=4)
    assert "'train': 300" in str(executed.cells[-1].outputs)
    assert len(pd.read_csv(tmp_path / "data/lake/splits/credit/test.csv")) == 100

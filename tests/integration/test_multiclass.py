"""Multiclass by configuration only, end to end: scikit-learn's wine table (three cultivars).

`multiclass_project` (tests/conftest.py) builds the whole pipeline once per session on
`byod/wine.csv`, written from the installed scikit-learn (nothing downloaded), with
`--env--task classification` and an inferred contract of three labels. These tests read that
build, then score it with `lab2prod score`, monitor the scored batch with delayed labels with
`lab2prod monitor`, and ask the champion over REST (`mlflow models serve`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scoring.test_serve import _invoke, serving

from conftest import BIN, build_env
from lab2prod.modeling.metric_names import MULTICLASS_METRICS

pytestmark = pytest.mark.integration

LABELS = ["class_0", "class_1", "class_2"]
PROBABILITIES = [f"probability_{label}" for label in LABELS]


def _lab2prod(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lab2prod"), *args, "--root", str(root)],
        cwd=root,
        env=build_env(root),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def scored(multiclass_project, tmp_path_factory):
    """The wine rows without their cultivar, scored by `lab2prod score` with the champion."""
    folder = tmp_path_factory.mktemp("wine-batch")
    wine = pd.read_csv(multiclass_project / "byod/wine.csv")
    wine.drop(columns=["cultivar"]).to_csv(folder / "batch.csv", index=False)
    wine[["id", "cultivar"]].to_csv(folder / "labels.csv", index=False)
    done = _lab2prod(
        multiclass_project,
        "score",
        "--input",
        str(folder / "batch.csv"),
        "--output",
        str(folder / "preds.csv"),
        "--model",
        "models:/wine@champion",
        "--contract",
        str(multiclass_project / "data/lake/contracts/wine.yaml"),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return folder, wine


def test_multiclass_build_trains_evaluates_gates_and_registers(multiclass_project):
    root = multiclass_project
    contract = (root / "data/lake/contracts/wine.yaml").read_text()
    assert "- class_0\n  - class_1\n  - class_2" in contract  # three labels, inferred
    chosen = json.loads((root / "products/select.json").read_text())
    assert chosen["select_metric"] == "roc_auc"  # the default: one-vs-rest macro ROC AUC
    assert all(set(MULTICLASS_METRICS) <= set(cell) for cell in chosen["grid"])
    evaluated = json.loads((root / "products/evaluate.json").read_text())
    assert set(evaluated["test_metrics"]) == set(MULTICLASS_METRICS)
    for name in ("accuracy", "f1_macro", "roc_auc"):
        interval = evaluated["intervals"][name]
        assert 0.8 < interval["value"] <= 1 and interval["low"] <= interval["value"]
    assert {"figures/roc.png", "figures/confusion.png"} <= set(evaluated["figures"])
    predictions = pd.read_csv(root / "products/test_predictions.csv")
    assert list(predictions.columns) == ["id", "actual", "prediction", *PROBABILITIES]
    assert np.allclose(predictions[PROBABILITIES].sum(axis=1), 1.0)
    released = json.loads((root / "products/register.json").read_text())
    assert released["promoted"] and released["champion_version"] == "1"
    decision = released["decision"]
    # env.test.yaml's floors (roc_auc >= 0.70, brier <= 0.25) apply to a multiclass model too
    assert decision["gate.floor.roc_auc"] == "0.7" and decision["gate.floor.brier"] == "0.25"
    assert not any("does not apply" in reason for reason in released["reasons"])
    assert released["infra"]["infra.ok"] == "true"
    card = (root / "reports/model_card.html").read_text()
    assert "into 3 classes: class_0, class_1, class_2" in card
    assert "One probability per class of" in card


def test_lab2prod_score_writes_a_probability_per_class_the_label_and_lineage(scored):
    folder, wine = scored
    out = pd.read_csv(folder / "preds.csv")
    assert list(out.columns) == [
        "id",
        *PROBABILITIES,
        "label",
        "model_name",
        "model_version",
        "run_id",
        "input_sha256",
        "scored_at",
    ]
    assert out["id"].tolist() == wine["id"].tolist()
    assert np.allclose(out[PROBABILITIES].sum(axis=1), 1.0)
    assert (out["label"] == np.asarray(LABELS)[out[PROBABILITIES].to_numpy().argmax(axis=1)]).all()
    assert (out["label"] == wine["cultivar"]).mean() > 0.9  # rows it mostly trained on
    assert set(out["model_name"]) == {"wine"} and set(out["model_version"]) == {1}


def test_lab2prod_monitor_measures_the_class_mix_and_the_delayed_labels(multiclass_project, scored):
    folder, _ = scored
    done = _lab2prod(
        multiclass_project,
        "monitor",
        "--batch",
        str(folder / "preds.csv"),
        "--labels",
        str(folder / "labels.csv"),
        "--model-name",
        "wine",
        "--contract",
        str(multiclass_project / "data/lake/contracts/wine.yaml"),
        "--status",
        str(folder / "monitoring.json"),
        "--no-mlflow",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    status = json.loads((folder / "monitoring.json").read_text())
    assert status["status"] == "ok" and status["alerts"] == []
    mix = status["drift"]["prediction"]
    assert mix["kind"] == "class_mix" and not mix["drifted"]
    assert set(mix["batch_mix"]) == set(LABELS)
    assert sum(mix["batch_mix"].values()) == pytest.approx(1.0)
    performance = status["performance"]
    assert performance["rows_labelled"] == 178 and performance["metric"] == "roc_auc"
    assert set(performance["metrics"]) == set(MULTICLASS_METRICS)
    assert performance["metrics"]["accuracy"] > 0.9 and not performance["degraded"]

    # a batch of class_0 wines only: the class mix drifts and the monitor says so
    only = pd.read_csv(folder / "preds.csv")
    only = only[only["label"] == "class_0"]
    only.to_csv(folder / "class0.csv", index=False)
    (folder / "class0.summary.json").write_text(
        (folder / "preds.summary.json").read_text()
    )  # the same scored input: the monitor finds the features through it
    done = _lab2prod(
        multiclass_project,
        "monitor",
        "--batch",
        str(folder / "class0.csv"),
        "--model-name",
        "wine",
        "--contract",
        str(multiclass_project / "data/lake/contracts/wine.yaml"),
        "--status",
        str(folder / "class0.json"),
        "--no-mlflow",
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    alerts = json.loads((folder / "class0.json").read_text())["alerts"]
    assert any(a.startswith("prediction drift: class mix class_0 ") for a in alerts), alerts


def test_rest_serving_returns_one_probability_per_class(multiclass_project, scored):
    folder, wine = scored
    rows = wine.drop(columns=["cultivar"]).head(20)
    env = build_env(multiclass_project)  # the venv's bin first on PATH: uvicorn is found there
    request = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    with serving("models:/wine@champion", env, folder) as url:
        status, answer = _invoke(url, request)
    assert status == 200, answer
    predictions = pd.DataFrame(answer["predictions"])
    # lab2prod score's columns: the id, one probability per class in the contract's order, the label
    expected = pd.read_csv(folder / "preds.csv").head(20)
    assert list(predictions.columns) == ["id", *PROBABILITIES, "label"]
    assert predictions["id"].astype(str).tolist() == expected["id"].astype(str).tolist()
    assert predictions["label"].tolist() == expected["label"].tolist()
    np.testing.assert_allclose(
        predictions[PROBABILITIES], expected[PROBABILITIES], rtol=1e-9, atol=1e-12
    )

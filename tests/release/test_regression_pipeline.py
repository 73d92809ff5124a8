"""Regression end to end on a real dataset shipped inside a PyPI wheel (scikit-learn's diabetes data).

The whole pipeline (ingest .. report, with a grid of two families) is built once in a
temporary project: it must release a regression model through the gate and render the
reports with the regression plots. (One build: the suite allows one extra build.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lab2prod.release.repro import build, copy_project

PROJECT = Path(__file__).resolve().parents[2]

CONTRACT = {
    "dataset": "diabetes", "task": "regression", "id_column": "patient",
    "target": {"name": "progression"}, "max_quarantine_fraction": 0.05,
    "columns": {
        "patient": {"type": "string", "nullable": False},
        "age": {"type": "int", "nullable": False, "min": 0, "max": 120},
        "sex": {"type": "category", "nullable": False, "categories": ["1", "2"]},
        **{c: {"type": "float", "nullable": False} for c in ("bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")},
        "progression": {"type": "float", "nullable": False, "min": 0},
    },
}


def _diabetes_project(dest: Path) -> Path:
    from sklearn.datasets import load_diabetes

    copy_project(PROJECT, dest)
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    frame = frame.assign(age=frame["age"].astype(int), sex=frame["sex"].astype(int).astype(str))
    frame.insert(0, "patient", [f"p{i:04d}" for i in range(len(frame))])
    sources = dest / "data/sources/diabetes"
    sources.mkdir(parents=True)
    frame.to_csv(sources / "diabetes.csv", index=False)
    (sources / "catalog.yaml").write_text(yaml.safe_dump(
        {"sources": [{"name": "diabetes", "format": "csv", "path": "diabetes.csv"}]}))
    (dest / "data/contracts/diabetes.yaml").write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    env = yaml.safe_load((PROJECT / "env.test.yaml").read_text())
    env.update(dataset="diabetes", data="data/sources/diabetes/catalog.yaml",
               contract="data/contracts/diabetes.yaml", experiment="diabetes", model_name="diabetes-progression",
               sample_rows=0, seed=7, select_metric="rmse", gate_metric="rmse", gate_floors={"r2": 0.2},
               slice_columns=["sex"], bootstrap_rounds=50, importance_repeats=2,
               grid=[{"family": ["ridge"], "model_params": [{"alpha": 1.0}]},
                     {"family": ["hist_gradient_boosting"], "model_params": [{"max_depth": 3, "max_iter": 50}]}])
    (dest / "env.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    return dest


@pytest.mark.integration
def test_regression_pipeline_end_to_end(tmp_path):
    project = _diabetes_project(tmp_path / "project")
    build(project)  # `ploomber build` in a subprocess, MLflow store inside the project
    chosen = json.loads((project / "products/select.json").read_text())
    assert {c["family"] for c in chosen["grid"]} == {"ridge", "hist_gradient_boosting"}
    evaluated = json.loads((project / "products/evaluate.json").read_text())
    assert set(evaluated["test_metrics"]) == {"rmse", "mae", "r2"}
    rmse = evaluated["intervals"]["rmse"]
    assert rmse["low"] <= rmse["value"] <= rmse["high"] and 30 < rmse["value"] < 80
    assert {s["value"] for s in evaluated["slices"]} == {"1", "2"}
    assert {"figures/predicted_vs_actual.png", "figures/residuals.png", "figures/importance.png"} <= set(evaluated["figures"])
    released = json.loads((project / "products/register.json").read_text())
    assert released["promoted"] and released["decision"]["gate.metric"] == "rmse"
    assert released["infra"]["infra.ok"] == "true"
    card = (project / "reports/model_card.html").read_text()
    assert "regression of <code>progression</code>" in card and "diabetes-progression version 1" in card
    assert (project / "reports/index.html").exists() and (project / "reports/figures/residuals.png").exists()

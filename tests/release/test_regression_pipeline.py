"""Regression end to end: the release half of the session's bring-your-own-data build (tests/conftest.py).

`byod_project` builds the whole pipeline (ingest .. report, a grid of two families) on the dated
`economics` table as a regression: it must release a regression model through the gate (a regression
floor included) and render the reports with the regression plots. The data half of the same build is
checked in tests/data/test_pipeline_data.py. (One build shared: the suite allows one extra build.)
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_regression_pipeline_end_to_end(byod_project):
    project = byod_project
    chosen = json.loads((project / "products/select.json").read_text())
    assert {c["family"] for c in chosen["grid"]} == {"linear", "hist_gradient_boosting"}
    assert all(set(c) >= {"rmse", "mae", "r2"} and "roc_auc" not in c for c in chosen["grid"])
    evaluated = json.loads((project / "products/evaluate.json").read_text())
    assert set(evaluated["test_metrics"]) == {"rmse", "mae", "r2"}
    rmse = evaluated["intervals"]["rmse"]
    # psavert is a savings rate in percent (about 2 to 17): an error of a few points, not of tens
    assert rmse["low"] <= rmse["value"] <= rmse["high"] and 0.1 < rmse["value"] < 10
    assert (
        evaluated["bootstrap_rounds"] == 50 and evaluated["slices"] == []
    )  # no categorical column to slice on
    # permutation importance over the model's inputs: the date counts as its numeric parts
    assert {"date__year", "date__month"} <= {row["feature"] for row in evaluated["importance"]}
    assert {
        "figures/predicted_vs_actual.png",
        "figures/residuals.png",
        "figures/importance.png",
    } <= set(evaluated["figures"])
    released = json.loads((project / "products/register.json").read_text())
    assert released["promoted"] and released["decision"]["gate.metric"] == "r2"
    assert (
        released["decision"]["gate.floor.mae"] == "10.0"
    )  # the regression floor applied (and was met)
    assert released["infra"]["infra.ok"] == "true"
    card = (project / "reports/model_card.html").read_text()
    assert "regression of <code>psavert</code>" in card and "economics version 1" in card
    assert (project / "reports/index.html").exists() and (
        project / "reports/figures/residuals.png"
    ).exists()

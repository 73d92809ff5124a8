"""Holdout evidence: seeded bootstrap intervals, slices, permutation importance, plots of both tasks."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from lab2prod.release.evaluate import (
    bootstrap_intervals,
    evaluation_plots,
    importance_plot,
    importance_table,
    slice_metrics,
)


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    proba = np.clip(0.3 * y + rng.uniform(0, 0.7, size=300), 0, 1)
    return y, proba


def test_bootstrap_intervals_hold_the_point_estimate_and_repeat_with_the_seed(scored):
    y, proba = scored
    a = bootstrap_intervals(y, proba, "classification", rounds=20, seed=1)
    assert a == bootstrap_intervals(y, proba, "classification", rounds=20, seed=1)
    assert a != bootstrap_intervals(y, proba, "classification", rounds=20, seed=2)
    for name in ("roc_auc", "pr_auc", "log_loss", "brier", "f1"):
        assert a[name]["low"] <= a[name]["value"] <= a[name]["high"]
    assert a["roc_auc"]["high"] - a["roc_auc"]["low"] > 0.01
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_intervals(y, proba, "classification", rounds=0)


def test_regression_intervals_and_plots():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.5, size=200)
    out = bootstrap_intervals(y, pred, "regression", rounds=40, seed=0)
    assert (
        set(out) == {"rmse", "mae", "r2"}
        and 0.3 < out["rmse"]["low"] < out["rmse"]["value"] < out["rmse"]["high"] < 0.7
    )
    assert set(evaluation_plots(y, pred, "regression")) == {"predicted_vs_actual", "residuals"}
    assert set(
        evaluation_plots((pred > 0).astype(int), 1 / (1 + np.exp(-pred)), "classification")
    ) == {"roc", "pr", "calibration", "confusion"}


def test_regression_slices_get_regression_metrics():
    # (the pipeline-level regression build has no categorical column to slice on)
    rng = np.random.default_rng(2)
    y = rng.normal(size=200)
    pred = y + np.where(np.arange(200) < 100, 0.1, 2.0) * rng.normal(
        size=200
    )  # sex "2" is predicted worse
    slices = pd.DataFrame({"sex": ["1"] * 100 + ["2"] * 100})
    rows = {r["value"]: r for r in slice_metrics(slices, y, pred, "regression")}
    assert set(rows) == {"1", "2"} and rows["1"]["rows"] == rows["2"]["rows"] == 100
    assert set(rows["1"]) == {"column", "value", "rows", "rmse", "mae", "r2"}
    assert rows["1"]["rmse"] < 0.2 < 1.5 < rows["2"]["rmse"]


@pytest.mark.readiness("model 6")
def test_slices_keep_small_groups_visible_without_metrics(scored):
    y, proba = scored
    slices = pd.DataFrame({"home": ["own"] * 290 + ["rent"] * 5 + [None] * 5})
    rows = {r["value"]: r for r in slice_metrics(slices, y, proba, "classification", min_rows=10)}
    assert rows["own"]["rows"] == 290 and 0 < rows["own"]["roc_auc"] <= 1
    assert rows["rent"] == {"column": "home", "value": "rent", "rows": 5}
    assert rows["(missing)"]["rows"] == 5
    with pytest.raises(ValueError, match="slices have 3 rows but the predictions 300"):
        slice_metrics(slices.head(3), y, proba, "classification")


def test_permutation_importance_ranks_the_informative_column_first_and_is_seeded():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=300), "noise": rng.normal(size=300)})
    y = (X["signal"] > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(X, y)
    table = importance_table(model, X, y, "classification", seed=0, repeats=3)
    assert [r["feature"] for r in table] == ["signal", "noise"] and table[0]["importance"] > 0.1
    assert table == importance_table(model, X, y, "classification", seed=0, repeats=3)
    reg = LinearRegression().fit(X, X["signal"] * 3)
    assert (
        importance_table(reg, X, (X["signal"] * 3).to_numpy(), "regression", seed=0, repeats=2)[0][
            "feature"
        ]
        == "signal"
    )
    assert importance_plot(table).axes[0].get_title() == "Permutation importance (test)"


def test_the_classification_plots_name_the_classes():
    rng = np.random.default_rng(3)
    pred = rng.normal(size=200)
    figures = evaluation_plots(
        (pred > 0).astype(int), 1 / (1 + np.exp(-pred)), "classification", classes=("good", "bad")
    )
    confusion = figures["confusion"].axes[0]
    assert [t.get_text() for t in confusion.get_xticklabels()] == ["good", "bad"]
    assert confusion.get_title().endswith("positive label: bad")
    assert "positive label: bad" in figures["roc"].axes[0].get_title()
    # every axis says labels, never codes: scikit-learn's own text would read "(Positive label: 1)"
    axes = [
        text
        for fig in figures.values()
        for ax in fig.axes
        for text in (ax.get_xlabel(), ax.get_ylabel())
    ]
    assert not [t for t in axes if "label: 1" in t or "label: True" in t], axes
    roc, pr = figures["roc"].axes[0], figures["pr"].axes[0]
    assert "bad" in roc.get_ylabel() and "good taken for bad" in roc.get_xlabel()
    assert "bad" in pr.get_xlabel() and "bad" in pr.get_ylabel()


def test_the_one_vs_rest_curves_keep_booleans_off_their_axes():
    rng = np.random.default_rng(4)
    proba = rng.dirichlet(np.ones(3), size=150)
    figures = evaluation_plots(
        rng.integers(0, 3, size=150), proba, "classification", classes=("a", "b", "c")
    )
    roc = figures["roc"].axes[0]
    assert "True" not in roc.get_xlabel() + roc.get_ylabel()
    legend = [t.get_text() for t in roc.get_legend().get_texts()]
    assert [t.split(" (")[0] for t in legend] == ["a vs rest", "b vs rest", "c vs rest"], legend


def test_class_names_need_two_labels_and_a_positive_one():
    from lab2prod.release.evaluate import class_names

    assert class_names(("bad", "good"), "bad") == ("good", "bad")
    assert class_names(("a", "b", "c"), "a") is None
    assert class_names(("bad", "good"), "ugly") is None


@pytest.fixture
def wine_scored():
    """A multiclass model of scikit-learn's bundled wine table: test codes and (n, 3) probabilities."""
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True, as_frame=True)
    # scaled first: on the raw measurements lbfgs needs thousands of iterations
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x.iloc[::2], y.iloc[::2])
    return model, x.iloc[1::2], y.iloc[1::2].to_numpy(), model.predict_proba(x.iloc[1::2])


def test_multiclass_intervals_slices_importance_and_plots(wine_scored):
    model, x, y, proba = wine_scored
    intervals = bootstrap_intervals(y, proba, "classification", rounds=30, seed=1)
    assert set(intervals) == {"roc_auc", "log_loss", "brier", "f1_macro", "accuracy"}
    for value in intervals.values():
        assert value["low"] <= value["value"] <= value["high"]
    # a slice missing a class keeps its size but gets no metrics
    group = np.where(y == 2, "only-2", np.where(np.arange(len(y)) % 2, "a", "b"))
    rows = {
        r["value"]: r for r in slice_metrics(pd.DataFrame({"g": group}), y, proba, "classification")
    }
    assert "roc_auc" not in rows["only-2"] and rows["only-2"]["rows"] == int((y == 2).sum())
    table = importance_table(model, x, y, "classification", repeats=1)
    assert table[0]["importance"] > 0 and len(table) == x.shape[1]
    figures = evaluation_plots(
        y, proba, "classification", classes=["barolo", "grignolino", "barbera"]
    )
    assert set(figures) == {"roc", "confusion"}
    ticks = [t.get_text() for t in figures["confusion"].axes[0].get_xticklabels()]
    assert ticks == ["barolo", "grignolino", "barbera"]
    with pytest.raises(ValueError, match="2 class names for 3 probability columns"):
        evaluation_plots(y, proba, "classification", classes=["a", "b"])

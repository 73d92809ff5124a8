"""The metrics by name: which kind of model reports each, which way each is better, each task's default.

Names and directions only, no computation: choosing a grid cell, gating a challenger and reading
a run's metrics import this module, not scikit-learn (`modeling.metrics` computes them).
"""

from __future__ import annotations

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "f1": True,
    "f1_macro": True,
    "accuracy": True,
    "rmse": False,
    "mae": False,
    "r2": True,
    "value": True,  # per 1,000 cases in the business unit (modeling.business), when declared
}


# which metrics each kind of model reports: a floor or a metric of another kind does not apply
BINARY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "f1", "accuracy")
MULTICLASS_METRICS = ("roc_auc", "log_loss", "brier", "f1_macro", "accuracy")
REGRESSION_METRICS = ("rmse", "mae", "r2")


def metrics_kind(metrics: dict[str, float]) -> str:
    """Return which kind of model reported `metrics`: 'binary', 'multiclass' or 'regression'."""
    if "f1_macro" in metrics:
        return "multiclass"
    if set(metrics) & set(REGRESSION_METRICS):
        return "regression"
    return "binary"


def kind_metrics(kind: str) -> tuple[str, ...]:
    """Return the names of the metrics a model of `kind` ('binary', 'multiclass', 'regression') reports."""
    known = {
        "binary": BINARY_METRICS,
        "multiclass": MULTICLASS_METRICS,
        "regression": REGRESSION_METRICS,
    }
    if kind not in known:
        raise KeyError(f"unknown kind of model {kind!r}: use {', '.join(known)}")
    return known[kind]


DEFAULT_METRIC = {"classification": "roc_auc", "regression": "rmse"}


def default_metric(task: str) -> str:
    """Return the metric that ranks models of `task` when none is configured (ROC AUC, or RMSE)."""
    if task not in DEFAULT_METRIC:
        raise KeyError(f"unknown task {task!r}: use classification or regression")
    return DEFAULT_METRIC[task]


def is_better(metric: str, new: float, old: float) -> bool:
    """Return True when `new` beats `old` on `metric` (direction known per metric)."""
    if metric not in HIGHER_IS_BETTER:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    return new > old if HIGHER_IS_BETTER[metric] else new < old

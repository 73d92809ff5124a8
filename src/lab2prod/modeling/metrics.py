"""Metrics that fit the task: classification from probabilities, regression from predictions."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "f1": True,
    "accuracy": True,
    "rmse": False,
    "mae": False,
    "r2": True,
}


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Return ROC AUC, PR AUC, log loss, Brier score, and F1 and accuracy at `threshold`, for 0/1 labels."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype="float64")
    if len(np.unique(y_true)) < 2:
        raise ValueError(
            "metrics need both classes in y_true; the evaluation set has one class only"
        )
    label = (proba >= threshold).astype(int)
    return {
        "roc_auc": float(skm.roc_auc_score(y_true, proba)),
        "pr_auc": float(skm.average_precision_score(y_true, proba)),
        "log_loss": float(skm.log_loss(y_true, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y_true, proba)),
        "f1": float(skm.f1_score(y_true, label, zero_division=0)),
        "accuracy": float(skm.accuracy_score(y_true, label)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Return RMSE, MAE and R² of predictions."""
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    if len(y_true) < 2:
        raise ValueError("metrics need at least two rows")
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


def task_metrics(
    y_true: np.ndarray, prediction: np.ndarray, task: str, threshold: float = 0.5
) -> dict[str, float]:
    """Return the task's metrics of predictions (probabilities of the positive class for classification)."""
    if task == "classification":
        return classification_metrics(y_true, prediction, threshold)
    if task == "regression":
        return regression_metrics(y_true, prediction)
    raise ValueError(f"unknown task {task!r}: use 'classification' or 'regression'")


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

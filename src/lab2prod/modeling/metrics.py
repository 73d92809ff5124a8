"""Metrics that fit the task: classification from probabilities, regression from predictions.

Binary classification scores a 1-D array of positive-class probabilities against
0/1 labels; multiclass scores an (n, k) matrix of class probabilities against
class codes 0..k-1 (the position of each label in the contract's `labels`).
For multiclass, `roc_auc` is the one-vs-rest macro average and `brier` the
multiclass Brier score halved (0 to 1, like the binary one), so the default
selection metric and the floors of env.yaml keep their meaning.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def metrics_defined(y_true: np.ndarray, proba: np.ndarray) -> bool:
    """Return True when classification metrics are defined on these rows: every class of the model present.

    Binary needs both labels; multiclass needs each of the k classes (one-vs-rest
    ROC AUC has no value for a class without rows).
    """
    classes = np.unique(np.asarray(y_true))
    proba = np.asarray(proba)
    return len(classes) == (proba.shape[1] if proba.ndim == 2 else 2)


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Return the classification metrics of probabilities: binary at `threshold`, or multiclass (see the module).

    Binary (1-D `proba`, 0/1 labels): ROC AUC, PR AUC, log loss, Brier score, F1
    and accuracy at `threshold`. Multiclass ((n, k) `proba`, codes 0..k-1):
    one-vs-rest macro ROC AUC, log loss, Brier score, macro F1 and accuracy of
    the most probable class (`threshold` does not apply).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype="float64")
    if proba.ndim == 2:
        return _multiclass_metrics(y_true, proba)
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


def _multiclass_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    k = proba.shape[1]
    if len(y_true) != len(proba):
        raise ValueError(f"{len(y_true)} labels but {len(proba)} rows of probabilities")
    codes = set(np.unique(y_true).tolist())
    if not codes <= set(range(k)):
        raise ValueError(
            f"multiclass labels must be class codes 0..{k - 1} (one per probability column); "
            f"got {sorted(codes)[:5]}"
        )
    if len(codes) < k:
        missing = sorted(set(range(k)) - codes)
        raise ValueError(
            f"metrics need every class in y_true; the evaluation set has no row of class(es) {missing}"
        )
    labels = list(range(k))
    label = proba.argmax(axis=1)
    return {
        "roc_auc": float(
            skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
        ),
        "log_loss": float(skm.log_loss(y_true, proba, labels=labels)),
        "brier": float(skm.brier_score_loss(y_true, proba, labels=labels, scale_by_half=True)),
        "f1_macro": float(
            skm.f1_score(y_true, label, labels=labels, average="macro", zero_division=0)
        ),
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


def trivial_metrics(
    y_true: np.ndarray,
    task: str,
    classes: int = 2,
    threshold: float = 0.5,
    fitted_on: np.ndarray | None = None,
) -> dict[str, float]:
    """Return the task's metrics on `y_true` of the trivial model: the floor every model must beat.

    The trivial model is fitted on `fitted_on` (default: the same rows): its mean for regression,
    its class shares as every row's probabilities for classification (binary 0/1 labels, or codes
    0..`classes`-1).
    """
    y_true = np.asarray(y_true)
    seen = y_true if fitted_on is None or not len(fitted_on) else np.asarray(fitted_on)
    n = len(y_true)
    if task == "regression":
        return regression_metrics(
            y_true.astype("float64"), np.full(n, seen.astype("float64").mean())
        )
    if classes > 2:
        shares = np.bincount(seen.astype("int64"), minlength=classes) / len(seen)
        return classification_metrics(y_true, np.tile(shares, (n, 1)), threshold)
    return classification_metrics(y_true, np.full(n, seen.astype("float64").mean()), threshold)

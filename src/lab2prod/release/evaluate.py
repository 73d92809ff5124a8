"""Holdout evaluation: metrics and plots of a model's predictions. Pure: figures are returned, not saved."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay  # noqa: E402

from lab2prod.modeling.metrics import classification_metrics, regression_metrics  # noqa: E402


def evaluate(y_true: np.ndarray, prediction: np.ndarray, task: str, threshold: float = 0.5) -> dict[str, float]:
    """Return the task's holdout metrics (probabilities of the positive class for classification)."""
    if task == "classification":
        return classification_metrics(y_true, prediction, threshold)
    if task == "regression":
        return regression_metrics(y_true, prediction)
    raise ValueError(f"unknown task {task!r}: use 'classification' or 'regression'")


def evaluation_plots(y_true: np.ndarray, prediction: np.ndarray, task: str, threshold: float = 0.5) -> dict[str, plt.Figure]:
    """Return the task's evaluation figures by name (ROC, PR, calibration, confusion; or fit and residuals)."""
    figures: dict[str, plt.Figure] = {}
    if task == "classification":
        fig, ax = plt.subplots(figsize=(4.5, 4))
        RocCurveDisplay.from_predictions(y_true, prediction, ax=ax, name="model")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        ax.set_title("ROC curve (test)")
        figures["roc"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        PrecisionRecallDisplay.from_predictions(y_true, prediction, ax=ax, name="model")
        ax.set_title("Precision-recall (test)")
        figures["pr"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        frac, mean = calibration_curve(y_true, prediction, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", label="model")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
        ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Calibration (test)")
        ax.legend()
        figures["calibration"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ConfusionMatrixDisplay.from_predictions(y_true, (np.asarray(prediction) >= threshold).astype(int), ax=ax, colorbar=False)
        ax.set_title(f"Confusion at threshold {threshold}")
        figures["confusion"] = fig
    else:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(y_true, prediction, s=6, alpha=0.5)
        lo, hi = float(np.min(y_true)), float(np.max(y_true))
        ax.plot([lo, hi], [lo, hi], ls="--", c="grey", lw=1)
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
        figures["predicted_vs_actual"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(prediction, np.asarray(y_true) - np.asarray(prediction), s=6, alpha=0.5)
        ax.axhline(0, ls="--", c="grey", lw=1)
        ax.set(xlabel="predicted", ylabel="residual", title="Residuals (test)")
        figures["residuals"] = fig
    for fig in figures.values():
        fig.tight_layout()
    return figures

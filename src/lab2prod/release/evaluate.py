"""Holdout evaluation: metrics and plots of a model's predictions. Pure: figures are returned, not saved."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

# the one dispatch of metrics by task lives in modeling (pure); the notebooks call it `evaluate`
from lab2prod.modeling.metrics import metrics_defined
from lab2prod.modeling.metrics import task_metrics as evaluate


def class_names(labels: tuple[str, ...] | None, positive: str | None) -> tuple[str, str] | None:
    """Return (negative, positive) class names of a binary target, or None when they are not two."""
    if not labels or positive is None or len(labels) != 2 or positive not in labels:
        return None
    return (next(label for label in labels if label != positive), positive)


def evaluation_plots(
    y_true: np.ndarray,
    prediction: np.ndarray,
    task: str,
    threshold: float = 0.5,
    classes: Sequence[str] | None = None,
) -> dict[str, plt.Figure]:
    """Return the task's evaluation figures by name (ROC, PR, calibration, confusion; or fit and residuals).

    `classes` names the classes: binary (negative, positive), the labels `y_true`'s 0 and 1 stand
    for; multiclass ((n, k) probabilities) the k labels of codes 0..k-1, for one-vs-rest ROC
    curves per class and the confusion matrix of the most probable class.
    """
    figures: dict[str, plt.Figure] = {}
    prediction = np.asarray(prediction)
    if task == "classification" and prediction.ndim == 2:
        figures.update(_multiclass_plots(np.asarray(y_true), prediction, classes))
    elif task == "classification":
        negative, positive = classes or ("0", "1")
        about = f"\npositive label: {positive}"
        fig, ax = plt.subplots(figsize=(4.5, 4))
        RocCurveDisplay.from_predictions(y_true, prediction, ax=ax, name="model")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        # scikit-learn's axis text names the code ("Positive label: 1"): the label says what it is
        ax.set(
            title="ROC curve (test)" + about,
            xlabel=f"false positive rate ({negative} taken for {positive})",
            ylabel=f"true positive rate ({positive} found)",
        )
        figures["roc"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        PrecisionRecallDisplay.from_predictions(y_true, prediction, ax=ax, name="model")
        ax.set(
            title="Precision-recall (test)" + about,
            xlabel=f"recall (share of {positive} found)",
            ylabel=f"precision (share of predicted {positive} right)",
        )
        figures["pr"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        frac, mean = calibration_curve(y_true, prediction, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", label="model")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
        ax.set(
            xlabel=f"predicted probability of {positive}",
            ylabel=f"observed share of {positive}",
            title="Calibration (test)" + about,
        )
        ax.legend()
        figures["calibration"] = fig
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ConfusionMatrixDisplay.from_predictions(
            y_true,
            (np.asarray(prediction) >= threshold).astype(int),
            labels=[0, 1],
            display_labels=[negative, positive],
            ax=ax,
            colorbar=False,
        )
        ax.set_title(f"Confusion at threshold {threshold:g}" + about)
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


def _multiclass_plots(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str] | None
) -> dict[str, plt.Figure]:
    k = proba.shape[1]
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} probability columns")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for code, name in enumerate(names):
        if 0 < (y_true == code).sum() < len(y_true):
            RocCurveDisplay.from_predictions(
                y_true == code, proba[:, code], ax=ax, name=f"{name} vs rest"
            )
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    # each curve's class is in its legend; scikit-learn's axis text would say "Positive label: True"
    ax.set(
        title="ROC curves, one vs rest (test)",
        xlabel="false positive rate (other classes taken for the class)",
        ylabel="true positive rate (the class found)",
    )
    figures = {"roc": fig}
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        proba.argmax(axis=1),
        labels=list(range(k)),
        display_labels=names,
        ax=ax,
        colorbar=False,
    )
    ax.set_title("Confusion (most probable class)")
    figures["confusion"] = fig
    return figures


def bootstrap_intervals(
    y_true: np.ndarray,
    prediction: np.ndarray,
    task: str,
    threshold: float = 0.5,
    rounds: int = 200,
    seed: int | None = 42,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Return {metric: {'value', 'low', 'high'}}: the holdout metric and its percentile bootstrap interval.

    Rows are resampled with replacement `rounds` times from a generator seeded
    with `seed`; resamples that miss a class are skipped (a classifier's AUC is
    undefined there). The same inputs and seed give the same intervals.
    """
    if rounds < 1:
        raise ValueError(f"bootstrap rounds must be at least 1, got {rounds}")
    y_true, prediction = np.asarray(y_true), np.asarray(prediction)
    point = evaluate(y_true, prediction, task, threshold)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in point}
    n = len(y_true)
    # the resamples are rows of the arrays just measured: scikit-learn's checks of each metric's
    # arguments, a large part of the loop's time, would only repeat the point estimate's checks
    with sklearn.config_context(skip_parameter_validation=True):
        for _ in range(rounds):
            idx = rng.integers(0, n, size=n)
            if task == "classification" and not metrics_defined(y_true[idx], prediction[idx]):
                continue
            for k, v in evaluate(y_true[idx], prediction[idx], task, threshold).items():
                samples[k].append(v)
    alpha = (1 - level) / 2
    out = {}
    for k, value in point.items():
        values = np.asarray(samples[k])
        low, high = np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan)
        out[k] = {"value": float(value), "low": float(low), "high": float(high)}
    return out


def slice_metrics(
    slices: pd.DataFrame,
    y_true: np.ndarray,
    prediction: np.ndarray,
    task: str,
    threshold: float = 0.5,
    min_rows: int = 10,
) -> list[dict]:
    """Return one row per (column, value) of `slices`: its size and the task's metrics on those rows.

    Missing values form their own slice '(missing)'. A slice smaller than
    `min_rows`, or missing a class, keeps its size but gets no metrics
    (they would mean nothing), so small groups are visible rather than hidden.
    """

    y_true, prediction = np.asarray(y_true), np.asarray(prediction)
    if len(slices) != len(y_true):
        raise ValueError(f"slices have {len(slices)} rows but the predictions {len(y_true)}")
    rows = []
    for column in slices.columns:
        values = (
            slices[column]
            .astype(object)
            .where(slices[column].notna(), "(missing)")
            .astype(str)
            .to_numpy()
        )
        for value in sorted(set(values)):
            mask = values == value
            row: dict = {"column": column, "value": value, "rows": int(mask.sum())}
            if mask.sum() >= min_rows and (
                task != "classification" or metrics_defined(y_true[mask], prediction[mask])
            ):
                row.update(evaluate(y_true[mask], prediction[mask], task, threshold))
            rows.append(row)
    return rows


def importance_table(
    model,
    features: pd.DataFrame,
    y_true: np.ndarray,
    task: str,
    seed: int | None = 42,
    repeats: int = 5,
) -> list[dict]:
    """Return permutation importances of the model's input columns, largest first (seeded).

    Scored by ROC AUC for classification (one-vs-rest macro for three or more
    classes) and by negative RMSE for regression: the drop of the score when one
    column's values are shuffled.
    """

    scoring = "neg_root_mean_squared_error"
    if task == "classification":
        scoring = "roc_auc_ovr" if len(getattr(model, "classes_", ())) > 2 else "roc_auc"
    result = permutation_importance(
        model, features, y_true, scoring=scoring, n_repeats=repeats, random_state=seed, n_jobs=1
    )
    table = [
        {"feature": name, "importance": float(mean), "std": float(std)}
        for name, mean, std in zip(
            features.columns, result.importances_mean, result.importances_std
        )
    ]
    return sorted(table, key=lambda r: r["importance"], reverse=True)


def importance_plot(table: list[dict], top: int = 15) -> plt.Figure:
    """Return a horizontal bar chart of the `top` permutation importances."""
    rows = table[:top][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(rows) + 1.2))
    ax.barh(
        [r["feature"] for r in rows],
        [r["importance"] for r in rows],
        xerr=[r["std"] for r in rows],
        color="#4c72b0",
    )
    ax.set(xlabel="drop of the score when shuffled", title="Permutation importance (test)")
    fig.tight_layout()
    return fig

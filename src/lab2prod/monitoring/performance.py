"""Delayed labels: join outcomes that arrive later with a scored batch, and measure the model that scored it.

A scored batch holds one row per case: the id column of the contract, the
prediction (``probability`` of the positive label for classification,
``prediction`` for regression) and lineage (``model_name``, ``model_version``,
``run_id``). A labels file holds the id and the target. Pure but for
`holdout_metrics`, which reads the training run's ``test_*`` metrics from MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from lab2prod.data.contract import Contract
from lab2prod.errors import MonitoringError
from lab2prod.modeling.features import target_vector
from lab2prod.modeling.metric_names import HIGHER_IS_BETTER
from lab2prod.modeling.metrics import (
    classification_metrics,
    metrics_defined,
    regression_metrics,
)

# Accepted names of the prediction and lineage columns of a scored batch, first match wins.
PROBABILITY_COLUMNS = ("probability", "proba", "score")
VALUE_COLUMNS = ("prediction", "value")
LINEAGE_COLUMNS = {
    "model_name": ("model_name", "model"),
    "model_version": ("model_version", "version"),
    "run_id": ("run_id", "model_run_id"),
}
# Every column scoring may add to a case: not features, so never schema drift.
SCORED_COLUMNS = frozenset(
    (*PROBABILITY_COLUMNS, *VALUE_COLUMNS, "label", *sum(LINEAGE_COLUMNS.values(), ()))
) | {"input_sha256", "scored_at", "model_uri"}


@dataclass(frozen=True)
class Performance:
    """Realized metrics of one labelled batch against the model's holdout metrics."""

    rows_labelled: int
    rows_unmatched: int
    metrics: dict[str, float]
    holdout: dict[str, float]
    metric: str
    tolerance: float
    # the most favourable value the realized metric plausibly has: the one-sided 95% bootstrap bound
    # on the better side (None: not measured, the point value is used)
    favourable: float | None = None

    @property
    def realized(self) -> float:
        """Return the realized value of the monitored metric."""
        return self.metrics[self.metric]

    @property
    def reference(self) -> float | None:
        """Return the holdout value of the monitored metric, or None when it is unknown."""
        return self.holdout.get(self.metric)

    @property
    def degraded(self) -> bool:
        """Return True when the realized metric is worse than the holdout one by more than the tolerance.

        Judged on the favourable end of the realized metric's 95% bootstrap bound, not on its point
        value: 500 labelled rows measure a ROC AUC to about +-0.02, so a point value alone falls
        below holdout minus the tolerance in many batches drawn from the training distribution
        (`benchmarks/monitor_alarms.py` counts them). The bound keeps that chance near 5% at most
        and still flags a drop the batch's own rows make certain.
        """
        if self.reference is None:
            return False
        value = self.realized if self.favourable is None else self.favourable
        sign = 1 if HIGHER_IS_BETTER[self.metric] else -1
        return sign * (value - self.reference) < -self.tolerance

    def summary(self) -> dict[str, Any]:
        """Return the numbers as a JSON-ready mapping."""
        return {
            "rows_labelled": self.rows_labelled,
            "rows_unmatched": self.rows_unmatched,
            "metric": self.metric,
            "realized": self.realized,
            "holdout": self.reference,
            "tolerance": self.tolerance,
            "favourable": self.favourable,
            "degraded": self.degraded,
            "metrics": self.metrics,
        }


def find_column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """Return the first of `names` that is a column of `frame`, or None."""
    return next((n for n in names if n in frame.columns), None)


def prediction_column(frame: pd.DataFrame, task: str) -> str | None:
    """Return the batch's prediction column for `task` (probability or value), or None when it has none."""
    return find_column(frame, PROBABILITY_COLUMNS if task == "classification" else VALUE_COLUMNS)


def lineage(frame: pd.DataFrame) -> dict[str, str]:
    """Return the model lineage (model_name, model_version, run_id) carried by a scored batch, where present.

    A batch scored by several models is refused: monitor each model's rows apart.
    """
    found = {}
    for key, names in LINEAGE_COLUMNS.items():
        column = find_column(frame, names)
        if column is None:
            continue
        values = frame[column].dropna().astype(str).unique()
        if len(values) > 1:
            raise MonitoringError(
                f"column {column!r} holds {len(values)} different values ({', '.join(values[:3])}...): "
                "a batch must be scored by one model; split it by model first"
            )
        if len(values):
            found[key] = (
                str(values[0]).removesuffix(".0") if key == "model_version" else str(values[0])
            )
    return found


def join_labels(
    scored: pd.DataFrame, labels: pd.DataFrame, contract: Contract, origin: str = "labels"
) -> tuple[pd.DataFrame, int]:
    """Return (the scored rows that have a label, with the target column; the number of labels matching no row)."""
    key, target = contract.id_column, contract.target
    if not key:
        raise MonitoringError(
            f"contract {contract.origin} declares no id_column: delayed labels need one to join"
        )
    for frame, name in ((scored, "the scored batch"), (labels, origin)):
        if key not in frame.columns:
            raise MonitoringError(
                f"{name} has no id column {key!r}; columns are {', '.join(map(str, frame.columns))}"
            )
    if target not in labels.columns:
        raise MonitoringError(f"{origin} has no target column {target!r}; add it (one row per id)")
    labels = labels[[key, target]].dropna(subset=[target])
    labels = labels.assign(**{key: labels[key].astype(str)})
    dup = labels[key].duplicated()
    if dup.any():
        raise MonitoringError(
            f"{origin}: id {labels[key][dup].iloc[0]!r} has more than one label; keep one row per id"
        )
    if contract.task == "classification" and contract.labels:
        bad = ~labels[target].astype(str).isin(contract.labels)
        if bad.any():
            raise MonitoringError(
                f"{origin}: id {labels[key][bad].iloc[0]!r} has label {labels[target][bad].iloc[0]!r}; "
                f"expected one of {', '.join(contract.labels)}"
            )
    left = scored.drop(columns=[target], errors="ignore")
    left = left.assign(**{key: left[key].astype(str)})
    joined = left.merge(labels, on=key, how="inner", validate="many_to_one")
    if joined.empty:
        raise MonitoringError(
            f"{origin}: none of its {len(labels)} ids is in the scored batch; is it the right batch?"
        )
    unmatched = int(len(labels) - labels[key].isin(left[key]).sum())
    return joined, unmatched


def realized_performance(
    joined: pd.DataFrame,
    contract: Contract,
    prediction: str | list[str],
    holdout: dict[str, float],
    metric: str = "roc_auc",
    threshold: float = 0.5,
    tolerance: float = 0.05,
    unmatched: int = 0,
) -> Performance:
    """Return the metrics of the `prediction` column against the joined labels, beside the holdout metrics.

    For multiclass `prediction` lists the class probability columns, in the
    order of the contract's labels.
    """
    if metric not in HIGHER_IS_BETTER:
        raise MonitoringError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    y = target_vector(joined, contract)
    scores = joined[prediction].to_numpy(dtype="float64")
    try:
        metrics = (
            classification_metrics(y, scores, threshold)
            if contract.task == "classification"
            else regression_metrics(y, scores)
        )
    except ValueError as exc:
        raise MonitoringError(
            f"cannot measure the batch's {len(joined)} labelled rows: {exc}"
        ) from None
    if metric not in metrics:
        raise MonitoringError(
            f"metric {metric!r} does not fit task {contract.task}; use one of {', '.join(metrics)}"
        )
    return Performance(
        rows_labelled=len(joined),
        rows_unmatched=unmatched,
        metrics=metrics,
        holdout={k: float(v) for k, v in holdout.items()},
        metric=metric,
        tolerance=tolerance,
        favourable=favourable_bound(y, scores, contract.task, metric, threshold),
    )


def _roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    # the Mann-Whitney form (ties count half): sklearn's value, several times faster for 200 resamples

    positive = y == 1
    n1 = int(positive.sum())
    n0 = len(y) - n1
    return float((rankdata(scores)[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _multiclass_roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    # one-vs-rest macro ROC AUC (sklearn's multi_class="ovr", average="macro"): the mean of each
    # class's AUC against the rest, each in the Mann-Whitney form
    return float(
        np.mean([_roc_auc((y == c).astype(int), scores[:, c]) for c in range(scores.shape[1])])
    )


_FAST_METRICS = {
    "roc_auc": _roc_auc,
    "rmse": lambda y, p: float(np.sqrt(np.mean((y - p) ** 2))),
    "mae": lambda y, p: float(np.mean(np.abs(y - p))),
}
_FAST_MULTICLASS = {"roc_auc": _multiclass_roc_auc}  # the others: the full multiclass metrics


def favourable_bound(
    y: np.ndarray,
    scores: np.ndarray,
    task: str,
    metric: str,
    threshold: float = 0.5,
    rounds: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> float | None:
    """Return the one-sided `level` bootstrap bound of `metric` on its better side (None when it cannot be had).

    Rows are resampled with replacement `rounds` times (seeded: the same batch gives the same bound);
    resamples missing a class are skipped, where a classifier's ROC AUC is undefined.
    """
    y, scores = np.asarray(y), np.asarray(scores, dtype="float64")
    fast = (_FAST_METRICS if scores.ndim == 1 else _FAST_MULTICLASS).get(metric)
    measure = fast or (
        (lambda a, b: classification_metrics(a, b, threshold)[metric])
        if task == "classification"
        else (lambda a, b: regression_metrics(a, b)[metric])
    )
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), size=len(y))
        if task == "classification" and not metrics_defined(y[idx], scores[idx]):
            continue
        values.append(measure(y[idx], scores[idx]))
    values = np.asarray(values, dtype="float64")
    values = values[~np.isnan(values)]
    if len(values) < rounds // 2:
        return None
    return float(np.quantile(values, level if HIGHER_IS_BETTER[metric] else 1 - level))


def holdout_metrics(run_id: str | None) -> dict[str, float]:
    """Return the holdout (``test_*``) metrics of a training run, without the prefix; empty when unknown."""
    if not run_id:
        return {}
    from lab2prod import tracking

    try:
        metrics, _, _ = tracking.run_data(run_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises several types for an unknown run
        raise MonitoringError(
            f"cannot read the training run {run_id} from the tracking store: {exc}"
        ) from None
    return {k.removeprefix("test_"): float(v) for k, v in metrics.items() if k.startswith("test_")}

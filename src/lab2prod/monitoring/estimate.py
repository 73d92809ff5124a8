"""Performance estimated before the labels come: a binary classifier's metrics from its own probabilities.

Confidence-based performance estimation (the idea of NannyML's CBPE, written here): when the
probabilities are calibrated, a case scored 0.3 is positive with chance 0.3, so the expected
confusion matrix at a threshold, the expected ROC AUC and the expected value of a batch follow
from its probabilities alone. The interval comes from labels drawn from those probabilities
(seeded): the spread a batch of this size has even when the model is exactly as good as it says.

The estimate holds under covariate shift (new kinds of cases, the same relation between features
and outcome). It cannot see concept drift (the same cases now end differently): the realized
metrics, once labels come, are the check.

Calibration is checked on the validation split (`check_calibration`); when it fails, a Platt
scaling of the log-odds fitted there is applied to every batch before estimating. Pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from sklearn.linear_model import LogisticRegression

from lab2prod.data.contract import Contract
from lab2prod.modeling.business import BusinessValue, expected_value, value_per_case
from lab2prod.modeling.features import is_multiclass, model_frame, target_vector
from lab2prod.modeling.predict import predict

ESTIMATED_METRICS = ("roc_auc", "accuracy", "f1")
MAX_DRAWS = 5_000_000  # simulated labels per estimate at most (rounds x rows), past 20 rounds


@dataclass(frozen=True)
class Calibration:
    """How well probabilities match outcome rates on the validation split, and the correction applied when they do not."""

    rows: int
    ece: float  # expected calibration error, 10 bins of equal size
    p_value: float  # Spiegelhalter's test: a small value says the probabilities are off
    needed: bool
    slope: float = 1.0  # Platt scaling of the log-odds: sigmoid(slope * logit(p) + intercept)
    intercept: float = 0.0
    ece_after: float | None = None

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Return `proba` calibrated (unchanged when no correction was needed)."""
        p = np.asarray(proba, dtype="float64")
        if not self.needed:
            return p
        return _sigmoid(self.slope * _logit(p) + self.intercept)

    def sentence(self) -> str:
        """Return what the check found, in one sentence for the model card."""
        found = f"expected calibration error {self.ece:.3f}, Spiegelhalter p = {self.p_value:.3f}"
        if not self.needed:
            return (
                f"Probabilities are calibrated on the validation split ({self.rows} rows; {found}): "
                "performance estimates before labels use them as they are."
            )
        return (
            f"Probabilities are not calibrated on the validation split ({self.rows} rows; {found}); "
            f"performance estimates before labels recalibrate them there (Platt scaling, error after "
            f"{self.ece_after:.3f}). The model's own scores are unchanged."
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the check as a JSON-ready mapping."""
        return asdict(self)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Return the expected calibration error: the row-weighted gap between mean probability and outcome rate, in equal-size bins."""
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(proba, dtype="float64")
    order = np.argsort(p, kind="stable")
    gaps = [
        len(part) * abs(p[part].mean() - y[part].mean())
        for part in np.array_split(order, min(bins, len(p)))
        if len(part)
    ]
    return float(sum(gaps) / len(p))


def spiegelhalter_p(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Return the two-sided p-value of Spiegelhalter's calibration test (small: the probabilities are off)."""
    y = np.asarray(y_true, dtype="float64")
    p = np.clip(np.asarray(proba, dtype="float64"), 1e-9, 1 - 1e-9)
    spread = np.sum((1 - 2 * p) ** 2 * p * (1 - p))
    if spread <= 0:
        return 1.0
    z = np.sum((y - p) * (1 - 2 * p)) / np.sqrt(spread)
    return float(2 * norm.sf(abs(z)))


def check_calibration(
    y_true: np.ndarray, proba: np.ndarray, max_ece: float = 0.05, alpha: float = 0.05
) -> Calibration:
    """Return the calibration check of binary probabilities on labelled rows (the validation split).

    Recalibration is needed when Spiegelhalter's test rejects at `alpha` or the expected
    calibration error exceeds `max_ece`; it is then fitted on these rows (logistic regression of
    the outcome on the log-odds).
    """

    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype="float64")
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs both classes on the validation split")
    ece, p_value = calibration_error(y, p), spiegelhalter_p(y, p)
    if p_value >= alpha and ece <= max_ece:
        return Calibration(rows=len(y), ece=ece, p_value=p_value, needed=False)
    fit = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y)
    calibration = Calibration(
        rows=len(y),
        ece=ece,
        p_value=p_value,
        needed=True,
        slope=float(fit.coef_[0, 0]),
        intercept=float(fit.intercept_[0]),
    )
    return Calibration(
        **{**calibration.as_dict(), "ece_after": calibration_error(y, calibration.apply(p))}
    )


def expected_roc_auc(proba: np.ndarray, scores: np.ndarray | None = None) -> float:
    """Return the ROC AUC that labels drawn from calibrated `proba` lead to expect for `scores` (default: `proba`).

    The expected number of correctly ordered (positive, negative) pairs over the expected number
    of pairs; ties count half, a case never pairs with itself.
    """
    p = np.asarray(proba, dtype="float64")
    s = p if scores is None else np.asarray(scores, dtype="float64")
    values, group = np.unique(s, return_inverse=True)
    pos = np.bincount(group, weights=p, minlength=len(values))
    neg = np.bincount(group, weights=1 - p, minlength=len(values))
    below = np.cumsum(neg) - neg
    self_pairs = np.sum(p * (1 - p))
    ordered = np.sum(pos * (below + 0.5 * neg)) - 0.5 * self_pairs
    pairs = p.sum() * (1 - p).sum() - self_pairs
    return float(ordered / pairs) if pairs > 0 else float("nan")


def _confusion_metrics(y: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    # y: drawn 0/1 labels, or the calibrated probabilities for the expected counts
    tp = float(np.sum(y * positive))
    fp = float(np.sum((1 - y) * positive))
    fn = float(np.sum(y * (1 - positive)))
    n = len(positive)
    return {
        "accuracy": (n - fp - fn) / n,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0,
    }


def _auc_of(y: np.ndarray, ranks: np.ndarray) -> float:
    n1 = int(y.sum())
    n0 = len(y) - n1
    if not n1 or not n0:
        return float("nan")
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@dataclass(frozen=True)
class Estimate:
    """Metrics of a batch estimated from its probabilities: {metric: {'value', 'low', 'high'}}."""

    rows: int
    threshold: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    calibrated: bool = False  # the probabilities were recalibrated before estimating
    unit: str = ""  # of `value`, when business values are declared

    def point(self, metric: str) -> float | None:
        """Return the estimated value of `metric`, or None when it was not estimated."""
        found = self.metrics.get(metric)
        return None if found is None else found["value"]

    def summary(self) -> dict[str, Any]:
        """Return the estimate as a JSON-ready mapping."""
        return asdict(self)


def estimate_performance(
    proba: np.ndarray,
    threshold: float = 0.5,
    business: BusinessValue | None = None,
    calibration: Calibration | None = None,
    rounds: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Return ROC AUC, accuracy and F1 at `threshold`, and value when `business` is given, estimated from binary probabilities.

    `calibration` (from the validation split) corrects the probabilities first when it was needed;
    decisions stay those of the model's own scores at `threshold`. Intervals: the `level` range
    of each metric over `rounds` label sets drawn from the probabilities (seeded).
    """
    scores = np.asarray(proba, dtype="float64")
    scores = scores[~np.isnan(scores)]
    if not len(scores):
        raise ValueError("no probabilities to estimate from: the batch is empty")
    p = calibration.apply(scores) if calibration is not None else scores
    positive = (scores >= threshold).astype("float64")
    point = {"roc_auc": expected_roc_auc(p, scores)}
    point.update({k: float(v) for k, v in _confusion_metrics(p, positive).items()})
    decided_value = business is not None and business.kind == "binary"
    if decided_value:
        # value follows the decisions at `threshold`, weighted by the calibrated chances
        point["value"] = expected_value(p, positive, business)
    # one label set at a time keeps memory at one batch; big batches need fewer rounds (narrow intervals)
    rounds = max(20, min(rounds, MAX_DRAWS // len(p)))
    rng = np.random.default_rng(seed)
    ranks = rankdata(scores)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(rounds):
        y = (rng.random(len(p)) < p).astype("float64")
        samples["roc_auc"].append(_auc_of(y, ranks))
        for name, value in _confusion_metrics(y, positive).items():
            samples[name].append(float(value))
        if decided_value:
            samples["value"].append(value_per_case(y, positive, business, threshold=0.5))
    alpha = (1 - level) / 2
    metrics = {}
    for name, value in point.items():
        values = np.asarray(samples[name], dtype="float64")
        values = values[~np.isnan(values)]
        low, high = np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan)
        metrics[name] = {"value": float(value), "low": float(low), "high": float(high)}
    return Estimate(
        rows=len(scores),
        threshold=float(threshold),
        metrics=metrics,
        calibrated=bool(calibration is not None and calibration.needed),
        unit=business.unit if business is not None and "value" in metrics else "",
    )


@dataclass(frozen=True)
class EstimateBasis:
    """What the monitor estimates and values with: the business values and the validation split's calibration check."""

    business: BusinessValue | None = None
    calibration: Calibration | None = None


def estimated_drop(
    estimate: Estimate | None, holdout: dict[str, float], metric: str, tolerance: float | None
) -> str | None:
    """Return the retraining trigger when even the favourable end of the estimated `metric` is below holdout minus `tolerance`; else None.

    None as well when retraining on estimates is off (`tolerance` None), or the metric was not
    estimated or has no holdout value.
    """
    if estimate is None or tolerance is None or metric not in estimate.metrics:
        return None
    reference = holdout.get(metric)
    if reference is None:
        return None
    bounds = estimate.metrics[metric]
    if bounds["high"] >= reference - tolerance:
        return None
    return (
        f"estimated {metric} dropped (no labels yet): {bounds['value']:.4f} "
        f"[{bounds['low']:.4f}, {bounds['high']:.4f}] vs holdout {reference:.4f} "
        f"(estimated tolerance {tolerance})"
    )


def realized_value(
    joined: pd.DataFrame,
    contract: Contract,
    outputs: list[str],
    business: BusinessValue,
    threshold: float,
) -> float:
    """Return the value per 1,000 labelled cases of a joined batch (predictions in `outputs`, the target beside)."""
    scores = joined[outputs].to_numpy(dtype="float64")
    if scores.shape[1] == 1:
        scores = scores[:, 0]
    return value_per_case(
        target_vector(joined, contract), scores, business, threshold, contract.labels
    )


def calibration_on(
    model: Any, valid: pd.DataFrame | None, contract: Contract
) -> Calibration | None:
    """Return the calibration check of a binary `model` on the validation rows `valid`, or None when it cannot be had."""
    if model is None or valid is None or contract.task != "classification":
        return None
    if is_multiclass(contract) or not len(valid):
        return None
    y = target_vector(valid, contract)
    if len(np.unique(y)) < 2:
        return None
    try:
        return check_calibration(y, predict(model, model_frame(valid, contract), contract.task))
    except KeyError:  # a model of other columns than the contract's: no calibration to check
        return None


def estimate_details(estimate: Estimate | None, performance: Any) -> dict[str, Any]:
    """Return what a history row's details keep of the estimate and of realized value (none when absent)."""
    out: dict[str, Any] = {}
    if estimate is not None:
        out["estimate"] = {
            k: {end: round(v, 6) for end, v in bounds.items()}
            for k, bounds in estimate.metrics.items()
        }
        out["estimate_calibrated"] = estimate.calibrated
        out["estimate_threshold"] = estimate.threshold
        if estimate.unit:
            out["value_unit"] = estimate.unit
    if performance is not None and "value" in performance.metrics:
        out["realized_value"] = round(performance.metrics["value"], 6)
    return out


def performance_lines(estimate: Estimate | None, performance: Any) -> list[str]:
    """Return the lines `lab2prod monitor` prints: each estimated metric with its interval, the realized one beside it."""
    if estimate is None:
        return []
    realized = performance.metrics if performance is not None else {}
    lines = []
    for name, bounds in estimate.metrics.items():
        unit = f" {estimate.unit} per 1,000 cases" if name == "value" else ""
        digits = ",.0f" if name == "value" else ".4f"
        line = (
            f"{name}: estimated {bounds['value']:{digits}} "
            f"[{bounds['low']:{digits}}, {bounds['high']:{digits}}]{unit}"
        )
        if name in realized:
            line += f"; realized {realized[name]:{digits}}"
        lines.append(line)
    how = "recalibrated on validation" if estimate.calibrated else "as scored"
    labels = (
        f"labels of {performance.rows_labelled} rows"
        if performance is not None
        else "no labels yet"
    )
    lines.append(
        f"(estimated from the model's probabilities, {how}, threshold {estimate.threshold:.3g}; {labels})"
    )
    return lines

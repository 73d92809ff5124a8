"""What a model's decisions are worth: the value of each outcome, the threshold that maximises it, policies compared.

Pure: numbers in, numbers out. The `business:` section of env.yaml declares the value of each
outcome per case, in a unit the user names (`settings.business_value` parses it into a
`BusinessValue`):

* binary classification: the value of a true positive, false positive, true negative and false
  negative (a case predicted positive is one whose probability is at or above the threshold);
* multiclass: a matrix, actual label -> predicted label -> value;
* regression: the cost of one unit of error above the actual value and below it (value = -cost).

Value is reported per 1,000 cases, so figures from batches of different sizes compare.
A `Valuation` holds what the evaluate step found a model worth (`release.valuation` computes it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lab2prod.errors import ConfigError

PER = 1000  # value is reported per this many cases
OUTCOMES = ("true_positive", "false_positive", "true_negative", "false_negative")


@dataclass(frozen=True)
class BusinessValue:
    """The value of each outcome of one case, in `unit` (binary `outcomes`, multiclass `matrix`, or regression costs)."""

    unit: str
    outcomes: dict[str, float] = field(default_factory=dict)
    matrix: dict[str, dict[str, float]] = field(default_factory=dict)
    cost_above: float | None = None
    cost_below: float | None = None
    # what predicting each class means to the business (binary), e.g. {positive: refuse, negative: accept}
    actions: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def kind(self) -> str:
        """Return which kind of model the values are for: 'binary', 'multiclass' or 'regression'."""
        if self.outcomes:
            return "binary"
        if self.matrix:
            return "multiclass"
        return "regression"

    def action(self, side: str) -> str:
        """Return the business's word for predicting `side` ('positive' or 'negative')."""
        return self.actions.get(side) or f"predict {side}"

    def amount(self, value: float) -> str:
        """Return `value` written with the unit, e.g. 'EUR 12,345'."""
        return f"{self.unit} {value:,.0f}" if abs(value) >= 100 else f"{self.unit} {value:,.2f}"

    def fits(self, task: str, labels: tuple[str, ...] | None) -> bool:
        """Return True when these values fit a model of `task` with class `labels`."""
        if task == "regression":
            return self.kind == "regression"
        n = len(labels or ())
        return self.kind == ("multiclass" if n > 2 else "binary")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"business.{where} must be a number, got {value!r}: fix env.yaml")
    return float(value)


def business_from_dict(
    data: dict[str, Any] | None, where: str = "env.yaml"
) -> BusinessValue | None:
    """Return the `business:` mapping as a BusinessValue, or None when it is empty or absent."""
    if not data:
        return None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: business must be a mapping (unit, outcomes | matrix | cost_above/cost_below)"
        )
    known = {"unit", "outcomes", "matrix", "cost_above", "cost_below", "actions", "source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown business key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    unit = str(data.get("unit") or "").strip()
    if not unit:
        raise ConfigError(
            f"{where}: business.unit is missing: name the unit of the values (e.g. EUR)"
        )
    given = [k for k in ("outcomes", "matrix") if data.get(k)] + (
        ["cost_above/cost_below"]
        if data.get("cost_above") is not None or data.get("cost_below") is not None
        else []
    )
    if len(given) != 1:
        raise ConfigError(
            f"{where}: business needs exactly one of outcomes (binary), matrix (multiclass) or "
            f"cost_above/cost_below (regression); got {', '.join(given) or 'none'}"
        )
    outcomes: dict[str, float] = {}
    if data.get("outcomes"):
        raw = data["outcomes"]
        missing = [k for k in OUTCOMES if k not in (raw or {})]
        extra = sorted(set(raw or {}) - set(OUTCOMES))
        if missing or extra:
            raise ConfigError(
                f"{where}: business.outcomes needs exactly {', '.join(OUTCOMES)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        outcomes = {k: _number(raw[k], f"outcomes.{k}") for k in OUTCOMES}
    matrix: dict[str, dict[str, float]] = {}
    if data.get("matrix"):
        for actual, row in data["matrix"].items():
            if not isinstance(row, dict):
                raise ConfigError(
                    f"{where}: business.matrix.{actual} must map predicted labels to values"
                )
            matrix[str(actual)] = {
                str(p): _number(v, f"matrix.{actual}.{p}") for p, v in row.items()
            }
    above = data.get("cost_above")
    below = data.get("cost_below")
    if "cost_above/cost_below" in given:
        above = _number(above if above is not None else below, "cost_above")
        below = _number(below if below is not None else above, "cost_below")
        if above < 0 or below < 0:
            raise ConfigError(
                f"{where}: business costs are amounts lost per unit of error: use numbers >= 0"
            )
    actions = {str(k): str(v) for k, v in (data.get("actions") or {}).items()}
    if set(actions) - {"positive", "negative"}:
        raise ConfigError(f"{where}: business.actions names only positive and negative")
    return BusinessValue(
        unit=unit,
        outcomes=outcomes,
        matrix=matrix,
        cost_above=above,
        cost_below=below,
        actions=actions,
        source=str(data.get("source") or ""),
    )


def value_matrix(business: BusinessValue, labels: tuple[str, ...]) -> np.ndarray:
    """Return the multiclass values as a k x k array, rows actual and columns predicted, in the order of `labels`."""
    k = len(labels)
    out = np.zeros((k, k))
    for i, actual in enumerate(labels):
        row = business.matrix.get(actual)
        if row is None:
            raise ConfigError(f"business.matrix has no row for actual label {actual!r}")
        for j, predicted in enumerate(labels):
            if predicted not in row:
                raise ConfigError(
                    f"business.matrix.{actual} has no value for predicted label {predicted!r}"
                )
            out[i, j] = row[predicted]
    return out


def case_values(
    y_true: np.ndarray,
    prediction: np.ndarray,
    business: BusinessValue,
    threshold: float = 0.5,
    labels: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Return the value of each case: binary probabilities at `threshold`, multiclass probabilities, or regression values.

    Binary: `y_true` 0/1 and the positive-class probability; multiclass: class codes and (n, k)
    probabilities (the most probable class is the decision, `labels` name the codes); regression:
    actual and predicted numbers.
    """
    y = np.asarray(y_true)
    pred = np.asarray(prediction, dtype="float64")
    if business.kind == "binary":
        if pred.ndim != 1:
            raise ConfigError(
                "business.outcomes are for a binary classifier; this model has several classes"
            )
        o = business.outcomes
        positive = pred >= threshold
        actual = y == 1
        return np.where(
            positive,
            np.where(actual, o["true_positive"], o["false_positive"]),
            np.where(actual, o["false_negative"], o["true_negative"]),
        )
    if business.kind == "multiclass":
        if pred.ndim != 2:
            raise ConfigError(
                "business.matrix is for a multiclass classifier; this model is not one"
            )
        names = labels or tuple(str(i) for i in range(pred.shape[1]))
        return value_matrix(business, tuple(names))[y.astype(int), pred.argmax(axis=1)]
    error = pred - y.astype("float64")
    return -(
        business.cost_above * np.clip(error, 0, None)
        + business.cost_below * np.clip(-error, 0, None)
    )


def value_per_case(
    y_true: np.ndarray,
    prediction: np.ndarray,
    business: BusinessValue,
    threshold: float = 0.5,
    labels: tuple[str, ...] | None = None,
) -> float:
    """Return the value per `PER` (1,000) cases of these predictions."""
    return float(np.mean(case_values(y_true, prediction, business, threshold, labels)) * PER)


def expected_value(proba: np.ndarray, positive: np.ndarray, business: BusinessValue) -> float:
    """Return the value per 1,000 cases that binary decisions `positive` (0/1) lead to expect when outcomes follow calibrated `proba`."""
    p = np.asarray(proba, dtype="float64")
    o = business.outcomes
    each = np.where(
        np.asarray(positive) >= 0.5,
        p * o["true_positive"] + (1 - p) * o["false_positive"],
        p * o["false_negative"] + (1 - p) * o["true_negative"],
    )
    return float(np.mean(each) * PER)


def best_threshold(y_true: np.ndarray, proba: np.ndarray, business: BusinessValue) -> float:
    """Return the threshold that maximises the value of binary probabilities on these rows (the validation split).

    Every cut between two distinct probabilities is tried (cases at or above the cut are positive);
    the cut is placed halfway between the neighbouring probabilities, and among equal values the
    one nearest 0.5 wins.
    """
    if business.kind != "binary":
        raise ConfigError("a value-maximising threshold needs binary business.outcomes")
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype="float64")
    if not len(p):
        raise ValueError("no rows to choose a threshold on: the validation split is empty")
    o = business.outcomes
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # value when the top j cases (by probability) are positive, for every j = 0..n
    positive_if_cut = np.where(y_sorted == 1, o["true_positive"], o["false_positive"])
    negative_if_not = np.where(y_sorted == 1, o["false_negative"], o["true_negative"])
    total = (
        np.concatenate([[0.0], np.cumsum(positive_if_cut - negative_if_not)])
        + negative_if_not.sum()
    )
    # a cut is only possible where the probability changes (ties go together)
    distinct = np.concatenate([[True], p_sorted[1:] != p_sorted[:-1], [True]])
    cuts = np.concatenate(
        [[p_sorted[0] + 1e-9], (p_sorted[:-1] + p_sorted[1:]) / 2, [p_sorted[-1] / 2]]
    )
    candidates = np.flatnonzero(distinct)
    best = total[candidates].max()
    winners = candidates[np.isclose(total[candidates], best, rtol=0, atol=1e-9 * (1 + abs(best)))]
    return float(min(cuts[winners], key=lambda c: abs(c - 0.5)))


def policy_values(
    y_true: np.ndarray,
    proba: np.ndarray,
    business: BusinessValue,
    threshold: float,
    rounds: int = 200,
    seed: int | None = 42,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Return the value per 1,000 cases of the model and the trivial policies on these rows, each with a bootstrap interval.

    Policies: the model at `threshold`, the model at 0.5, every case positive and every case
    negative (named with `business.actions`, e.g. refuse all, accept all). The same bootstrap
    resamples serve every policy, so their intervals compare.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype="float64")
    policies = {
        f"model at {threshold:.3g}": case_values(y, p, business, threshold),
        "model at 0.5": case_values(y, p, business, 0.5),
        f"{business.action('positive')} all": case_values(y, np.ones_like(p), business, 0.5),
        f"{business.action('negative')} all": case_values(y, np.zeros_like(p), business, 0.5),
    }
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(max(1, rounds), len(y)))
    alpha = (1 - level) / 2
    rows = []
    for name, each in policies.items():
        samples = each[idx].mean(axis=1) * PER
        low, high = np.quantile(samples, [alpha, 1 - alpha])
        rows.append(
            {
                "policy": name,
                "value": float(each.mean() * PER),
                "low": float(low),
                "high": float(high),
                "unit": business.unit,
            }
        )
    return rows


def value_sentence(business: BusinessValue, value: float, threshold: float | None = None) -> str:
    """Return one sentence a stakeholder reads: what the model is worth per 1,000 cases."""
    verb = "earns" if value >= 0 else "loses"
    at = ""
    if threshold is not None and business.kind == "binary":
        at = (
            f" (threshold {threshold:.2f}: {business.action('positive')} from that probability up, "
            f"{business.action('negative')} below)"
        )
    return (
        f"For every 1,000 cases the model {verb} {business.amount(abs(value))}{at}, "
        "by the values of each outcome declared in env.yaml's business section."
    )


@dataclass(frozen=True)
class Valuation:
    """The threshold and where it came from, the calibration check, and value per 1,000 test cases beside trivial policies."""

    threshold: float
    origin: str
    calibration: dict[str, Any] | None = None  # monitoring.estimate.Calibration.as_dict()
    calibration_sentence: str = ""
    policies: list[dict[str, Any]] = field(default_factory=list)
    value: float | None = None  # the model's value per 1,000 test cases at `threshold`
    unit: str = ""
    sentence: str = ""  # for a stakeholder
    thresholded: bool = True  # False: no threshold decides the label, `origin` says what does

    def as_dict(self) -> dict[str, Any]:
        """Return the valuation as a JSON-ready mapping (evaluate.json's `valuation`)."""
        return asdict(self)

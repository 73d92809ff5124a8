"""Data drift of a batch against the training reference: per feature, predictions, missing values and schema.

Pure: frames in, a `DriftReport` out; no files, no MLflow. The statistics are
scipy's (``scipy.stats.ks_2samp``, ``wasserstein_distance``,
``chi2_contingency``, ``scipy.spatial.distance.jensenshannon``); lab2prod only
chooses which test fits which contract type and how to decide.

A feature drifts when its test rejects "same distribution" (p below ``alpha``
divided by the number of features compared: a Bonferroni correction, so that
``alpha`` bounds the chance that a batch from the training distribution raises
any feature alert) *and* its effect size is large enough: with a million rows a test rejects
differences nobody cares about, so the effect size keeps alerts meaningful.

* numeric (contract ``int``/``float``): two-sample Kolmogorov-Smirnov; effect =
  Wasserstein distance divided by the reference standard deviation (a shift
  of 0.1 means a tenth of a standard deviation); PSI on reference deciles is
  reported too.
* categorical: chi-square test of homogeneity on the counts; effect =
  Jensen-Shannon distance (base 2, 0 to 1); PSI reported; categories never
  seen in the reference are listed and alert above ``new_category_share``.
* missing values: the share of empty cells moving by more than ``missing_delta``.
* what training saw: a contract's ``expect: {min, max, categories}`` (an
  inferred contract writes the observed range and categories there, never as
  hard rules) is checked here, not at scoring: the batch's rows outside it are
  scored, not quarantined, and the share of the batch's rows outside it
  (``outside_expected``, per feature) drifts the feature above
  ``outside_expected_share``. A feature whose contract says nothing of what
  training saw has no such share (NaN).
* schema: in a batch that carries features, contract features absent from it and
  columns the contract does not know (neither a feature, the target, the id nor
  a column scoring adds) are schema drift. A batch with none of the features is
  refused: it is not drift, it is the wrong file (a predictions file without its
  scored input).

The dataset drifts when the share of drifted features reaches ``drift_share``;
that, or a drop in realized performance, is what triggers retraining.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lab2prod.data.conditioning import outside_expectations
from lab2prod.data.contract import ColumnRule, Contract
from lab2prod.errors import MonitoringError
from lab2prod.modeling.features import is_multiclass
from lab2prod.modeling.predict import class_probability_columns
from lab2prod.monitoring.performance import SCORED_COLUMNS

MIN_ROWS = 30
_EPS = 1e-4

FEATURE_COLUMNS = [
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "effect_name",
    "effect",
    "psi",
    "reference_missing",
    "batch_missing",
    "new_categories",
    "new_category_share",
    "outside_expected",
    "drifted",
    "reason",
]


@dataclass(frozen=True)
class DriftThresholds:
    """The configured limits of the drift decision."""

    alpha: float = 0.01  # family-wise: a feature's test rejects when p < alpha / number of features
    numeric_effect: float = 0.1  # Wasserstein distance / reference std
    categorical_effect: float = 0.1  # Jensen-Shannon distance, base 2
    new_category_share: float = 0.01  # share of batch rows in categories the reference never had
    missing_delta: float = 0.05  # absolute change of the share of missing values
    drift_share: float = 0.25  # share of drifted features that makes the dataset drifted
    prediction_effect: float = 0.1  # Wasserstein / reference std of the predictions
    # share of batch rows outside the contract's `expect:` (what training saw) that drifts a feature;
    # a batch of training's own population lands beyond a sample's extremes in about 2/(n+1) of its
    # rows, under 1% from 200 training rows on: 2% leaves room for chance
    outside_expected_share: float = 0.02

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DriftThresholds:
        """Return thresholds from a mapping (unknown keys refused with the known ones named)."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise MonitoringError(
                f"unknown drift threshold(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**{k: float(v) for k, v in data.items()})


@dataclass
class DriftReport:
    """What one batch looks like against the reference, and the decision."""

    rows: int
    reference_rows: int
    features: pd.DataFrame
    missing_columns: list[str]
    extra_columns: list[str]
    prediction: dict[str, float] | None
    drift_share: float
    dataset_drift: bool
    alerts: list[str] = field(default_factory=list)

    @property
    def outside_expected(self) -> dict[str, float]:
        """Return, per feature with rows outside what training saw (the contract's ``expect:``), their share."""
        shares = self.features.set_index("feature")["outside_expected"]
        return {str(k): float(v) for k, v in shares.items() if v == v and v > 0}

    @property
    def drifted_features(self) -> list[str]:
        """Return the names of the drifted features, most shifted first."""
        drifted = self.features[self.features["drifted"]]
        return drifted.sort_values("effect", ascending=False, kind="mergesort")["feature"].tolist()

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers and alerts as a JSON-ready mapping."""
        return {
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "drifted_features": self.drifted_features,
            "outside_expected": self.outside_expected,
            "missing_columns": self.missing_columns,
            "extra_columns": self.extra_columns,
            "prediction": self.prediction,
            "alerts": list(self.alerts),
        }


def _numeric(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref = np.clip(ref_share, _EPS, None)
    cur = np.clip(cur_share, _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_drift(reference: np.ndarray, current: np.ndarray) -> dict[str, float]:
    """Return KS statistic and p-value, Wasserstein distance / reference std, and PSI of two numeric samples (NaN dropped)."""
    ref = reference[~np.isnan(reference)]
    cur = current[~np.isnan(current)]
    if len(ref) < 2 or len(cur) < 2:
        return {"statistic": np.nan, "p_value": np.nan, "effect": np.nan, "psi": np.nan}
    # One sort of the (large) batch serves all three measures: scipy takes its distinct values with their counts
    # for the Wasserstein distance, and the sorted array for KS; same results as on the raw rows, several times faster.
    values, counts = np.unique(cur, return_counts=True)
    ks = stats.ks_2samp(ref, np.repeat(values, counts), method="asymp")
    scale = float(np.std(ref))
    if scale == 0.0:
        scale = float(np.mean(np.abs(ref))) or 1.0
    effect = float(stats.wasserstein_distance(ref, values, None, counts)) / scale
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
    if len(edges) > 2:
        inner = edges[1:-1]
        ref_share = np.bincount(
            np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1
        ) / len(ref)
        cur_share = np.bincount(
            np.searchsorted(inner, values, side="right"), weights=counts, minlength=len(inner) + 1
        ) / len(cur)
        psi = _psi(ref_share, cur_share)
    else:
        psi = np.nan
    return {
        "statistic": float(ks.statistic),
        "p_value": float(ks.pvalue),
        "effect": effect,
        "psi": psi,
    }


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict[str, Any]:
    """Return chi-square statistic and p-value, Jensen-Shannon distance, PSI and the unseen categories of two samples."""
    ref_counts = reference.value_counts(dropna=True)
    cur_counts = current.value_counts(dropna=True)
    ref_counts.index, cur_counts.index = ref_counts.index.astype(str), cur_counts.index.astype(str)
    levels = sorted(set(ref_counts.index) | set(cur_counts.index))
    ref = ref_counts.reindex(levels, fill_value=0).to_numpy(dtype="float64")
    cur = cur_counts.reindex(levels, fill_value=0).to_numpy(dtype="float64")
    new = sorted(set(cur_counts.index) - set(ref_counts.index))
    new_share = float(cur_counts[new].sum() / cur.sum()) if new and cur.sum() else 0.0
    if ref.sum() == 0 or cur.sum() == 0:
        return {
            "statistic": np.nan,
            "p_value": np.nan,
            "effect": np.nan,
            "psi": np.nan,
            "new_categories": new,
            "new_category_share": new_share,
        }
    if len(levels) < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(np.vstack([ref, cur]))
        statistic, p_value = float(result.statistic), float(result.pvalue)
    p, q = ref / ref.sum(), cur / cur.sum()
    return {
        "statistic": statistic,
        "p_value": p_value,
        "effect": float(jensenshannon(p, q, base=2)),
        "psi": _psi(p, q),
        "new_categories": new,
        "new_category_share": new_share,
    }


def _expects(rule: ColumnRule) -> bool:
    return not (
        rule.expect_min is None and rule.expect_max is None and rule.expect_categories is None
    )


def expected_bounds(rule: ColumnRule) -> str:
    """Return what training saw of a column (its contract's ``expect:``) in words: "min 18, max 75"."""
    words = [
        f"{word} {value:g}"
        for word, value in (("min", rule.expect_min), ("max", rule.expect_max))
        if value is not None
    ]
    if rule.expect_categories is not None:
        shown = ", ".join(rule.expect_categories[:5])
        words.append(f"categories {shown}{', ...' if len(rule.expect_categories) > 5 else ''}")
    return ", ".join(words)


def outside_expected(batch: pd.DataFrame, contract: Contract) -> dict[str, float]:
    """Return, per batch column the contract has an ``expect:`` for, the share of rows outside it.

    The batch's columns are typed as the contract says (numbers, categories as text) and counted
    by the contract's own `outside_expectations`; missing values are not outside (the missing
    share is checked apart).
    """
    rules = [r for r in contract.columns if r.name in batch.columns and _expects(r)]
    if not rules or len(batch) == 0:
        return {r.name: 0.0 for r in rules}
    typed = pd.DataFrame(
        {
            r.name: batch[r.name].astype("str")
            if r.expect_categories is not None
            else pd.Series(_numeric(batch[r.name]), index=batch.index)
            for r in rules
        }
    )
    counts = outside_expectations(typed, contract)
    return {r.name: counts.get(r.name, 0) / len(batch) for r in rules}


def prediction_drift(
    reference: np.ndarray,
    current: np.ndarray,
    threshold: float | None,
    limits: DriftThresholds,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Return the drift of the model's output: of its values (KS, Wasserstein), or of the class mix (multiclass).

    1-D outputs (positive-class probabilities, regression values): KS and the
    Wasserstein distance over the reference std, and with `threshold` the
    predicted positive rates. (n, k) class probabilities: the mix of most
    probable classes, compared by chi-square and Jensen-Shannon distance like a
    categorical feature, with each class's share (`classes` names them).
    """
    reference, current = (
        np.asarray(reference, dtype="float64"),
        np.asarray(current, dtype="float64"),
    )
    if reference.ndim == 2 or current.ndim == 2:
        return _class_mix_drift(reference, current, limits, classes)
    result = numeric_drift(reference, current)
    out = {
        "ks_statistic": result["statistic"],
        "p_value": result["p_value"],
        "effect": result["effect"],
        "psi": result["psi"],
        "reference_mean": float(np.nanmean(reference)),
        "batch_mean": float(np.nanmean(current)),
    }
    if threshold is not None:
        out["reference_positive_rate"] = float(np.nanmean(reference >= threshold))
        out["positive_rate"] = float(np.nanmean(current >= threshold))
    out["drifted"] = bool(
        result["p_value"] < limits.alpha and result["effect"] >= limits.prediction_effect
    )
    return out


def _class_mix_drift(
    reference: np.ndarray,
    current: np.ndarray,
    limits: DriftThresholds,
    classes: Sequence[str] | None,
) -> dict[str, Any]:
    if reference.ndim != 2 or current.ndim != 2 or reference.shape[1] != current.shape[1]:
        raise MonitoringError(
            f"class probabilities of the reference {reference.shape} and the batch {current.shape} "
            "do not match: score both with the same model"
        )
    k = reference.shape[1]
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise MonitoringError(f"{len(names)} class names for {k} probability columns")

    def mix(proba: np.ndarray) -> pd.Series:
        rows = proba[~np.isnan(proba).any(axis=1)]
        return pd.Series(np.asarray(names, dtype=object)[rows.argmax(axis=1)], dtype=object)

    ref_mix, cur_mix = mix(reference), mix(current)
    res = categorical_drift(ref_mix, cur_mix)

    def shares(labels: pd.Series) -> dict[str, float]:
        counts = labels.value_counts()
        return {name: float(counts.get(name, 0) / max(1, len(labels))) for name in names}

    return {
        "kind": "class_mix",
        "chi2_statistic": res["statistic"],
        "p_value": res["p_value"],
        "effect": res["effect"],  # Jensen-Shannon distance of the two mixes, base 2
        "psi": res["psi"],
        "reference_mix": shares(ref_mix),
        "batch_mix": shares(cur_mix),
        "drifted": bool(
            res["p_value"] < limits.alpha and res["effect"] >= limits.categorical_effect
        ),
    }


def drift_report(
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    contract: Contract,
    thresholds: DriftThresholds | None = None,
    reference_predictions: np.ndarray | None = None,
    batch_predictions: np.ndarray | None = None,
    threshold: float | None = 0.5,
    classes: Sequence[str] | None = None,
) -> DriftReport:
    """Return the drift of `batch` against `reference` for every contract feature, its predictions, missing values and schema.

    Columns are matched by name. Predictions are compared when both arrays are
    given; `threshold` turns probabilities into a predicted positive rate (None
    for regression); (n, k) class probabilities are compared by their class mix,
    `classes` naming the columns. Neither frame is modified.
    """
    limits = thresholds or DriftThresholds()
    if len(batch) < MIN_ROWS:
        raise MonitoringError(f"the batch has {len(batch)} rows: drift needs at least {MIN_ROWS}")
    if len(reference) < MIN_ROWS:
        raise MonitoringError(
            f"the reference has {len(reference)} rows: drift needs at least {MIN_ROWS}"
        )
    features = contract.features
    absent_ref = [f for f in features if f not in reference.columns]
    if absent_ref:
        raise MonitoringError(
            f"the reference lacks feature column(s) {', '.join(absent_ref)}: "
            "use the training split of the model being monitored"
        )
    missing = [f for f in features if f not in batch.columns]
    if features and len(missing) == len(features):
        raise MonitoringError(
            f"the batch carries none of the contract's {len(features)} features "
            f"({', '.join(features[:3])}, ...): monitor the scored input, or pass its features"
        )
    known = set(features) | {contract.target, contract.id_column} | SCORED_COLUMNS
    if is_multiclass(contract):  # scoring's one probability column per class
        known |= set(class_probability_columns(contract.labels))
    extra = [c for c in batch.columns if c not in known and not str(c).startswith("_")]
    rows = []
    compared = [
        f
        for f in features
        if contract.rule(f).type in ("int", "float", "category") and f not in missing
    ]
    per_test = limits.alpha / max(1, len(compared))
    beyond = outside_expected(batch, contract)
    for name in features:
        kind = contract.rule(name).type
        if name in missing:
            rows.append(
                {
                    "feature": name,
                    "kind": kind,
                    "test": "absent",
                    "drifted": True,
                    "reason": "column missing from the batch",
                }
            )
            continue
        ref_col, cur_col = reference[name], batch[name]
        ref_missing, cur_missing = float(ref_col.isna().mean()), float(cur_col.isna().mean())
        if kind in ("int", "float"):
            res = numeric_drift(_numeric(ref_col), _numeric(cur_col))
            row = {
                "test": "ks",
                "effect_name": "wasserstein/std",
                "new_categories": "",
                "new_category_share": 0.0,
                **res,
            }
            effect_limit = limits.numeric_effect
        elif kind == "category":
            res = categorical_drift(ref_col, cur_col)
            row = {
                "test": "chi2",
                "effect_name": "jensen-shannon",
                **res,
                "new_categories": ";".join(res["new_categories"]),
            }
            effect_limit = limits.categorical_effect
        else:  # dates and free text are not compared
            continue
        reasons = []
        if row["p_value"] < per_test and row["effect"] >= effect_limit:
            reasons.append(
                f"{row['test']} p={row['p_value']:.2g}, {row['effect_name']}={row['effect']:.3f}"
            )
        if row["new_category_share"] > limits.new_category_share:
            reasons.append(
                f"{row['new_category_share']:.1%} of rows in unseen categories {row['new_categories']}"
            )
        if abs(cur_missing - ref_missing) > limits.missing_delta:
            reasons.append(f"missing values {ref_missing:.1%} -> {cur_missing:.1%}")
        outside = beyond.get(name, np.nan)
        if outside > limits.outside_expected_share:  # NaN (no expectation) is never above
            reasons.append(
                f"{outside:.1%} of rows outside what training saw "
                f"({expected_bounds(contract.rule(name))})"
            )
        rows.append(
            {
                "feature": name,
                "kind": kind,
                **row,
                "reference_missing": ref_missing,
                "batch_missing": cur_missing,
                "outside_expected": outside,
                "drifted": bool(reasons),
                "reason": "; ".join(reasons),
            }
        )
    table = pd.DataFrame(rows).reindex(columns=FEATURE_COLUMNS)
    table["drifted"] = table["drifted"].astype(bool)
    share = float(table["drifted"].mean()) if len(table) else 0.0
    prediction = None
    if reference_predictions is not None and batch_predictions is not None:
        prediction = prediction_drift(
            reference_predictions, batch_predictions, threshold, limits, classes
        )
    report = DriftReport(
        rows=len(batch),
        reference_rows=len(reference),
        features=table,
        missing_columns=missing,
        extra_columns=extra,
        prediction=prediction,
        drift_share=share,
        dataset_drift=share >= limits.drift_share,
    )
    report.alerts = _alerts(report, limits)
    return report


def _alerts(report: DriftReport, limits: DriftThresholds) -> list[str]:
    alerts = []
    if report.dataset_drift:
        alerts.append(
            f"dataset drift: {report.drift_share:.0%} of features drifted "
            f"(threshold {limits.drift_share:.0%}): {', '.join(report.drifted_features)}"
        )
    if report.missing_columns:
        alerts.append(f"schema drift: batch lacks column(s) {', '.join(report.missing_columns)}")
    if report.extra_columns:
        alerts.append(
            f"schema drift: batch has column(s) the contract does not know: "
            f"{', '.join(map(str, report.extra_columns))}"
        )
    for _, row in report.features[report.features["drifted"]].iterrows():
        if row["test"] != "absent":
            alerts.append(f"feature {row['feature']} drifted: {row['reason']}")
    if report.prediction and report.prediction["drifted"] and "batch_mix" in report.prediction:
        before, after = report.prediction["reference_mix"], report.prediction["batch_mix"]
        alerts.append(
            "prediction drift: class mix "
            + ", ".join(f"{c} {before[c]:.0%}->{after[c]:.0%}" for c in after)
            + f", jensen-shannon={report.prediction['effect']:.3f}"
        )
    elif report.prediction and report.prediction["drifted"]:
        alerts.append(
            f"prediction drift: mean {report.prediction['reference_mean']:.3f} -> "
            f"{report.prediction['batch_mean']:.3f}, wasserstein/std={report.prediction['effect']:.3f}"
        )
    return alerts

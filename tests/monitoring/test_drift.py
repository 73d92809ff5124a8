import numpy as np
import pandas as pd
import pytest

from lab2prod.errors import MonitoringError
from lab2prod.monitoring.drift import (
    DriftThresholds,
    categorical_drift,
    drift_report,
    numeric_drift,
)


def test_same_distribution_raises_no_alert(credit_halves):
    contract, reference, batch = credit_halves
    report = drift_report(reference, batch, contract)
    assert report.alerts == []
    assert not report.dataset_drift
    assert report.drift_share == 0.0
    assert set(report.features["feature"]) == set(contract.features)


def test_shifted_numeric_feature_is_named(credit_halves):
    contract, reference, batch = credit_halves
    shifted = batch.assign(Income=batch["Income"] * 0.6)
    report = drift_report(reference, shifted, contract)
    assert report.drifted_features == ["Income"]
    assert any(a.startswith("feature Income drifted") for a in report.alerts)
    row = report.features.set_index("feature").loc["Income"]
    assert row["p_value"] < 0.01 and row["effect"] > 0.1
    assert batch["Income"].equals(credit_halves[2]["Income"])  # input not modified


def test_categorical_shift_and_new_category(credit_halves):
    contract, reference, batch = credit_halves
    rng = np.random.default_rng(1)
    home = np.where(rng.random(len(batch)) < 0.7, "parents", batch["Home"].astype(object))
    report = drift_report(reference, batch.assign(Home=home), contract)
    assert report.drifted_features == ["Home"]
    assert "jensen-shannon" in report.features.set_index("feature").loc["Home", "effect_name"]
    marital = batch["Marital"].astype(object).copy()
    marital.iloc[:100] = "civil_union"
    report = drift_report(reference, batch.assign(Marital=marital), contract)
    assert report.drifted_features == ["Marital"]
    assert "civil_union" in report.features.set_index("feature").loc["Marital", "new_categories"]


def test_many_shifts_make_dataset_drift(credit_halves):
    contract, reference, batch = credit_halves
    shifted = batch.assign(
        Income=batch["Income"] * 0.5,
        Amount=batch["Amount"] * 1.8,
        Price=batch["Price"] * 1.8,
        Age=batch["Age"] + 12,
    )
    report = drift_report(reference, shifted, contract, DriftThresholds(drift_share=0.25))
    assert report.dataset_drift
    assert report.alerts[0].startswith("dataset drift")
    assert set(report.drifted_features) == {"Income", "Amount", "Price", "Age"}


def test_missing_values_and_schema_drift(credit_halves):
    contract, reference, batch = credit_halves
    debt = batch["Debt"].copy()
    debt.iloc[: len(debt) // 5] = np.nan
    report = drift_report(
        reference, batch.assign(Debt=debt, extra=1).drop(columns=["Job"]), contract
    )
    assert report.missing_columns == ["Job"]
    assert report.extra_columns == ["extra"]
    assert "schema drift: batch lacks column(s) Job" in report.alerts
    assert "schema drift: batch has column(s) the contract does not know: extra" in report.alerts
    assert "missing values" in report.features.set_index("feature").loc["Debt", "reason"]


def test_scoring_columns_are_not_schema_drift_and_a_batch_without_features_is_refused(
    credit_halves,
):
    contract, reference, batch = credit_halves
    scored = batch.assign(
        probability=0.3,
        label="good",
        model_name="m",
        model_version="1",
        run_id="r",
        input_sha256="0" * 64,
        scored_at="2026-12-01T00:00:00Z",
    )
    report = drift_report(reference, scored, contract)
    assert report.extra_columns == [] and report.missing_columns == []
    assert not any("schema" in a for a in report.alerts)
    predictions_only = scored[["applicant_id", "probability", "label", "model_name"]]
    with pytest.raises(MonitoringError, match="carries none of the contract's 13 features"):
        drift_report(reference, predictions_only, contract)


def test_prediction_drift(credit_halves):
    contract, reference, batch = credit_halves
    rng = np.random.default_rng(0)
    ref_p, same_p = rng.beta(2, 5, 2000), rng.beta(2, 5, 2000)
    assert not drift_report(
        reference, batch, contract, reference_predictions=ref_p, batch_predictions=same_p
    ).prediction["drifted"]
    report = drift_report(
        reference,
        batch,
        contract,
        reference_predictions=ref_p,
        batch_predictions=rng.beta(4, 3, 2000),
    )
    assert (
        report.prediction["drifted"]
        and report.prediction["positive_rate"] > report.prediction["reference_positive_rate"]
    )
    assert any(a.startswith("prediction drift") for a in report.alerts)


def test_numeric_and_categorical_primitives():
    rng = np.random.default_rng(0)
    same = numeric_drift(rng.normal(size=5000), rng.normal(size=5000))
    moved = numeric_drift(rng.normal(size=5000), rng.normal(0.5, 1, size=5000))
    assert same["p_value"] > 0.01 and moved["p_value"] < 1e-10
    assert moved["effect"] == pytest.approx(0.5, abs=0.07)
    res = categorical_drift(pd.Series(["a", "b"] * 100), pd.Series(["a"] * 150 + ["c"] * 50))
    assert (
        res["new_categories"] == ["c"] and res["new_category_share"] == 0.25 and res["effect"] > 0.3
    )


def test_bad_inputs_are_refused(credit_halves):
    contract, reference, batch = credit_halves
    with pytest.raises(MonitoringError, match="the batch has 5 rows"):
        drift_report(reference, batch.head(5), contract)
    with pytest.raises(MonitoringError, match="reference lacks feature column"):
        drift_report(reference.drop(columns=["Age"]), batch, contract)
    with pytest.raises(MonitoringError, match="unknown drift threshold"):
        DriftThresholds.from_dict({"share": 0.3})


def test_class_mix_drift_of_multiclass_probabilities():
    from lab2prod.monitoring.drift import prediction_drift

    rng = np.random.default_rng(3)

    def proba(shares, n=600):
        codes = rng.choice(3, size=n, p=shares)
        return np.eye(3)[codes] * 0.7 + 0.1

    limits, names = DriftThresholds(), ["a", "b", "c"]
    same = prediction_drift(proba([0.4, 0.4, 0.2]), proba([0.4, 0.4, 0.2]), None, limits, names)
    assert same["kind"] == "class_mix" and not same["drifted"]
    moved = prediction_drift(proba([0.4, 0.4, 0.2]), proba([0.1, 0.3, 0.6]), None, limits, names)
    assert moved["drifted"] and moved["batch_mix"]["c"] > 0.5 > moved["reference_mix"]["c"]
    assert sum(moved["batch_mix"].values()) == pytest.approx(1.0)
    with pytest.raises(MonitoringError, match="do not match: score both with the same model"):
        prediction_drift(proba([0.4, 0.4, 0.2]), proba([0.4, 0.4, 0.2])[:, :2], None, limits, names)


def test_class_mix_drift_raises_an_alert(credit_halves):
    contract, reference, batch = credit_halves
    rng = np.random.default_rng(4)
    ref = np.eye(3)[rng.choice(3, size=len(reference), p=[0.5, 0.3, 0.2])]
    cur = np.eye(3)[rng.choice(3, size=len(batch), p=[0.1, 0.2, 0.7])]
    report = drift_report(reference, batch, contract, None, ref, cur, None, classes=["x", "y", "z"])
    assert report.prediction["drifted"]
    assert any(a.startswith("prediction drift: class mix x ") for a in report.alerts)


def test_rows_outside_what_training_saw_drift_the_feature_by_one_threshold(
    credit_halves, inferred_halves
):
    contract, reference, batch = inferred_halves
    assert contract.rule("Age").expect_max is not None and contract.rule("Age").max is None
    # the same population: a few rows past the sample's extremes, no feature drifts for it
    calm = drift_report(reference, batch, contract)
    assert calm.alerts == [] and 0 < max(calm.outside_expected.values()) < 0.01
    # a written contract without expect: has no such share
    written = drift_report(reference, batch, credit_halves[0])
    assert written.outside_expected == {} and written.features["outside_expected"].isna().all()

    # 2.5% of the batch one year older than anyone in training: too few to move the KS test
    top = contract.rule("Age").expect_max
    older = batch.assign(
        Age=np.where(np.arange(len(batch)) < len(batch) // 40, top + 1, batch["Age"])
    )
    report = drift_report(reference, older, contract)
    assert report.drifted_features == ["Age"]
    assert report.outside_expected["Age"] == pytest.approx((len(batch) // 40) / len(batch))
    row = report.features.set_index("feature").loc["Age"]
    assert row["reason"] == f"2.5% of rows outside what training saw (min 18, max {top})"
    assert "feature Age drifted: 2.5% of rows outside what training saw" in report.alerts[0]
    assert report.summary()["outside_expected"]["Age"] == report.outside_expected["Age"]
    # the threshold lives in DriftThresholds: above the share, nothing drifts
    relaxed = drift_report(reference, older, contract, DriftThresholds(outside_expected_share=0.05))
    assert relaxed.drifted_features == [] and relaxed.alerts == []

    # a category training never saw counts as outside too
    homes = batch.assign(Home=np.where(np.arange(len(batch)) < 100, "castle", batch["Home"]))
    share = drift_report(reference, homes, contract).outside_expected["Home"]
    assert share == pytest.approx(100 / len(batch))
    with pytest.raises(MonitoringError, match="unknown drift threshold.*outside_expected_share"):
        DriftThresholds.from_dict({"outside_expected": 0.1})

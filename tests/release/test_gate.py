"""The pure gate: floors, tolerance against the champion, tags with every number."""

import pytest

from lab2prod.release.gate import decide


def test_floors_and_tolerance_decide_and_tags_carry_the_numbers():
    champ = {"roc_auc": 0.80, "brier": 0.15}
    assert decide(
        {"roc_auc": 0.81, "brier": 0.14}, champ, "roc_auc", floors={"roc_auc": 0.7, "brier": 0.2}
    ).promote
    assert not decide(
        {"roc_auc": 0.80, "brier": 0.14}, champ, "roc_auc"
    ).promote  # equal is not better
    assert decide({"roc_auc": 0.795, "brier": 0.14}, champ, "roc_auc", tolerance=0.01).promote
    worse = decide({"roc_auc": 0.81, "brier": 0.30}, champ, "roc_auc", floors={"brier": 0.25})
    assert not worse.promote and "brier=0.3000 misses floor 0.25" in worse.reasons
    tags = worse.as_tags()
    assert tags["gate.decision"] == "reject" and tags["gate.floor.brier"] == "0.25"
    assert (
        tags["gate.champion.roc_auc"] == "0.800000" and tags["gate.challenger.brier"] == "0.300000"
    )
    blocked = decide({"roc_auc": 0.9}, None, "roc_auc").blocked("infrastructure check failed: x")
    assert not blocked.promote and blocked.reasons[-1] == "infrastructure check failed: x"


def test_lower_is_better_metrics_and_unknown_metric():
    assert decide({"rmse": 9.0}, {"rmse": 10.0}, "rmse").promote
    assert not decide({"rmse": 11.0}, {"rmse": 10.0}, "rmse").promote
    with pytest.raises(KeyError, match="unknown gate metric 'auc'"):
        decide({"auc": 1.0}, None, "auc")


def test_floor_on_the_other_tasks_metric_does_not_apply_but_a_missing_one_fails():
    from lab2prod.release.gate import decide

    regression = {"rmse": 10.0, "mae": 8.0, "r2": 0.5}
    passed = decide(regression, None, "rmse", floors={"roc_auc": 0.7, "r2": 0.2})
    assert passed.promote and any("roc_auc does not apply" in r for r in passed.reasons)
    failed = decide({"roc_auc": 0.9, "brier": 0.1}, None, "roc_auc", floors={"pr_auc": 0.5})
    assert not failed.promote and "pr_auc missing" in failed.reasons


def test_multiclass_floors_apply_to_its_metrics_only():
    multiclass = {"roc_auc": 0.95, "log_loss": 0.3, "brier": 0.1, "f1_macro": 0.6, "accuracy": 0.7}
    passed = decide(multiclass, None, "roc_auc", floors={"roc_auc": 0.7, "brier": 0.25, "f1": 0.5})
    assert passed.promote and any("floor on f1 does not apply" in r for r in passed.reasons)
    failed = decide(multiclass, None, "roc_auc", floors={"f1_macro": 0.8})
    assert not failed.promote and "f1_macro=0.6000 misses floor 0.8" in failed.reasons
    worse = decide(multiclass, {**multiclass, "roc_auc": 0.96}, "roc_auc")
    assert not worse.promote
    # a floor on a binary metric a binary model lacks is missing, not skipped
    binary = decide({"roc_auc": 0.9, "brier": 0.1}, None, "roc_auc", floors={"f1_macro": 0.5})
    assert binary.promote and "floor on f1_macro does not apply to this task" in binary.reasons


def test_a_model_worse_than_predicting_the_mean_is_never_champion():
    # the case: holdout R² -0.18, promoted for want of a regression floor
    worse = decide({"rmse": 1.1, "mae": 0.9, "r2": -0.18}, None, "r2", baseline={"r2": 0.0})
    assert not worse.promote
    assert (
        "r2 -0.1800 does not beat the trivial model (predicting the mean) 0.0000 on the same test "
        "rows: never champion"
    ) in worse.reasons
    assert worse.as_tags()["gate.baseline"] == "0.000000"
    rmse = decide({"rmse": 0.9, "mae": 0.7, "r2": 0.1}, None, "rmse", baseline={"rmse": 1.0})
    assert (
        rmse.promote
        and "rmse 0.9000 beats the trivial model (predicting the mean) 1.0000" in rmse.reasons
    )
    auc = decide({"roc_auc": 0.5, "brier": 0.2}, None, "roc_auc", baseline={"roc_auc": 0.5})
    assert not auc.promote and "(predicting the class shares)" in auc.reasons[0]


def test_trivial_metrics_are_the_mean_and_the_class_shares_on_the_same_rows():
    import numpy as np

    from lab2prod.modeling.metrics import trivial_metrics

    assert trivial_metrics(np.array([1.0, 2.0, 3.0]), "regression")["r2"] == 0.0
    binary = trivial_metrics(np.array([0, 1, 1, 1]), "classification")
    assert binary["roc_auc"] == 0.5 and binary["accuracy"] == 0.75
    multi = trivial_metrics(np.array([0, 1, 2, 2]), "classification", classes=3)
    assert multi["roc_auc"] == 0.5 and multi["accuracy"] == 0.5
    # fitted on the training rows: their mean, measured on the test rows
    fitted = trivial_metrics(np.array([1.0, 3.0]), "regression", fitted_on=np.array([0.0, 0.0]))
    assert fitted["mae"] == 2.0 and fitted["r2"] < 0

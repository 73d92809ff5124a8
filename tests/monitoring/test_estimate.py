"""Performance estimated before labels: calibration on validation, CBPE-style estimates and their intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import CREDIT_BUSINESS
from lab2prod.modeling.business import business_from_dict, value_per_case
from lab2prod.monitoring.estimate import (
    check_calibration,
    estimate_performance,
    estimated_drop,
    expected_roc_auc,
)

VALUES = business_from_dict(CREDIT_BUSINESS)


def calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, n)
    return p, (rng.random(n) < p).astype(int)


def test_the_expected_roc_auc_is_the_mean_of_the_realized_one_over_label_draws():
    p, _ = calibrated(1000, seed=0)
    rng = np.random.default_rng(1)
    realized = [roc_auc_score(rng.random(len(p)) < p, p) for _ in range(100)]
    assert expected_roc_auc(p) == pytest.approx(np.mean(realized), abs=0.005)
    # certain outcomes: the expected AUC is the AUC itself
    assert expected_roc_auc(np.array([0.0, 0.0, 1.0, 1.0])) == 1.0


def test_estimates_cover_the_realized_metrics_of_calibrated_batches():
    hits = {"roc_auc": 0, "accuracy": 0, "f1": 0, "value": 0}
    for seed in range(40):
        p, y = calibrated(1000, seed)
        estimate = estimate_performance(p, threshold=0.2, business=VALUES, rounds=100, seed=seed)
        positive = p >= 0.2
        tp = np.sum(positive & (y == 1))
        realized = {
            "roc_auc": roc_auc_score(y, p),
            "accuracy": np.mean(positive == (y == 1)),
            "f1": 2 * tp / (2 * tp + np.sum(positive != (y == 1))),
            "value": value_per_case(y, p, VALUES, 0.2),
        }
        for name, value in realized.items():
            bounds = estimate.metrics[name]
            hits[name] += bounds["low"] <= value <= bounds["high"]
    assert all(h >= 34 for h in hits.values()), hits  # a 95% interval: about 38 of 40
    assert estimate.unit == "EUR" and estimate.threshold == 0.2 and not estimate.calibrated
    with pytest.raises(ValueError, match="no probabilities to estimate from"):
        estimate_performance(np.array([np.nan]))


def test_calibration_is_checked_on_validation_and_corrected_only_when_needed():
    p, y = calibrated(3000, seed=3)
    fine = check_calibration(y, p)
    assert not fine.needed and fine.apply(p) is not None and np.allclose(fine.apply(p), p)
    assert "are calibrated" in fine.sentence()
    squeezed = np.sqrt(p)  # overconfident about the positive class
    off = check_calibration(y, squeezed)
    assert off.needed and off.ece_after < off.ece / 3 and "Platt scaling" in off.sentence()
    # estimating from the squeezed scores with the correction comes back near the truth
    truth = estimate_performance(p, 0.5).metrics["accuracy"]["value"]
    raw = estimate_performance(squeezed, np.sqrt(0.5)).metrics["accuracy"]["value"]
    fixed = estimate_performance(squeezed, np.sqrt(0.5), calibration=off).metrics["accuracy"][
        "value"
    ]
    assert abs(fixed - truth) < abs(raw - truth) and abs(fixed - truth) < 0.02
    with pytest.raises(ValueError, match="needs both classes"):
        check_calibration(np.zeros(10), p[:10])


def test_retraining_on_an_estimated_drop_is_off_by_default_and_needs_the_whole_interval_below():
    p, _ = calibrated(1000, seed=4)
    estimate = estimate_performance(p, 0.5)
    auc = estimate.metrics["roc_auc"]
    assert estimated_drop(estimate, {"roc_auc": 0.99}, "roc_auc", None) is None  # off
    assert estimated_drop(estimate, {"roc_auc": auc["high"] + 0.01}, "roc_auc", 0.05) is None
    message = estimated_drop(estimate, {"roc_auc": auc["high"] + 0.06}, "roc_auc", 0.05)
    assert message.startswith("estimated roc_auc dropped (no labels yet)")
    assert estimated_drop(estimate, {}, "roc_auc", 0.05) is None  # no holdout to compare

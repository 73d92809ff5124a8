"""Business values: parsing env.yaml's section, value per case, the value-maximising threshold, policies."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CREDIT_BUSINESS
from lab2prod.errors import ConfigError
from lab2prod.modeling.business import (
    best_threshold,
    business_from_dict,
    expected_value,
    policy_values,
    value_per_case,
    value_sentence,
)


def scored_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities and labels drawn from them: a positive class of about 28%."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, n)
    return (rng.random(n) < p).astype(int), p


def test_the_section_parses_for_each_kind_and_refuses_what_cannot_be_valued():
    binary = business_from_dict(CREDIT_BUSINESS)
    assert binary.kind == "binary" and binary.outcomes["false_negative"] == -500
    assert binary.fits("classification", ("bad", "good"))
    assert not binary.fits("regression", None) and not binary.fits(
        "classification", ("a", "b", "c")
    )
    regression = business_from_dict({"unit": "kWh", "cost_above": 1, "cost_below": 3})
    assert regression.kind == "regression" and (regression.cost_above, regression.cost_below) == (
        1,
        3,
    )
    matrix = business_from_dict(
        {"unit": "EUR", "matrix": {"a": {"a": 1, "b": -1}, "b": {"a": -2, "b": 1}}}
    )
    assert matrix.kind == "multiclass"
    assert business_from_dict({}) is None and business_from_dict(None) is None
    with pytest.raises(ConfigError, match="business.unit is missing"):
        business_from_dict({"outcomes": CREDIT_BUSINESS["outcomes"]})
    with pytest.raises(ConfigError, match="missing false_negative"):
        business_from_dict(
            {
                "unit": "EUR",
                "outcomes": {
                    k: v for k, v in CREDIT_BUSINESS["outcomes"].items() if k != "false_negative"
                },
            }
        )
    with pytest.raises(ConfigError, match="exactly one of outcomes"):
        business_from_dict(
            {"unit": "EUR", "outcomes": CREDIT_BUSINESS["outcomes"], "cost_above": 1}
        )
    with pytest.raises(ConfigError, match="outcomes.true_negative must be a number"):
        business_from_dict(
            {"unit": "EUR", "outcomes": {**CREDIT_BUSINESS["outcomes"], "true_negative": "a lot"}}
        )


def test_value_per_case_counts_each_outcome_for_every_kind(credit_business):
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.1, 0.6, 0.2])  # at 0.5: TP, FN, FP, TN
    assert value_per_case(y, p, credit_business, 0.5) == pytest.approx(
        (0 - 500 + 0 + 120) / 4 * 1000
    )
    regression = business_from_dict({"unit": "kWh", "cost_above": 1, "cost_below": 3})
    # errors +2 (above, costs 2) and -1 (below, costs 3)
    assert value_per_case(np.array([1.0, 5.0]), np.array([3.0, 4.0]), regression) == -2500
    matrix = business_from_dict(
        {"unit": "EUR", "matrix": {"a": {"a": 1, "b": -1}, "b": {"a": -2, "b": 1}}}
    )
    proba = np.array([[0.8, 0.2], [0.7, 0.3]])  # both predicted a; actual a then b
    assert value_per_case(np.array([0, 1]), proba, matrix, labels=("a", "b")) == -500
    with pytest.raises(ConfigError, match="no row for actual label 'c'"):
        value_per_case(np.array([0]), np.array([[1.0, 0.0]]), matrix, labels=("c", "a"))


def test_the_threshold_that_maximises_value_differs_from_half_where_errors_cost_unequally(
    credit_business,
):
    y, p = scored_rows(4000, seed=1)
    chosen = best_threshold(y, p, credit_business)
    # refuse when p * 500 > (1 - p) * 120, i.e. p > 120 / 620: far below 0.5 for calibrated scores
    assert chosen == pytest.approx(120 / 620, abs=0.05)
    cuts = np.linspace(0.01, 0.99, 99)
    best_grid = max(value_per_case(y, p, credit_business, t) for t in cuts)
    assert value_per_case(y, p, credit_business, chosen) >= best_grid - 1e-6
    symmetric = business_from_dict(
        {
            "unit": "EUR",
            "outcomes": {
                "true_positive": 1,
                "false_positive": -1,
                "true_negative": 1,
                "false_negative": -1,
            },
        }
    )
    assert best_threshold(y, p, symmetric) == pytest.approx(0.5, abs=0.06)
    with pytest.raises(ConfigError, match="needs binary business.outcomes"):
        best_threshold(y, p, business_from_dict({"unit": "kWh", "cost_above": 1}))


def test_policies_share_resamples_and_the_expected_value_matches_the_realized_on_calibrated_rows(
    credit_business,
):
    y, p = scored_rows(3000, seed=2)
    rows = policy_values(y, p, credit_business, 0.2, rounds=100, seed=0)
    names = [r["policy"] for r in rows]
    assert names == ["model at 0.2", "model at 0.5", "refuse all", "accept all"]
    model, at_half, refuse, accept = (r["value"] for r in rows)
    assert refuse == 0 and model > max(accept, refuse, at_half)
    assert all(r["low"] <= r["value"] <= r["high"] and r["unit"] == "EUR" for r in rows)
    decisions = (p >= 0.2).astype(float)
    # calibrated probabilities: the value expected without labels lies within the realized one's interval
    assert rows[0]["low"] <= expected_value(p, decisions, credit_business) <= rows[0]["high"]
    sentence = value_sentence(credit_business, model, 0.2)
    assert (
        sentence.startswith("For every 1,000 cases the model earns EUR ") and "refuse" in sentence
    )

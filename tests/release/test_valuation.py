"""The evaluate step's valuation: threshold chosen on validation only, value on test beside trivial policies."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import CREDIT_BUSINESS
from lab2prod.modeling.business import best_threshold, business_from_dict
from lab2prod.modeling.features import model_frame, target_vector
from lab2prod.modeling.predict import predict
from lab2prod.modeling.training import model_metrics, train_model
from lab2prod.release.valuation import CHOSEN, SET_BY_HAND, value_model
from tests.release.conftest import toy_frame

VALUES = business_from_dict(CREDIT_BUSINESS)


@pytest.fixture(scope="module")
def fitted():
    from lab2prod.data.contract import contract_from_dict

    contract = contract_from_dict(
        {
            "dataset": "toy",
            "task": "classification",
            "target": {"name": "y", "labels": ["no", "yes"], "positive": "yes"},
            "columns": {
                "x1": {"type": "float", "nullable": False},
                "x2": {"type": "float", "nullable": False},
                "color": {"type": "category", "nullable": True, "categories": ["red", "blue"]},
                "y": {"type": "category", "nullable": False, "categories": ["no", "yes"]},
            },
        }
    )
    model = train_model(toy_frame(600, 1), contract, "logistic_regression").model
    return model, contract, toy_frame(800, 2), toy_frame(1000, 3)


def test_the_threshold_is_chosen_on_validation_only_and_the_model_beats_the_trivial_policies(
    fitted,
):
    model, contract, valid, test = fitted
    valuation = value_model(model, valid, test, contract, VALUES, rounds=100)
    # errors cost unequally (a default loses 500, a refusal 0 of 120): the cut sits well below 0.5
    assert valuation.origin == CHOSEN and valuation.threshold < 0.35
    p_valid = predict(model, model_frame(valid, contract), "classification")
    assert valuation.threshold == best_threshold(target_vector(valid, contract), p_valid, VALUES)
    # the test split's labels play no part in the choice: flip them all and the threshold stays
    flipped = test.assign(y=test["y"].map({"yes": "no", "no": "yes"}))
    assert value_model(model, valid, flipped, contract, VALUES, rounds=10).threshold == (
        valuation.threshold
    )
    values = {row["policy"]: row["value"] for row in valuation.policies}
    model_value = values[f"model at {valuation.threshold:.3g}"]
    assert model_value >= values["accept all"] and model_value >= values["refuse all"]
    assert model_value > values["model at 0.5"] and valuation.value == model_value
    assert valuation.sentence.startswith("For every 1,000 cases the model earns EUR")
    assert valuation.calibration is not None and valuation.calibration_sentence
    # value as the gate sees it: the same figure through model_metrics
    gate_value = model_metrics(model, test, contract, valuation.threshold, VALUES)["value"]
    assert gate_value == pytest.approx(model_value)


def test_a_threshold_set_by_hand_wins_and_an_empty_validation_split_is_refused(fitted):
    model, contract, valid, test = fitted
    hand = value_model(model, valid, test, contract, VALUES, hand=0.5, rounds=10)
    assert (hand.threshold, hand.origin) == (0.5, SET_BY_HAND)
    without = value_model(model, valid, test, contract, None, rounds=10)
    assert without.threshold == 0.5 and without.policies == [] and without.value is None
    with pytest.raises(ValueError, match="the validation split is empty"):
        value_model(model, valid.iloc[:0], test, contract, VALUES)


def test_a_regression_and_a_three_class_model_say_what_decides_instead_of_a_threshold():
    from lab2prod.data.contract import contract_from_dict
    from lab2prod.release.valuation import NO_THRESHOLD

    columns = {"x1": {"type": "float"}, "x2": {"type": "float"}}
    regression = contract_from_dict(
        {
            "dataset": "r",
            "task": "regression",
            "target": "y",
            "columns": {**columns, "y": {"type": "float"}},
        }
    )
    rows = toy_frame(300, 4)
    rows = rows.assign(y=2 * rows["x1"] - rows["x2"])[["x1", "x2", "y"]]
    model = train_model(rows, regression, "linear").model
    valued = value_model(model, rows, rows, regression, None, rounds=10)
    assert (valued.thresholded, valued.origin) == (False, NO_THRESHOLD["regression"])
    assert valued.as_dict()["thresholded"] is False
    labels = ["a", "b", "c"]
    three = contract_from_dict(
        {
            "dataset": "m",
            "task": "classification",
            "target": {"name": "y", "labels": labels},
            "columns": {**columns, "y": {"type": "category", "categories": labels}},
        }
    )
    rows = rows.assign(y=pd.cut(rows["y"], 3, labels=labels).astype(str))
    model = train_model(rows, three, "logistic_regression").model
    valued = value_model(model, rows, rows, three, None, rounds=10)
    assert (valued.thresholded, valued.origin) == (False, "the label is the most probable class")
    by_hand = value_model(model, rows, rows, three, None, hand=0.4, rounds=10)
    assert (by_hand.thresholded, by_hand.origin) == (True, SET_BY_HAND)

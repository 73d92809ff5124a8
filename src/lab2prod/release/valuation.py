"""The evaluate step's business side: the decision threshold, the calibration check, the value of the model and of trivial policies.

Pure: a fitted model and labelled frames in, a `Valuation` out. The threshold is chosen on the
validation split, never the test split; the test split only measures the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.modeling.business import (
    BusinessValue,
    Valuation,
    best_threshold,
    policy_values,
    value_per_case,
    value_sentence,
)
from lab2prod.modeling.features import model_frame, target_vector
from lab2prod.modeling.predict import predict
from lab2prod.monitoring.estimate import check_calibration

SET_BY_HAND = "set by hand (threshold in env.yaml)"
CHOSEN = "chosen on the validation split to maximise value"
DEFAULT = "the default 0.5 (no business values declared)"
# what decides the label when no threshold does, by kind of target
NO_THRESHOLD = {
    "multiclass": "the label is the most probable class",
    "regression": "a regression predicts a value",
}


def decision_threshold(
    hand: float | None,
    business: BusinessValue | None,
    y_valid: np.ndarray,
    proba_valid: np.ndarray,
) -> tuple[float, str]:
    """Return (threshold, where it came from): `hand` when set, else the value-maximising one on validation, else 0.5."""
    if hand is not None:
        return float(hand), SET_BY_HAND
    if business is not None and business.kind == "binary":
        return best_threshold(y_valid, proba_valid, business), CHOSEN
    return 0.5, DEFAULT


def value_model(
    model: Any,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    contract: Contract,
    business: BusinessValue | None,
    hand: float | None = None,
    rounds: int = 200,
    seed: int | None = 42,
) -> Valuation:
    """Return the model's valuation: threshold (hand-set, or chosen on `valid`), calibration on `valid`, value on `test`.

    Binary classification gets the threshold and calibration check; value per 1,000 test cases
    with bootstrap intervals beside accept-all, refuse-all and the model at 0.5 needs `business`.
    Multiclass and regression get their value on the test split when `business` fits them.
    """
    task = contract.task
    binary = task == "classification" and len(contract.labels or ()) <= 2
    if not binary:
        value = None
        if business is not None and business.fits(task, contract.labels):
            value = value_per_case(
                target_vector(test, contract),
                predict(model, model_frame(test, contract), task),
                business,
                labels=contract.labels,
            )
        return Valuation(
            threshold=0.5 if hand is None else float(hand),
            origin=NO_THRESHOLD[task if task == "regression" else "multiclass"]
            if hand is None
            else SET_BY_HAND,
            value=value,
            unit=business.unit if value is not None else "",
            sentence=value_sentence(business, value) if value is not None else "",
            thresholded=hand is not None,
        )
    if not len(valid):
        raise ValueError(
            "no rows to choose a threshold on: the validation split is empty (set valid_size above 0)"
        )
    y_valid = target_vector(valid, contract)
    p_valid = predict(model, model_frame(valid, contract), task)
    threshold, origin = decision_threshold(hand, business, y_valid, p_valid)
    calibration = check_calibration(y_valid, p_valid) if len(np.unique(y_valid)) == 2 else None
    policies: list[dict[str, Any]] = []
    value = None
    if business is not None and business.kind == "binary":
        y_test = target_vector(test, contract)
        p_test = predict(model, model_frame(test, contract), task)
        policies = policy_values(y_test, p_test, business, threshold, rounds=rounds, seed=seed)
        value = policies[0]["value"]
    return Valuation(
        threshold=threshold,
        origin=origin,
        calibration=calibration.as_dict() if calibration else None,
        calibration_sentence=calibration.sentence() if calibration else "",
        policies=policies,
        value=value,
        unit=business.unit if value is not None else "",
        sentence=value_sentence(business, value, threshold) if value is not None else "",
    )

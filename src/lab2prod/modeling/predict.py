"""One prediction function for training, evaluation and every way of scoring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def predict(model: Any, features: pd.DataFrame, task: str) -> np.ndarray:
    """Return the positive-class probability (binary), the (n, k) class probabilities (multiclass) or the value (regression).

    Multiclass columns follow the model's classes, the codes 0..k-1 of the
    contract's labels (features.target_vector).
    """
    if task == "classification":
        proba = model.predict_proba(features)
        if proba.shape[1] == 2:
            return proba[:, 1]
        return np.asarray(proba, dtype="float64")
    return np.asarray(model.predict(features), dtype="float64")


def class_probability_columns(labels: Sequence[str]) -> list[str]:
    """Return the names of a multiclass model's probability columns in scored output: `probability_<label>`."""
    return [f"probability_{label}" for label in labels]

"""One prediction function for training, evaluation and every way of scoring."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def predict(model: Any, features: pd.DataFrame, task: str) -> np.ndarray:
    """Return the positive-class probability (binary classification) or the predicted value (regression)."""
    if task == "classification":
        proba = model.predict_proba(features)
        if proba.shape[1] == 2:
            return proba[:, 1]
        return proba.max(axis=1)
    return np.asarray(model.predict(features), dtype="float64")

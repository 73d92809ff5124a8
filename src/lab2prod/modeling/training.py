"""The one training function: fit a model of a family on a frame and measure it. Pure: no MLflow, no files.

The train notebook (each grid cell), retraining, the simulation and the tests' fixtures all train
through `train_model`; `model_metrics` is the one way to get a model's metrics on a labelled frame
(the release gate, retraining, the simulation and the notebooks use it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.modeling.business import BusinessValue, value_per_case
from lab2prod.modeling.estimators import build_estimator
from lab2prod.modeling.features import check_classes, model_columns, model_frame, target_vector
from lab2prod.modeling.metrics import task_metrics
from lab2prod.modeling.predict import predict


@dataclass(frozen=True)
class Trained:
    """A fitted model, how it was made, and its metrics on the validation rows ({} without any)."""

    model: Any
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    metrics: dict[str, float] = field(default_factory=dict)


def model_metrics(
    model: Any,
    frame: pd.DataFrame,
    contract: Contract,
    threshold: float = 0.5,
    business: BusinessValue | None = None,
) -> dict[str, float]:
    """Return the task's metrics of fitted `model` on the labelled rows of normalized `frame`.

    With `business` values that fit the task, `value` (per 1,000 cases, in the business unit,
    decisions at `threshold`) is among them, so the gate can compare and floor it like any metric.
    """
    if contract.target not in frame.columns:
        raise KeyError(f"the frame has no target column {contract.target!r}: metrics need labels")
    y = target_vector(frame, contract)
    check_classes(y, contract, part="evaluation rows")  # labels named, not class codes
    prediction = predict(model, model_frame(frame, contract), contract.task)
    metrics = task_metrics(y, prediction, contract.task, threshold)
    if business is not None and business.fits(contract.task, contract.labels):
        metrics["value"] = value_per_case(y, prediction, business, threshold, contract.labels)
    return metrics


def train_model(
    train: pd.DataFrame,
    contract: Contract,
    family: str,
    params: dict[str, Any] | None = None,
    seed: int = 42,
    valid: pd.DataFrame | None = None,
    threshold: float = 0.5,
) -> Trained:
    """Return a model of `family` with `params` fitted on `train`, measured on `valid` when it has rows."""
    if not len(train):
        raise ValueError("no training rows: the training split is empty")
    columns = model_columns(contract)
    model = build_estimator(
        family,
        contract.task,
        columns["numeric"],
        columns["categorical"],
        params=params,
        random_state=seed,
    )
    y = target_vector(train, contract)
    check_classes(y, contract)  # multiclass: a label without training rows cannot be learned
    model.fit(model_frame(train, contract), y)
    metrics = (
        model_metrics(model, valid, contract, threshold) if valid is not None and len(valid) else {}
    )
    return Trained(
        model=model, family=family, params=dict(params or {}), seed=seed, metrics=metrics
    )

"""Fixtures of the release tests: a real SQLite MLflow store in tmp_path and tiny fitted models."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import empty_store
from lab2prod import model_logging, tracking
from lab2prod.data.contract import contract_from_dict
from lab2prod.modeling.training import train_model


@pytest.fixture
def release_contract():
    return contract_from_dict(
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


def toy_frame(n: int, seed: int) -> pd.DataFrame:
    """Rows where y depends strongly on x1 and x2: a fitted model separates them well."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    logit = 2.5 * x1 - 1.5 * x2
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "color": rng.choice(["red", "blue"], size=n), "y": y})


@pytest.fixture
def toy_data():
    return {"train": toy_frame(300, 1), "test": toy_frame(200, 2)}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Point MLflow at a fresh SQLite store (one per module, a copy of the session's empty store); return its folder.

    Tests sharing it use distinct registered model names, so none sees another's versions.
    """
    root = tmp_path_factory.mktemp("store")
    empty_store(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        tracking.connect(root, "release-tests")
        yield root
    mlflow.set_tracking_uri("")


@pytest.fixture
def fit_and_log(release_contract):
    """Fit a logistic regression on `train` (labels shuffled when asked), log it; return (model_uri, run_id)."""

    def _fit(train: pd.DataFrame, shuffle_labels: bool = False, seed: int = 0) -> tuple[str, str]:
        if shuffle_labels:
            target = release_contract.target
            train = train.assign(
                **{target: np.random.default_rng(seed).permutation(train[target].to_numpy())}
            )
        trained = train_model(train, release_contract, "logistic_regression", seed=seed)
        run = model_logging.log_training_run(
            trained, train, release_contract, run_name="train-logistic_regression"
        )
        return run.model_uri, run.run_id

    return _fit

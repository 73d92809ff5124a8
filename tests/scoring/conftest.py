"""A registered champion in a temporary MLflow store, built once per session the way the pipeline does it.

Ingest the bundled credit sources into a temporary lake, fit a small model
with the one training function and log it with the one run logger, as notebooks/train.ipynb does,
then register and promote it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import empty_store

PROJECT = Path(__file__).resolve().parents[2]
MODEL_NAME = "credit-risk"


def build_champion(root: Path, family: str = "logistic_regression", threshold: float = 0.5) -> dict:
    """Ingest, fit, log and register a champion under `root`; return its facts (uri, version, run, lake)."""
    from lab2prod import settings, tracking
    from lab2prod.data import conditioning, ingest
    from lab2prod.modeling.training import train_model
    from lab2prod.release import registry

    the_contract = settings.load_contract(PROJECT / "data/contracts/credit.yaml")
    result = ingest.ingest(
        settings.load_catalog(PROJECT / "data/sources/credit/catalog.yaml"),
        the_contract,
        root / "data/lake",
    )
    train = conditioning.read_normalized(result.normalized, the_contract)
    trained = train_model(train, the_contract, family)
    tracking.connect(root, "lab2prod-test")
    run = tracking.log_training_run(
        trained, train, the_contract, run_name=f"train-{family}", threshold=threshold
    )
    version = registry.register(run.model_uri, MODEL_NAME, tags={"run_id": run.run_id})
    registry.promote(MODEL_NAME, version.version)
    return {
        "root": root,
        "tracking_uri": settings.tracking_uri(root),
        "model_uri": f"models:/{MODEL_NAME}@champion",
        "version": version.version,
        "run_id": run.run_id,
        "normalized": result.normalized,
        "contract": the_contract,
    }


@pytest.fixture(scope="session")
def champion(tmp_path_factory):
    """The session's champion model, in its own SQLite store (MLFLOW_TRACKING_URI points at it)."""
    root = tmp_path_factory.mktemp("store")
    empty_store(root)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    try:
        yield build_champion(root)
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture(scope="module")
def batch_text(champion):
    """300 rows of the normalized data as text, without the target: a batch as it arrives."""
    import pandas as pd

    frame = pd.read_csv(champion["normalized"], dtype=str, keep_default_na=False).head(300)
    return frame.drop(columns=["Status"])

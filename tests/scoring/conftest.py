"""A registered champion in a temporary MLflow store, built once per session the way the pipeline does it.

Ingest the bundled credit sources into a temporary lake, fit a small model
with the one training function and log it with the one run logger, as notebooks/train.ipynb does,
then register and promote it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
MODEL_NAME = "credit-risk"


def build_champion(root: Path, family: str = "logistic_regression", threshold: float = 0.5) -> dict:
    """Ingest, fit, log and register a champion under `root`; return its facts (uri, version, run, lake)."""
    from lab2prod import model_logging, settings, tracking
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
    run = model_logging.log_training_run(
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
    from conftest import empty_store

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


# build_champion in a process of its own, for a product of the second lane (tests/lane.py): the lane's
# thread only waits, and the test process's own champion and MLFLOW_TRACKING_URI stay as they are
CHAMPION = """
import json
from pathlib import Path
facts = fixtures.build_champion(Path(sys.argv[1]))
print(json.dumps({k: str(v) for k, v in facts.items() if k != "contract"}))
"""


def champion_apart(
    tmp_path_factory, environ: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Build a champion as `champion` does, in a subprocess and a store of its own; return its facts and environment.

    The facts are `champion`'s as text (root, tracking_uri, model_uri, version, run_id, normalized),
    without the contract; the environment is `environ` with MLFLOW_TRACKING_URI at the new store.
    """
    from conftest import apart, empty_store

    root = tmp_path_factory.mktemp("store")
    env = {k: v for k, v in environ.items() if k != "LAB2PROD_ROOT"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{empty_store(root)}"
    done = subprocess.run(
        apart(__file__, CHAMPION, root, str(root)),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), env


# the lane's products that only score with a champion (no product writes to its store) share one
_SCORING = []
_SCORING_LOCK = threading.Lock()


def scoring_champion(
    tmp_path_factory, environ: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Return `champion_apart`'s champion and environment for a lane product that only scores with it.

    Made once, by the first product that asks; a lane thread asking meanwhile waits for it.
    """
    with _SCORING_LOCK:
        if not _SCORING:
            _SCORING.append(champion_apart(tmp_path_factory, environ))
        return _SCORING[0]


@pytest.fixture(scope="module")
def batch_text(champion):
    """300 rows of the normalized data as text, without the target: a batch as it arrives."""
    import pandas as pd

    frame = pd.read_csv(champion["normalized"], dtype=str, keep_default_na=False).head(300)
    return frame.drop(columns=["Status"])

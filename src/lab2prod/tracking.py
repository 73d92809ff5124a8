"""The MLflow edge: where lab2prod connects to the tracking store, logs runs and loads models.

Default store: SQLite `<project>/mlflow.db` with artifacts in `<project>/mlartifacts`;
`MLFLOW_TRACKING_URI` overrides it, as MLflow users expect.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from lab2prod import settings

PINNED = ("scikit-learn", "pandas", "numpy", "skops", "mlflow", "pyarrow", "scipy")


def use_store(root: Path) -> str:
    """Point MLflow at the project's tracking store and return its URI."""
    uri = settings.tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    return uri


def connect(root: Path, experiment: str) -> str:
    """Point MLflow at the project's store, create `experiment` when absent, and return its id."""
    uri = use_store(root)
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:") or uri.startswith("file:"):
        location = f"{settings.artifact_root(root)}/{experiment}"
    experiment_id = client.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


# a copy of the project (repro-check's builds, the tests' builds) is no git repository: the copy
# records here the commit it was made from (release/repro.py copy_project), and git_commit reads it
COMMIT_FILE = ".lab2prod-commit"


def git_commit(root: Path) -> str:
    """Return the project's git commit (with `-dirty` when files differ from it), the commit a copy was made from, or 'unknown'."""
    recorded = Path(root) / COMMIT_FILE
    if recorded.is_file():
        return recorded.read_text(encoding="utf-8").strip() or "unknown"
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def package_versions() -> dict[str, str]:
    """Return the exact versions of the packages a model depends on, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PINNED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def pip_requirements() -> list[str]:
    """Return exact pins for the logged model's environment (explicit: MLflow's inference costs seconds)."""
    return [f"{name}=={version}" for name, version in package_versions().items() if name != "python"]


def log_dataset(frame: pd.DataFrame, name: str, source: str, target: str, digest: str, context: str) -> None:
    """Log a dataset into the active run with the lake's content digest (SHA-256 of the normalized file)."""
    dataset = mlflow.data.from_pandas(frame, source=source, targets=target, name=name, digest=digest[:32])
    mlflow.log_input(dataset, context=context)


def log_sklearn_model(model: Any, example: pd.DataFrame, trusted: list[str], predict_fn: str) -> str:
    """Log a fitted sklearn model with skops, a signature, an input example and pinned requirements; return its URI."""
    signature = infer_signature(example, getattr(model, predict_fn)(example))
    info = mlflow.sklearn.log_model(
        model, name="model", serialization_format="skops", skops_trusted_types=trusted,
        signature=signature, input_example=example.head(5), pip_requirements=pip_requirements(),
        pyfunc_predict_fn=predict_fn,
    )
    return info.model_uri


def load_sklearn_model(uri: str) -> Any:
    """Return the sklearn model stored at an MLflow model URI (models:/..., runs:/...)."""
    return mlflow.sklearn.load_model(uri)


def log_json(data: Any, artifact_file: str) -> None:
    """Store `data` as a JSON artifact of the active run."""
    mlflow.log_text(json.dumps(data, indent=2, sort_keys=True, default=str), artifact_file)


def run_data(run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """Return (metrics, params, tags) of a run."""
    run = MlflowClient().get_run(run_id)
    return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)

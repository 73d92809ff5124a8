"""The MLflow edge: where lab2prod connects to the tracking store, logs runs and loads models.

Default store: SQLite `<project>/mlflow.db` with artifacts in `<project>/mlartifacts`;
`MLFLOW_TRACKING_URI` overrides it, as MLflow users expect.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from collections.abc import Iterator
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
    from lab2prod.tracking_server import check_reachable

    uri = settings.tracking_uri(root)
    check_reachable(uri)
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
    if uri.startswith(("sqlite:", "file:")):
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
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
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
    return [
        f"{name}=={version}" for name, version in package_versions().items() if name != "python"
    ]


def log_dataset(
    frame: pd.DataFrame, name: str, source: str, target: str, digest: str, context: str
) -> None:
    """Log a dataset into the active run with the lake's content digest (SHA-256 of the normalized file)."""
    dataset = mlflow.data.from_pandas(
        frame, source=source, targets=target, name=name, digest=digest[:32]
    )
    mlflow.log_input(dataset, context=context)


def log_sklearn_model(
    model: Any, example: pd.DataFrame, trusted: list[str], predict_fn: str
) -> str:
    """Log a fitted sklearn model with skops, a signature, an input example and pinned requirements; return its URI."""
    signature = infer_signature(example, getattr(model, predict_fn)(example))
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        serialization_format="skops",
        skops_trusted_types=trusted,
        signature=signature,
        input_example=example.head(5),
        pip_requirements=pip_requirements(),
        pyfunc_predict_fn=predict_fn,
    )
    return info.model_uri


def load_sklearn_model(uri: str) -> Any:
    """Return the sklearn model stored at an MLflow model URI (models:/..., runs:/...), loaded with skops.

    The types skops may trust are lab2prod's (estimators.load_model_dir), not whatever the model lists.
    """
    import tempfile

    from lab2prod.modeling.estimators import load_model_dir

    with tempfile.TemporaryDirectory(prefix="lab2prod-model-") as folder:
        return load_model_dir(_download_model(uri, Path(folder)))


def _download_model(uri: str, folder: Path) -> Path:
    """Copy the files of the model at `uri` into `folder` (quietly) and return the model's folder."""
    with _no_progress_bar():
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))


@contextlib.contextmanager
def _no_progress_bar() -> Iterator[None]:
    """Silence MLflow's download progress bar (a few small files; it would clutter notebooks and logs)."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def fetch_model(uri: str, folder: Path, tracking_uri: str | None = None) -> dict[str, Any]:
    """Resolve a model URI through the registry and copy the model's files (MLmodel, model.skops ...) into `folder`.

    ``models:/<name>@<alias>`` and ``models:/<name>/<version>`` resolve through
    the registry; other URIs (``runs:/``, ``models:/m-...``) keep an empty name
    and version. Returns name, version, run_id, the run's logged ``threshold``
    parameter (None when absent) and ``path``, the local model folder. Raises
    RegistryError (one line) when the model cannot be found or read.
    """
    from mlflow.exceptions import MlflowException

    from lab2prod.errors import RegistryError

    client = MlflowClient(tracking_uri)
    name = version = run_id = ""
    try:
        if uri.startswith("models:/") and not uri.startswith("models:/m-"):
            ref = uri[len("models:/") :]
            if "@" in ref:
                name, alias = ref.split("@", 1)
                found = client.get_model_version_by_alias(name, alias)
            else:
                name, _, number = ref.partition("/")
                found = client.get_model_version(name, number)
            version, run_id = str(found.version), found.run_id or ""
        elif uri.startswith("runs:/"):
            run_id = uri[len("runs:/") :].split("/", 1)[0]
        if tracking_uri:
            mlflow.set_tracking_uri(
                tracking_uri
            )  # download_artifacts resolves models:/ against the current store
        path = _download_model(uri, folder)
    except MlflowException as exc:
        message = str(exc.message).splitlines()[0] if exc.message else type(exc).__name__
        raise RegistryError(
            f"cannot load model {uri}: {message}: train and register a model first (ploomber build)"
        ) from None
    except OSError as exc:
        raise RegistryError(
            f"cannot load model {uri}: {exc}: check the tracking store (MLFLOW_TRACKING_URI)"
        ) from None
    threshold = None
    if run_id:
        try:
            raw = client.get_run(run_id).data.params.get("threshold")
            threshold = float(raw) if raw is not None else None
        except (MlflowException, ValueError):
            threshold = None
    return {
        "name": name,
        "version": version,
        "run_id": run_id,
        "threshold": threshold,
        "path": str(path),
    }


def log_json(data: Any, artifact_file: str) -> None:
    """Store `data` as a JSON artifact of the active run."""
    mlflow.log_text(json.dumps(data, indent=2, sort_keys=True, default=str), artifact_file)


def run_data(run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """Return (metrics, params, tags) of a run."""
    run = MlflowClient().get_run(run_id)
    return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)

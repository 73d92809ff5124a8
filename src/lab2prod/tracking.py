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
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import ColSpec, Schema

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


@dataclass(frozen=True)
class LoggedRun:
    """The MLflow run of one training and the URI of the model it logged."""

    run_id: str
    model_uri: str


def log_training_run(
    trained: Any,
    train: pd.DataFrame,
    contract: Any,
    *,
    run_name: str,
    threshold: float = 0.5,
    counts: dict[str, int] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    data_source: str | None = None,
    data_sha256: str | None = None,
    parent_run_id: str | None = None,
    experiment_id: str | None = None,
) -> LoggedRun:
    """Log one training as an MLflow run (params, metrics, tags, dataset, model); return the run and model.

    `trained` is a `lab2prod.modeling.training.Trained`. Params: family, seed, threshold, the row
    `counts` and ``model.<param>``; metrics as named by the caller (``valid_roc_auc``, ``test_rmse``);
    tags: dataset, task, ``version.<package>``, and `tags`. With `data_source` and `data_sha256` the
    training rows are logged as the run's input dataset (the lake's SHA-256, not MLflow's digest).
    The model is saved with skops and a signature typed as the lake stores the data
    (`features.signature_frame`), so MLflow's own clients accept its files.
    """
    from lab2prod.modeling.estimators import trusted_types
    from lab2prod.modeling.features import signature_frame

    with mlflow.start_run(
        run_name=run_name, parent_run_id=parent_run_id, experiment_id=experiment_id
    ) as run:
        mlflow.log_params(
            {
                "family": trained.family,
                "seed": trained.seed,
                "threshold": threshold,
                **(counts or {}),
                **{f"model.{k}": v for k, v in trained.params.items()},
            }
        )
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "dataset": contract.dataset,
                "task": contract.task,
                **({"data.sha256": data_sha256} if data_sha256 else {}),
                **{f"version.{k}": v for k, v in package_versions().items()},
                **(tags or {}),
            }
        )
        if data_source and data_sha256:
            log_dataset(
                train, contract.dataset, data_source, contract.target, data_sha256, "training"
            )
        example = signature_frame(train.head(50), contract)
        model_uri = log_sklearn_model(
            trained.model,
            example,
            trusted_types(trained.family),
            "predict_proba" if contract.task == "classification" else "predict",
            inputs=input_schema(example, contract),
        )
    return LoggedRun(run_id=run.info.run_id, model_uri=model_uri)


def input_schema(example: pd.DataFrame, contract: Any) -> Schema:
    """Return the model's MLflow input schema: the example's types, a column optional when the contract lets it be missing.

    Declared from the contract rather than inferred from a few rows, which would call a nullable
    column required whenever those rows happen to be complete.
    """
    kinds = {"i": "long", "f": "double"}
    columns = []
    for name in example.columns:
        rule = contract.rule(
            name.split("__", 1)[0]
        )  # a date's parts (<date>__year ...) follow the date
        columns.append(
            ColSpec(kinds.get(example[name].dtype.kind, "string"), name, required=not rule.nullable)
        )
    return Schema(columns)


def log_sklearn_model(
    model: Any,
    example: pd.DataFrame,
    trusted: list[str],
    predict_fn: str,
    inputs: Schema | None = None,
) -> str:
    """Log a fitted sklearn model with skops, a signature, an input example and pinned requirements; return its URI.

    The signature's inputs are `inputs` when given, else inferred from `example`.
    """
    with warnings.catch_warnings():
        # MLflow warns that an integer column cannot hold a missing value: the contract says which
        # integers are required (long) and which may be missing (double), see features.signature_frame
        warnings.filterwarnings("ignore", message=r"Hint: Inferred schema contains integer")
        signature = infer_signature(example, getattr(model, predict_fn)(example))
    if inputs is not None:
        signature = ModelSignature(inputs=inputs, outputs=signature.outputs)
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

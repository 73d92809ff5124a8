"""The MLflow edge: where lab2prod connects to the tracking store and logs runs (models are logged by
`lab2prod.model_logging`, found and loaded by `lab2prod.model_edge`).

Default store: SQLite `<project>/mlflow.db` with artifacts in `<project>/mlartifacts`;
`MLFLOW_TRACKING_URI` overrides it, as MLflow users expect.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from lab2prod import settings
from lab2prod.data.lake import Lake
from lab2prod.tracking_server import check_reachable

PINNED = ("scikit-learn", "pandas", "numpy", "skops", "mlflow", "pyarrow", "scipy")


def use_store(root: Path, uri: str = "") -> str:
    """Point MLflow at the project's tracking store (`uri`; "": the project's own) and return its URI."""

    uri = uri or settings.tracking_uri(root)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    return uri


# MLflow 3's UI opens an experiment on its GenAI "Traces" tab unless this tag names another kind;
# `custom_model_development` ("Model training" in its bundle) opens it on the runs table
EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def mark_model_training(client: MlflowClient, experiment_id: str, tags: dict[str, str]) -> None:
    """Tag an experiment as model training (so the MLflow UI opens it on its runs), unless it is already.

    `tags` are the experiment's tags as read: a person's own choice of kind is kept.
    """
    if EXPERIMENT_KIND_TAG not in tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)


def connect(root: Path, experiment: str, uri: str = "") -> str:
    """Point MLflow at the project's store (`uri`; "": its own), create `experiment` when absent, and return its id.

    The experiment is tagged as model training, so the MLflow UI opens it on its runs table.
    """
    uri = use_store(root, uri)
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        mark_model_training(client, found.experiment_id, found.tags or {})
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return found.experiment_id
    location = None
    if uri.startswith(("sqlite:", "file:")):
        location = f"{settings.artifact_root(root)}/{experiment}"
    experiment_id = client.create_experiment(
        experiment, artifact_location=location, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING}
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def build_run_name(dataset: str, commit: str, when: dt.datetime | None = None) -> str:
    """Return the name of a build's parent run: dataset, universal date and time, and short commit.

    Each build's run is told apart in the runs table: `build-<dataset> <YYYY-MM-DD HH:MM:SS> <commit>`.
    """
    when = when or dt.datetime.now(dt.timezone.utc)
    sha, _, rest = commit.partition("-")
    short = (sha[:7] + (f"-{rest}" if rest else "")) if sha != "unknown" else "no commit"
    return f"build-{dataset} {when:%Y-%m-%d %H:%M:%S} {short}"


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


def log_build_pages(run_id: str, lake: Lake, pages: list[Path]) -> list[str]:
    """Store a build's executed notebooks and report pages with its run; return the artifact paths.

    Each of the Lake's executed notebooks goes under `notebooks/` with its HTML page beside it
    (the MLflow UI previews HTML, an .ipynb only as JSON); the `pages` go under `reports/`.
    """
    logged = []
    with mlflow.start_run(run_id=run_id):
        for name in lake.executed_names():
            for path in (lake.executed_notebook(name), lake.notebook_page(name)):
                if path.is_file():
                    mlflow.log_artifact(str(path), artifact_path="notebooks")
                    logged.append(f"notebooks/{path.name}")
        for page in pages:
            mlflow.log_artifact(str(page), artifact_path="reports")
            logged.append(f"reports/{Path(page).name}")
    return logged


def log_json(data: Any, artifact_file: str) -> None:
    """Store `data` as a JSON artifact of the active run."""
    mlflow.log_text(json.dumps(data, indent=2, sort_keys=True, default=str), artifact_file)


def run_data(run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """Return (metrics, params, tags) of a run."""
    run = MlflowClient().get_run(run_id)
    return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)

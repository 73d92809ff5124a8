"""The model edge: the one place that parses model URIs and finds, copies and loads models.

Scoring, monitoring, promotion, retraining, the simulation and the notebooks ask here for a model;
nothing else reads ``models:/`` URIs or MLflow's registry to find one (`release/registry.py` moves
aliases, it does not load). Models are resolved through MLflow's own client, never by reading its
tables, and loaded with skops under lab2prod's allow-list (`modeling.estimators.load_model_dir`).

MLflow is imported inside the functions, not with this module: importing it costs seconds of one
core, and `lab2prod score` starts its worker processes before it asks (their imports overlap).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab2prod.errors import RegistryError

MODELS = "models:/"
RUNS = "runs:/"
CHAMPION = "champion"  # the alias production scores with


@dataclass(frozen=True)
class ModelURI:
    """What a model URI names: a registered version (by alias or number), a logged model or a run."""

    uri: str
    name: str = ""  # registered model name, for models:/<name>@<alias> and models:/<name>/<version>
    alias: str = ""
    version: str = ""
    run_id: str = ""  # for runs:/<run_id>/<path>

    @property
    def registered(self) -> bool:
        """Return True when the URI names a version of a registered model."""
        return bool(self.name)


def parse_model_uri(uri: str) -> ModelURI:
    """Return what `uri` names; a ``models:/`` or ``runs:/`` URI with nothing after it is refused.

    ``models:/m-<id>`` (a logged model) and any other scheme MLflow downloads (a path, ``s3://``)
    name no registered version: they keep an empty name.
    """
    if uri.startswith(MODELS) and not uri.startswith(f"{MODELS}m-"):
        ref = uri[len(MODELS) :]
        if "@" in ref:
            name, alias = ref.split("@", 1)
            if name and alias:
                return ModelURI(uri, name=name, alias=alias)
        else:
            name, _, version = ref.partition("/")
            if name and version and "/" not in version:
                return ModelURI(uri, name=name, version=version)
        raise RegistryError(
            f"model URI {uri!r} is not models:/<name>@<alias> nor models:/<name>/<version>"
        )
    if uri.startswith(RUNS):
        run_id = uri[len(RUNS) :].split("/", 1)[0]
        if not run_id:
            raise RegistryError(f"model URI {uri!r} names no run: use runs:/<run_id>/model")
        return ModelURI(uri, run_id=run_id)
    return ModelURI(uri)


def model_uri(name: str, alias: str = "", version: str | int = "") -> str:
    """Return the URI of a registered model's version, by `alias` or by `version` number (parse_model_uri's inverse)."""
    if not name or bool(alias) == bool(str(version)):
        raise RegistryError(
            f"model {name!r}: a model URI names one alias or one version (got alias {alias!r}, "
            f"version {version!r})"
        )
    return f"{MODELS}{name}@{alias}" if alias else f"{MODELS}{name}/{version}"


def champion_uri(name: str) -> str:
    """Return the URI of `name`'s champion, the version production scores with."""
    return model_uri(name, alias=CHAMPION)


@dataclass(frozen=True)
class Version:
    """A registered model version and the run that produced it."""

    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str] = field(default_factory=dict, compare=False)


def version_by_alias(name: str, alias: str, tracking_uri: str | None = None) -> Version | None:
    """Return the version of `name` that holds `alias`, or None when no version holds it."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        mv = MlflowClient(tracking_uri).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return Version(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        tags=dict(mv.tags or {}),
    )


@dataclass(frozen=True)
class ModelRef:
    """A loaded model and where it came from: the lineage every prediction carries."""

    model: Any
    uri: str
    name: str
    version: str
    run_id: str
    threshold: float | None = None


def recorded_threshold(data: Any) -> float | None:
    """Return the decision threshold a run's data (metrics, params) record: evaluate's `decision_threshold`, else the `threshold` param.

    The evaluate step logs `decision_threshold` when it chose the threshold on the validation
    split; a model trained elsewhere carries only the threshold parameter it trained with.
    """
    chosen = data.metrics.get("decision_threshold")
    if chosen is not None:
        return float(chosen)
    raw = data.params.get("threshold")
    return float(raw) if raw not in (None, "") else None


def run_threshold(run_id: str | None) -> float | None:
    """Return the decision threshold the training run `run_id` recorded (`recorded_threshold`), None when unknown."""
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return recorded_threshold(MlflowClient().get_run(run_id).data)
    except (MlflowException, ValueError):
        return None


def fetch_model(uri: str, folder: Path, tracking_uri: str | None = None) -> dict[str, Any]:
    """Resolve a model URI through MLflow and copy the model's files (MLmodel, model.skops ...) into `folder`.

    Returns name, version, run_id (empty for a logged model), the run's decision threshold
    (`recorded_threshold`; None when absent) and ``path``, the local model folder. Raises RegistryError (one
    line) when the model cannot be found or read.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    wanted = parse_model_uri(uri)
    client = MlflowClient(tracking_uri)
    version, run_id = wanted.version, wanted.run_id
    try:
        if wanted.alias:
            found = client.get_model_version_by_alias(wanted.name, wanted.alias)
        elif wanted.registered:
            found = client.get_model_version(wanted.name, wanted.version)
        if wanted.registered:
            version, run_id = str(found.version), found.run_id or ""
        if tracking_uri:  # download_artifacts resolves models:/ against the current store
            mlflow.set_tracking_uri(tracking_uri)
        with _no_progress_bar():
            path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder))
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
            threshold = recorded_threshold(client.get_run(run_id).data)
        except (MlflowException, ValueError):
            threshold = None
    return {
        "name": wanted.name,
        "version": version,
        "run_id": run_id,
        "threshold": threshold,
        "path": str(path),
    }


def load_model(uri: str, tracking_uri: str | None = None, in_child: bool = False) -> ModelRef:
    """Load the sklearn model at an MLflow URI with its registered name, version, run and threshold.

    `in_child`: MLflow resolves and copies the model (`fetch_model`) in a child process while this
    one imports skops and scikit-learn to load it: two imports of seconds of a core each, side
    by side instead of one after the other, and MLflow is never imported here. A plain
    subprocess, not multiprocessing: the caller's script is never run again in the child.
    """
    with tempfile.TemporaryDirectory(prefix="lab2prod-model-") as folder:
        if in_child:
            child = _start_fetch(uri, Path(folder), tracking_uri)
            try:
                from lab2prod.modeling.estimators import load_model_dir, warm_up_loading

                warm_up_loading()
                facts = _fetched(child, uri)
            finally:
                if child.poll() is None:  # interrupted here: the child goes with its folder
                    child.kill()
                    child.communicate()
        else:
            facts = fetch_model(uri, Path(folder), tracking_uri)
            from lab2prod.modeling.estimators import load_model_dir
        model = load_model_dir(Path(facts.pop("path")))
    return ModelRef(model=model, uri=uri, **facts)


def mlflow_imported() -> bool:
    """Return True when this process has imported MLflow already (a notebook, the simulation, a test).

    Fetching in a child then overlaps no import and only starts another interpreter.
    """
    return "mlflow" in sys.modules


def _start_fetch(uri: str, folder: Path, tracking_uri: str | None) -> subprocess.Popen:
    """Start `python -m lab2prod.model_edge URI FOLDER [TRACKING_URI]`: `fetch_model` in a child."""
    package = str(Path(__file__).resolve().parents[1])  # this lab2prod, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "lab2prod.model_edge", uri, str(folder), tracking_uri or ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _fetched(child: subprocess.Popen, uri: str) -> dict[str, Any]:
    """Return the facts the child printed, or raise its one-line RegistryError."""
    out, err = child.communicate()
    if child.returncode != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(_FAILED)]
        message = (
            errors[-1][len(_FAILED) :]
            if errors
            else f"cannot load model {uri}: "
            + (lines[-1] if lines else f"the fetching process exited {child.returncode}")
        )
        raise RegistryError(message)
    return json.loads(out.strip().splitlines()[-1])


_FAILED = "lab2prod.model_edge: "


def _fetch_main(argv: list[str]) -> int:
    """Print the model's facts as JSON (exit 0) or the RegistryError's line (exit 2), in the child.

    The child's side of `load_model(..., in_child=True)`.
    """
    uri, folder, tracking_uri = argv
    try:
        facts = fetch_model(uri, Path(folder), tracking_uri or None)
    except RegistryError as exc:
        print(f"{_FAILED}{exc}", file=sys.stderr)
        return 2
    print(json.dumps(facts))
    return 0


def load_sklearn_model(uri: str, tracking_uri: str | None = None) -> Any:
    """Return the sklearn model stored at an MLflow model URI (models:/..., runs:/...), loaded with skops.

    The types skops may trust are lab2prod's (estimators.load_model_dir), not whatever the model lists.
    """
    return load_model(uri, tracking_uri).model


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


if __name__ == "__main__":
    sys.exit(_fetch_main(sys.argv[1:]))

"""The registry edge: model versions and their aliases (champion, challenger, previous) in MLflow."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from lab2prod.errors import RegistryError

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


@dataclass(frozen=True)
class Version:
    """A registered model version and the run that produced it."""

    name: str
    version: str
    run_id: str | None
    source: str


def register(model_uri: str, name: str, tags: dict[str, str] | None = None) -> Version:
    """Register the model at `model_uri` as a new version of `name`; return it."""
    mv = mlflow.register_model(model_uri, name, tags=tags)
    return Version(name=name, version=str(mv.version), run_id=mv.run_id, source=mv.source)


def version_by_alias(name: str, alias: str) -> Version | None:
    """Return the version of `name` that holds `alias`, or None when no version holds it."""
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return Version(name=name, version=str(mv.version), run_id=mv.run_id, source=mv.source)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point `alias` of model `name` at `version`."""
    try:
        MlflowClient().set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(f"cannot set alias {alias!r} of model {name!r} to version {version}: {exc.message}") from None


def promote(name: str, version: str) -> Version | None:
    """Make `version` the champion; the one it replaces keeps alias `previous`. Return the replaced one."""
    old = version_by_alias(name, CHAMPION)
    if old is not None and old.version == str(version):
        return None
    if old is not None:
        set_alias(name, PREVIOUS, old.version)
    set_alias(name, CHAMPION, version)
    return old


def tag_version(name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a model version (the gate's decision, its numbers)."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))

"""Find a registered model in MLflow's own SQLite store without importing MLflow: milliseconds, not seconds.

Every `lab2prod score` run resolves ``models:/<name>@<alias>`` (or
``models:/<name>/<version>``). Asked through MLflow, that costs about 4 s of
one core: importing MLflow (2 s, most of it `mlflow.genai`) and opening its
SQLAlchemy store (1.5 s, alembic included) before one row is read. This module
reads the few rows needed with the standard library, read-only, and answers
only where its answer is MLflow's own:

- the tracking URI is a ``sqlite:///`` file that exists;
- its schema is the revision the pinned MLflow writes (`SCHEMA_REVISION`);
- MLflow runs single-tenant (no workspaces), as lab2prod's stores do;
- the alias or version names a version that is not deleted, and the
  version's files sit in a local folder (``file://`` or a path).

Anything else (an MLflow server, PostgreSQL, ``latest``, a stage name, a
store written by another MLflow, a lookup that finds nothing) returns None and
the caller asks MLflow, which also gives the error messages.
`tests/scoring/test_registry_lookup.py` holds the answers to MLflow's.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

# The newest migration of the pinned MLflow (3.17.2). A store at another revision goes through MLflow;
# a test fails when a new MLflow writes another one, so that this line is updated on purpose.
SCHEMA_REVISION = "dc11669786a5"
DEFAULT_WORKSPACE = "default"  # mlflow.utils.workspace_utils.DEFAULT_WORKSPACE_NAME
STAGE_DELETED_INTERNAL = "Deleted_Internal"  # mlflow.entities.model_registry.model_version_stages


def lookup(uri: str, tracking_uri: str | None, workspaces: bool = False) -> dict[str, Any] | None:
    """Return name, version, run_id, threshold and path (the local model folder) of a registered model, or None.

    The same facts as `lab2prod.tracking.fetch_model`, read from the SQLite
    store directly; `path` is the version's own folder, as MLflow logged it
    (not copied: MLflow never changes it; a download would add only
    `registered_model_meta`). None means "ask MLflow": the store, the URI or the model is not one
    this function can answer for exactly. `workspaces` is True when MLflow
    workspaces are switched on (settings.mlflow_workspaces).
    """
    if workspaces or tracking_uri is None:
        return None
    wanted = _registry_ref(uri)
    database = _sqlite_file(tracking_uri)
    if wanted is None or database is None:
        return None
    name, alias, number = wanted
    try:
        connection = sqlite3.connect(f"file:{quote(str(database))}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error:
        return None
    try:
        return _read(connection, name, alias, number)
    except (
        sqlite3.Error
    ):  # locked, damaged, or tables not as expected: MLflow will say what is wrong
        return None
    finally:
        connection.close()


def _read(
    connection: sqlite3.Connection, name: str, alias: str | None, number: int | None
) -> dict[str, Any] | None:
    revision = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    if revision != [(SCHEMA_REVISION,)]:
        return None
    if alias is not None:
        row = connection.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ? AND workspace = ?",
            (name, alias, DEFAULT_WORKSPACE),
        ).fetchone()
        if row is None:
            return None
        number = int(row[0])
    row = connection.execute(
        "SELECT version, run_id, storage_location, source FROM model_versions "
        "WHERE name = ? AND version = ? AND current_stage != ? AND workspace = ?",
        (name, number, STAGE_DELETED_INTERNAL, DEFAULT_WORKSPACE),
    ).fetchone()
    if row is None:
        return None
    version, run_id, storage_location, source = row
    # what MLflow downloads: SqlAlchemyStore.get_model_version_download_uri
    folder = _local_folder(storage_location or source or "")
    if folder is None or not (folder / "MLmodel").is_file():
        return None
    threshold = None
    if run_id:
        found = connection.execute(
            "SELECT value FROM params WHERE run_uuid = ? AND key = 'threshold'", (run_id,)
        ).fetchone()
        try:
            threshold = float(found[0]) if found is not None else None
        except (TypeError, ValueError):
            threshold = None
    return {
        "name": name,
        "version": str(version),
        "run_id": run_id or "",
        "threshold": threshold,
        "path": str(folder),
    }


def _registry_ref(uri: str) -> tuple[str, str | None, int | None] | None:
    """Split ``models:/<name>@<alias>`` or ``models:/<name>/<number>`` into (name, alias, number); None otherwise."""
    if not uri.startswith("models:/") or uri.startswith("models:/m-"):
        return None
    ref = uri[len("models:/") :]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        if not name or not alias or "/" in alias or alias.lower() == "latest":
            return None
        return name, alias, None
    name, _, number = ref.partition("/")
    if not name or not (
        number.isascii() and number.isdigit()
    ):  # stages ("Production") and "latest": MLflow
        return None
    return name, None, int(number)


def _sqlite_file(tracking_uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI (relative paths from the working folder, as SQLAlchemy)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or "?" in tracking_uri:
        return None
    path = Path(tracking_uri[len(prefix) :])
    return path if str(path) not in ("", ".") and path.is_file() else None


def _local_folder(location: str) -> Path | None:
    if location.startswith("file://"):
        parsed = urlparse(location)
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path))
    if location.startswith("/"):
        return Path(location)
    return None

"""registry_lookup reads MLflow's SQLite store without MLflow and gives MLflow's answer, or None ("ask MLflow").

Parity with `tracking.fetch_model` on the session's champion, the schema
revision the pinned MLflow writes, every case the lookup must leave to MLflow,
and that the store is only read.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from lab2prod import tracking
from lab2prod.scoring import registry_lookup
from lab2prod.scoring.registry_lookup import lookup

# MLflow writes this file (model name and version) into its copy when downloading a registered model;
# it is no model file, and lookup returns the same facts itself
DOWNLOAD_NOTE = "registered_model_meta"


def _database(champion) -> Path:
    return Path(champion["root"]) / "mlflow.db"


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _copy_store(champion, tmp_path: Path, statement: str | None = None) -> str:
    """Copy the champion's mlflow.db into tmp_path, run `statement` on the copy, and return its tracking URI."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / "mlflow.db"
    shutil.copyfile(_database(champion), copy)
    if statement is not None:
        with sqlite3.connect(copy) as connection:
            assert connection.execute(statement).rowcount > 0, f"{statement!r} changed no row"
        connection.close()
    return f"sqlite:///{copy}"


@pytest.mark.parametrize("by", ["alias", "version"])
def test_lookup_gives_mlflows_answer_and_the_same_model_files(champion, tmp_path, by):
    uri = champion["model_uri"] if by == "alias" else f"models:/credit-risk/{champion['version']}"
    expected = tracking.fetch_model(uri, tmp_path / "mlflow", champion["tracking_uri"])
    found = lookup(uri, champion["tracking_uri"])
    assert found is not None, f"lookup left {uri} to MLflow"
    facts = ("name", "version", "run_id", "threshold")
    assert {k: found[k] for k in facts} == {k: expected[k] for k in facts}
    assert found["threshold"] == 0.5 and found["version"] == str(champion["version"])
    ours, theirs = _files(Path(found["path"])), _files(Path(expected["path"]))
    assert theirs.pop(DOWNLOAD_NOTE, None) is not None and DOWNLOAD_NOTE not in ours
    assert "MLmodel" in ours and any(name.endswith(".skops") for name in ours)
    assert sorted(ours) == sorted(theirs), "lookup's folder holds other files than MLflow copies"
    assert ours == theirs, "a model file differs from MLflow's copy"


def test_pinned_mlflow_writes_the_schema_revision_lookup_expects(champion):
    with sqlite3.connect(_database(champion)) as connection:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    assert rows == [(registry_lookup.SCHEMA_REVISION,)], (
        f"MLflow writes schema {rows}, registry_lookup expects {registry_lookup.SCHEMA_REVISION!r}: after an MLflow "
        "upgrade, check the registry tables (model_versions, registered_model_aliases, params) still read the same, "
        "then update SCHEMA_REVISION"
    )


@pytest.mark.parametrize(
    "uri",
    [
        "models:/credit-risk@nobody",
        "models:/no-such-model@champion",
        "models:/no-such-model/1",
        "models:/credit-risk/999",
        "models:/credit-risk@latest",
        "models:/credit-risk/latest",
        "models:/credit-risk/Production",
        "runs:/{run_id}/model",
        "models:/m-123",
    ],
)
def test_uris_lookup_cannot_answer_exactly_go_to_mlflow(champion, uri):
    assert lookup(uri.format(run_id=champion["run_id"]), champion["tracking_uri"]) is None


@pytest.mark.parametrize(
    "store",
    ["http://127.0.0.1:5000", "{tracking_uri}?timeout=5", "sqlite:///{root}/missing.db", None],
)
def test_stores_that_are_not_a_local_sqlite_file_go_to_mlflow(champion, store):
    tracking_uri = store.format(**champion) if store else None
    assert lookup(champion["model_uri"], tracking_uri) is None


def test_workspaces_go_to_mlflow(champion):
    assert lookup(champion["model_uri"], champion["tracking_uri"]) is not None
    assert lookup(champion["model_uri"], champion["tracking_uri"], workspaces=True) is None


def test_store_written_by_another_mlflow_goes_to_mlflow(champion, tmp_path):
    assert lookup(champion["model_uri"], _copy_store(champion, tmp_path / "same")) is not None
    other = _copy_store(
        champion, tmp_path, "UPDATE alembic_version SET version_num = '0123456789ab'"
    )
    assert lookup(champion["model_uri"], other) is None


def test_deleted_version_goes_to_mlflow(champion, tmp_path):
    store = _copy_store(
        champion, tmp_path, "UPDATE model_versions SET current_stage = 'Deleted_Internal'"
    )
    assert lookup(champion["model_uri"], store) is None
    assert lookup(f"models:/credit-risk/{champion['version']}", store) is None


def test_lookup_only_reads_the_store(champion, tmp_path):
    database = _database(champion)
    before = database.read_bytes()
    assert lookup(champion["model_uri"], champion["tracking_uri"]) is not None
    assert database.read_bytes() == before, "lookup changed mlflow.db"
    read_only = _copy_store(champion, tmp_path)
    (tmp_path / "mlflow.db").chmod(0o444)
    found = lookup(champion["model_uri"], read_only)
    assert found is not None and found["version"] == str(champion["version"])

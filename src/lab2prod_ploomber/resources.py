"""The files Ploomber hashes for `ingest`: whatever the catalog in use names, not a fixed list.

Ploomber re-runs a task when the content of a file in its `params: {resources_: {...}}`
changes (a `touch` alone does not). `pipeline.yaml` gives `resources_` as a dotted path
to `ingest_resources`, which Ploomber calls while it reads the spec (before it hashes the
files), so the files are read from the catalog of each build:

* one data file (bring your own data): that file;
* a catalog: the catalog itself, its contract, and every source's file. A SQLite source
  is its database file (any change in it, not only in the query's rows, re-runs ingest).
  A SQL source on a server has no file: its query runs once per `ploomber build` and the
  SHA-256 of its result is written to `<products>/source_digests/<source>.sha256`, which
  is hashed in its place (so a changed result re-runs ingest; an unchanged one does not).
  A `python` adapter is its module's file: a code change re-runs ingest, but data it
  fetches from elsewhere is not seen; after such a change run `ploomber build --force`
  (or `ploomber task ingest --force`, then `ploomber build`).

A source whose file is missing, or whose secret (`url_env`) is unset, is left out here:
ingest then stops on it with its one-line message instead of Ploomber with a traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from lab2prod import settings
from lab2prod.data.catalog import is_catalog
from lab2prod.data.lake import atomic_write_text
from lab2prod.data.sources import query_sql, sql_timeouts
from lab2prod.errors import Lab2ProdError


def ingest_resources(
    data: str, contract: str = "", root: str = ".", products: str = "products"
) -> dict[str, str]:
    """Return `{name: absolute path}` of every file whose content ingest depends on, for `resources_`."""
    base = Path(root)
    data_path = settings.resolve(base, data)
    if not is_catalog(data_path):
        return {"data": str(data_path)} if data_path.is_file() else {}
    found = {"catalog": data_path}
    if contract:
        found["contract"] = settings.resolve(base, contract)
    try:
        catalog = settings.load_catalog(data_path)
    except Lab2ProdError:
        catalog = None  # ingest stops on it with the one-line message
    for spec in catalog.sources if catalog else ():
        path = _source_file(spec, settings.resolve(base, products))
        if path is not None:
            found[f"source_{spec.name}"] = path
    return {name: str(path) for name, path in found.items() if Path(path).is_file()}


def _source_file(spec, products: Path) -> Path | None:
    if spec.format == "python":
        module = (spec.function or "").partition(":")[0]
        try:
            found = importlib.util.find_spec(module) if module else None
        except (ImportError, ValueError):
            found = None
        return Path(found.origin) if found is not None and found.origin else None
    if spec.format != "sql":
        return spec.path
    if not spec.url or not spec.query:
        return None
    if spec.url.startswith("sqlite:///"):
        return Path(spec.url[len("sqlite:///") :])
    return _query_digest(spec, products)


def _query_digest(spec, products: Path) -> Path | None:
    """Run a server source's query, write the SHA-256 of its result beside the products, return that file."""

    try:
        table = query_sql(spec.url, spec.query, **sql_timeouts(spec.options, spec.name))
    except Lab2ProdError:
        return None  # the server is unreachable: ingest says so in one line
    digest = hashlib.sha256(
        table.to_csv(index=False, lineterminator="\n").encode("utf-8")
    ).hexdigest()
    path = products / "source_digests" / f"{spec.name}.sha256"
    if not path.is_file() or path.read_text(encoding="utf-8").strip() != digest:
        atomic_write_text(path, digest + "\n")
    return path


def existing_files(root: str = ".", **paths: str) -> dict[str, str]:
    """Return `{name: absolute path}` of those `paths` (relative to `root`) that are files, for `resources_`.

    Ploomber refuses a `resources_` file that does not exist yet with a traceback, even for
    `ploomber plot` or `ploomber status`: the scoring pipeline's batch is the training build's
    output, absent in a fresh clone. A missing one is left out (nothing to hash); `score` then
    names it in one line. Raises ValueError when `paths` is empty (a spec with nothing to hash).
    """
    if not paths:
        raise ValueError("existing_files: name at least one file to hash (name: path)")
    base = Path(root)
    found = {name: settings.resolve(base, path) for name, path in paths.items()}
    return {name: str(path) for name, path in found.items() if path.is_file()}

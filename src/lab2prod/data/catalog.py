"""The source catalog: which sources make one dataset, how to read each, and the key that joins them.

Pure: it turns a mapping (read from YAML by `lab2prod.settings`) into typed values and never reads a
file or the environment itself; a secret named by `url_env` comes through the `secret` callable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab2prod.errors import ConfigError

FORMATS = ("csv", "jsonl", "parquet", "excel", "sql", "python")
CATALOG_SUFFIXES = (".yaml", ".yml")
_FILE_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "excel",
}


@dataclass(frozen=True)
class SourceSpec:
    """One declared source: where it is and how to read it."""

    name: str
    format: str
    path: Path | None = None
    url: str | None = None
    query: str | None = None
    function: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """The declared sources of one dataset and the key that joins them."""

    key: str | None
    sources: tuple[SourceSpec, ...]
    location: Path


def _no_secrets(name: str) -> str:
    raise ConfigError(f"a source names secret {name}, but no secret reader was given")


def catalog_from_dict(
    data: dict[str, Any],
    location: str | os.PathLike,
    secret: Callable[[str], str] = _no_secrets,
) -> Catalog:
    """Return the catalog a mapping declares; relative paths are taken from `location`'s folder."""
    path = Path(location).resolve()
    entries = data.get("sources")
    if not entries or not isinstance(entries, list):
        raise ConfigError(f"{path}: 'sources' must list at least one source")
    specs = []
    for i, entry in enumerate(entries):
        name = entry.get("name") or f"source{i + 1}"
        fmt = entry.get("format")
        if fmt not in FORMATS:
            raise ConfigError(
                f"{path}: source '{name}' has format {fmt!r}; use one of {', '.join(FORMATS)}"
            )
        url = entry.get("url")
        if entry.get("url_env"):
            url = secret(entry["url_env"])
        if url and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            url = "sqlite:///" + str(path.parent / url[len("sqlite:///") :])
        specs.append(
            SourceSpec(
                name=name,
                format=fmt,
                path=(path.parent / entry["path"]).resolve() if entry.get("path") else None,
                url=url,
                query=entry.get("query"),
                function=entry.get("function"),
                options=dict(entry.get("options") or {}),
            )
        )
    if len(specs) > 1 and not data.get("key"):
        raise ConfigError(f"{path}: several sources need a 'key' column to join them")
    return Catalog(key=data.get("key"), sources=tuple(specs), location=path)


def single_file_catalog(path: str | os.PathLike, key: str | None = None) -> Catalog:
    """Return a catalog of one file (bring your own data), its format taken from the file's suffix."""
    path = Path(path).resolve()
    suffix = path.suffix.lower()
    if suffix == ".gz":  # compressed text: the suffix before says which (data.sources reads gzip)
        suffix = "".join(path.suffixes[-2:]).lower()
    fmt = _FILE_FORMATS.get(suffix)
    if fmt is None:
        raise ConfigError(
            f"{path}: cannot tell the format from suffix {suffix!r}; "
            "use .csv, .csv.gz, .jsonl, .parquet or .xlsx"
        )
    return Catalog(
        key=key or None, sources=(SourceSpec(name=path.stem, format=fmt, path=path),), location=path
    )


def is_catalog(path: str | os.PathLike) -> bool:
    """Return True when `path` names a source catalog (YAML) rather than one data file."""
    return Path(path).suffix.lower() in CATALOG_SUFFIXES

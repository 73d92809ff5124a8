"""Source adapters: read one landed file or table into a frame of text cells, keeping line numbers.

Every adapter returns a :class:`Frame`: the rows it could read (all values as
text or missing, so that the contract decides types by name, never pandas by
guess) with a ``_line`` column, plus the rows it had to reject with a reason.
The readers live in `lab2prod.data.readers`, one module a format; this module
picks one by suffix and is where the rest of lab2prod imports them from.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.data.catalog import SourceSpec
from lab2prod.data.cells import LINE
from lab2prod.data.files import check_file
from lab2prod.data.readers.base import DEFAULT_CHUNK_ROWS, Frame, _joined
from lab2prod.data.readers.delimited import iter_csv, read_csv, read_csv_header
from lab2prod.data.readers.excel import (
    excel_sheets,
    iter_excel,
    read_excel,
    read_excel_header,
    sheet_hint,
)
from lab2prod.data.readers.jsonl import iter_jsonl, read_jsonl
from lab2prod.data.readers.parquet import iter_parquet, read_parquet, read_parquet_header
from lab2prod.data.readers.sql import mask_credentials, query_sql, sql_timeouts
from lab2prod.errors import SourceError

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "LINE",
    "SUFFIXES",
    "Frame",
    "call_adapter",
    "check_file",
    "excel_sheets",
    "extract",
    "file_format",
    "iter_csv",
    "iter_excel",
    "iter_file",
    "iter_jsonl",
    "iter_parquet",
    "mask_credentials",
    "query_sql",
    "read_csv",
    "read_csv_header",
    "read_excel",
    "read_excel_header",
    "read_file",
    "read_header",
    "read_jsonl",
    "read_landed",
    "read_parquet",
    "sheet_hint",
    "sql_timeouts",
]


# ---------------------------------------------------------------------------- reading files
#
# One reader for ingest, `lab2prod validate`, `lab2prod contract infer` and scoring: every format is
# read in chunks of text cells with their line numbers (`iter_file`); `read_file` joins the chunks of a
# whole file. Same options, same messages, same line numbers, whoever reads.

SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv",
    ".txt.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "excel",
}


def file_format(path: str | Path) -> str:
    """Return the adapter a file's suffix names (csv, jsonl, parquet, excel; `.gz` for compressed text)."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    for key in ("".join(suffixes), suffixes[-1] if suffixes else ""):
        if key in SUFFIXES:
            return SUFFIXES[key]
    raise SourceError(
        f"{path}: unknown suffix {''.join(path.suffixes[-2:]) or path.name!r}: "
        "use .csv, .csv.gz, .jsonl, .parquet or .xlsx"
    )


def read_file(path: str | Path, name: str | None = None, **options: Any) -> Frame:
    """Read a whole file with the adapter its suffix names (.csv, .csv.gz, .jsonl, .parquet, .xlsx).

    `options` (delimiter, decimal, encoding, quotechar for CSV; encoding for JSON lines; sheet for
    Excel) go to the adapter; an option the adapter does not take is refused.
    """
    frames = list(iter_file(path, name, chunk_rows=1 << 62, **options))
    return _joined(frames, Path(path).name if name is None else name)


def iter_file(
    path: str | Path, name: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS, **options: Any
) -> Iterator[Frame]:
    """Yield a file in chunks of text cells (pandas str, NaN where missing) with their lines, by suffix."""
    path = check_file(path)
    fmt = file_format(path)
    reader = {"csv": iter_csv, "jsonl": iter_jsonl, "parquet": iter_parquet, "excel": iter_excel}[
        fmt
    ]
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(reader).parameters) - {"path", "name", "chunk_rows"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        shown = "".join(path.suffixes[-2:]) if fmt in ("csv", "jsonl") else path.suffix
        raise SourceError(f"{path}: option {unknown[0]!r} does not apply to {shown.lower()} files")
    return reader(path, _stem(path) if name is None else name, chunk_rows=chunk_rows, **options)


def read_header(path: str | Path, **options: Any) -> list[str] | None:
    """Return the column names of a file without reading its rows; None for JSON lines.

    CSV: the header record, Parquet: the schema, Excel: the first row of the sheet. JSON lines have
    none: their keys vary by line.
    """
    path = check_file(path)
    fmt = file_format(path)
    options = {k: v for k, v in options.items() if v is not None}
    if fmt == "csv":
        keep = ("delimiter", "encoding", "quotechar")
        return read_csv_header(path, **{k: v for k, v in options.items() if k in keep})
    if fmt == "parquet":
        return read_parquet_header(path)
    if fmt == "excel":
        return read_excel_header(path, options.get("sheet", 0))
    return None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def call_adapter(function: str, options: dict[str, Any]) -> pd.DataFrame:
    """Call a user's adapter named ``package.module:function`` with the source's options; return its frame."""
    module_name, _, attr = function.partition(":")
    try:
        fn: Callable[..., pd.DataFrame] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise SourceError(
            f"adapter {function!r} cannot be imported: give it as 'module:function' on the Python path"
        ) from None
    table = fn(**options)
    if not isinstance(table, pd.DataFrame):
        raise SourceError(
            f"adapter {function!r} returned {type(table).__name__}, expected a pandas DataFrame"
        )
    return table


def extract(spec: SourceSpec) -> Path | pd.DataFrame:
    """Return what a source hands over: its file path, or the frame of a query or of a user's adapter."""
    if spec.format == "sql":
        if not spec.url or not spec.query:
            raise SourceError(
                f"source {spec.name!r}: a sql source needs 'url' (or 'url_env') and 'query'"
            )
        return query_sql(spec.url, spec.query, **sql_timeouts(spec.options, spec.name))
    if spec.format == "python":
        if not spec.function:
            raise SourceError(
                f"source {spec.name!r}: a python source needs 'function: module:function'"
            )
        return call_adapter(spec.function, spec.options)
    if spec.path is None or not (spec.path.exists() or spec.path.is_symlink()):
        raise SourceError(
            f"source {spec.name!r}: file {spec.path} not found: check 'path' in the catalog"
        )
    return check_file(spec.path)  # a FIFO, a device, a folder, a loop of links: one line


def read_landed(spec: SourceSpec, path: Path) -> Frame:
    """Read a file landed in the raw zone with the adapter its source declares."""
    opts = spec.options
    if spec.format in ("csv", "sql", "python"):
        # sql and python sources land as CSV written by lab2prod itself
        keep = {
            k: opts[k]
            for k in ("delimiter", "decimal", "encoding", "quotechar", "thousands")
            if k in opts and spec.format == "csv"
        }
        return read_csv(path, spec.name, **keep)
    if spec.format == "jsonl":
        return read_jsonl(path, spec.name, encoding=opts.get("encoding", "utf-8"))
    if spec.format == "parquet":
        return read_parquet(path, spec.name)
    if spec.format == "excel":
        return read_excel(path, spec.name, sheet=opts.get("sheet", 0))
    raise SourceError(f"source {spec.name!r}: unknown format {spec.format!r}")

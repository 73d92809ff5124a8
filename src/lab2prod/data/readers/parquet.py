"""Parquet files, read in batches of text cells; `_line` is the row number counted from 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lab2prod.data.files import check_file
from lab2prod.data.readers.base import (
    DEFAULT_CHUNK_ROWS,
    Frame,
    _arrow_text,
    _chunk_frame,
    _clean_header,
    _joined,
    check_kind,
)
from lab2prod.errors import SourceError


def iter_parquet(path: Path, name: str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Frame]:
    """Yield a Parquet file in chunks of text cells; `_line` is the row number counted from 1."""

    path = check_file(path)
    check_kind(path, "parquet")
    try:
        source = pq.ParquetFile(path)
        header = _clean_header(list(source.schema_arrow.names), path)
        first = 1
        for batch in source.iter_batches(batch_size=min(chunk_rows, 1 << 30)):
            if batch.num_rows:
                lines = np.arange(first, first + batch.num_rows, dtype="int64")
                first += batch.num_rows
                yield _chunk_frame(name, _arrow_text(_flat(batch), header, "."), lines, [])
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}): re-export it"
        ) from None
    if first == 1:
        raise SourceError(f"{path}: holds no rows")


def read_parquet(path: Path, name: str) -> Frame:
    """Read a Parquet file; `_line` is the row number counted from 1."""
    return _joined(list(iter_parquet(path, name, chunk_rows=1 << 62)), name)


def _flat(batch):
    """Return the batch with its nested columns (structs, lists, maps) as JSON text.

    A column the contract does not name is then dropped like any other extra column; one it names
    reads as text.
    """

    nested = [i for i, f in enumerate(batch.schema) if pa.types.is_nested(f.type)]
    if not nested:
        return batch
    columns = list(batch.columns)
    for i in nested:
        values = columns[i].to_pylist()
        columns[i] = pa.array(
            [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in values],
            pa.string(),
        )
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def read_parquet_header(path: Path) -> list[str]:
    """Return the column names of a Parquet file, from its schema."""

    path = check_file(path)
    check_kind(path, "parquet")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}): re-export it"
        ) from None
    return _clean_header(list(names), path)

"""JSON lines (plain or gzip): one object a line, read in chunks of text cells with their lines."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from lab2prod.data.files import check_file
from lab2prod.data.readers.base import (
    DEFAULT_CHUNK_ROWS,
    Frame,
    _bad_bytes,
    _chunk_frame,
    _clean_header,
    _joined,
    _Lines,
    _python_encoding,
    _reject,
    _text,
    check_kind,
)
from lab2prod.errors import SourceError


def iter_jsonl(
    path: Path, name: str, encoding: str = "utf-8", chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Frame]:
    """Yield JSON lines (plain or gzip), one object a line, in chunks.

    A line that is not a JSON object is rejected with its number.
    """
    path = check_file(path)
    check_kind(path, "jsonl")
    decoder = codecs.getincrementaldecoder(_python_encoding(encoding))()
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    rejected: list[dict[str, Any]] = []
    seen = 0
    source = _Lines(path)
    try:
        while raw := source.readline():
            number = source.line - 1
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                raise _bad_bytes(path, number, raw[exc.start], encoding) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                rejected.append(_reject(name, number, f"not valid JSON ({exc.msg})", text.strip()))
                obj = None
            else:
                if isinstance(obj, dict):
                    records.append({str(k).strip(): _text(v) for k, v in obj.items()})
                    lines.append(number)
                else:
                    rejected.append(_reject(name, number, "not a JSON object", text.strip()))
            if len(records) + len(rejected) >= chunk_rows:
                seen += len(records) + len(rejected)
                yield _json_frame(path, name, records, lines, rejected)
                records, lines, rejected = [], [], []
    finally:
        source.close()
    if records or rejected:
        seen += len(records) + len(rejected)
        yield _json_frame(path, name, records, lines, rejected)
    if not seen:
        raise SourceError(f"{path}: file is empty: expected one JSON object per line")


def _json_frame(path: Path, name: str, records, lines, rejected) -> Frame:
    header: dict[str, None] = {}
    for record in records:
        header.update(dict.fromkeys(record))
    columns = _clean_header(list(header), path) if header else []
    arrays = {c: pa.array([r.get(c) for r in records], pa.string()) for c in columns}
    return _chunk_frame(name, arrays, lines, rejected)


def read_jsonl(path: Path, name: str, encoding: str = "utf-8") -> Frame:
    """Read JSON lines, one object a line; a line that is not a JSON object is rejected with its number."""
    return _joined(list(iter_jsonl(path, name, encoding, chunk_rows=1 << 62)), name)

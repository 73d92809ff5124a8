"""What every reader shares: the Frame it returns, the checks of an input path, text cells and lines.

A reader turns every cell into text or missing (the contract types the cells by name, never pandas by
guess) and numbers each row with its line in the file (`_line`).
"""

from __future__ import annotations

import functools
import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lab2prod.data.cells import DECIMAL_COMMA, LINE, MISSING, grouped_number
from lab2prod.errors import SourceError


@dataclass
class Frame:
    """Rows read from one source (text cells, `_line` kept) and the rows rejected while reading."""

    name: str
    rows: pd.DataFrame
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _reject(source: str, line: int, reason: str, record: Any) -> dict[str, Any]:
    return {"source": source, "line": line, "reason": reason, "record": str(record)[:500]}


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return None if text in MISSING else text


def _clean_header(names: list[str], path: Path) -> list[str]:
    """Return the column names stripped, a line break inside one (a wrapped header cell) read as a space.

    Raises one line for an empty name, a name given twice, or two names that differ only in case or
    spaces (lab2prod matches column names ignoring both, so it cannot tell them apart).
    """
    clean = [" ".join(str(n).splitlines()).strip() for n in names]
    if any(not n for n in clean):
        raise SourceError(
            f"{path}: header has an empty column name at position {clean.index('') + 1}: name every column"
        )
    dupes = sorted({n for n in clean if clean.count(n) > 1})
    if dupes:
        raise SourceError(
            f"{path}: header repeats column {dupes[0]!r}: give every column a distinct name"
        )
    seen: dict[str, str] = {}
    for name in clean:
        key = " ".join(name.split()).lower()
        if key in seen:
            raise SourceError(
                f"{path}: header has columns {seen[key]!r} and {name!r}, whose names differ only in "
                "case or spaces: lab2prod matches names ignoring both: rename one"
            )
        seen[key] = name
    return clean


DEFAULT_CHUNK_ROWS = 100_000
_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 22
_WHOLE = 1 << 40  # a number of lines meaning the whole file (read_file asks for 1 << 62)


def _open_bytes(path: Path):
    """Open a file for reading bytes, through gzip when it starts with gzip's magic number."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != _GZIP_MAGIC:
        return open(path, "rb")

    return gzip.open(path, "rb")


def _python_encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _bad_bytes(path: Path, line: int, byte: int, encoding: str) -> SourceError:
    return SourceError(
        f"{path}: line {line}: byte 0x{byte:02x} is not valid {encoding}: "
        f"re-export as UTF-8 or set options.encoding (for example latin-1)"
    )


def _read_gzip_error(path: Path, exc: BaseException) -> SourceError:
    return SourceError(
        f"{path}: not a readable gzip file ({type(exc).__name__}: {exc}): compress it again"
    )


class _Lines:
    """The bytes of a text file in blocks of whole lines, with the number of the first line of each.

    Blocks read are kept in a list and joined once, when lines are handed out: a block of a million
    lines costs one copy of its bytes, not one per read.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fh = _open_bytes(path)
        self._rest = b""
        self._pos = 0  # where the bytes not handed out yet start in `_rest`
        self._read: list[bytes] = []  # blocks read after `_rest`, not joined to it yet
        self._breaks = 0  # line breaks in `_rest[_pos:]` and `_read`
        self.line = 1  # the number of the next line handed out
        self._eof = False

    def close(self) -> None:
        self._fh.close()

    def _fill(self, size: int = _BLOCK) -> bool:
        if self._eof:
            return False
        try:
            block = self._fh.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise _read_gzip_error(self.path, exc) from None
        if not block:
            self._eof = True
            return False
        self._read.append(block)
        self._breaks += block.count(b"\n")
        return True

    def _join(self) -> None:
        if self._read:
            head = [self._rest[self._pos :]] if self._pos < len(self._rest) else []
            parts = head + self._read
            self._rest = parts[0] if len(parts) == 1 else b"".join(parts)
            self._pos = 0
            self._read = []

    def _take(self, end: int, breaks: int) -> bytes:
        """Hand out `_rest[_pos:end]`, which holds `breaks` line breaks (a whole `_rest` is not copied)."""
        data = (
            self._rest if (self._pos, end) == (0, len(self._rest)) else self._rest[self._pos : end]
        )
        self._pos = end
        self._breaks -= breaks
        self.line += breaks + (1 if data and not data.endswith(b"\n") else 0)
        return data

    def readline(self) -> bytes:
        """Return the next line with its line break (b'' at the end of the file)."""
        while not self._breaks and self._fill():
            pass
        self._join()
        end = self._rest.find(b"\n", self._pos) + 1
        return self._take(end, 1) if end else self._take(len(self._rest), 0)

    def block(self, lines: int) -> tuple[bytes, int]:
        """Return up to `lines` whole lines as one bytes block, and the number of its first line."""
        first = self.line
        # a file wanted whole is read in one call, into one buffer of its size
        size = -1 if lines >= _WHOLE else _BLOCK
        while self._breaks < lines and self._fill(size):
            pass
        self._join()
        if self._breaks >= lines:
            view = np.frombuffer(self._rest, np.uint8, offset=self._pos)
            end = self._pos + int(np.flatnonzero(view == 10)[lines - 1]) + 1
            return self._take(end, lines), first
        # everything read so far: `lines` lines or the end of the file
        return self._take(len(self._rest), self._breaks), first

    def unread(self, data: bytes, first: int) -> None:
        """Put a block back in front (the reader switches to the line-by-line path from there)."""
        self._join()
        self._rest = data + self._rest[self._pos :]
        self._pos = 0
        self._breaks += data.count(b"\n")
        self.line = first


def _arrow_text(table, header: list[str], decimal: str, strip: bool = True, thousands=None):
    """Return Arrow columns of text cells cleaned as every adapter does.

    Cells are stripped, missing markers made nulls and a decimal comma made a point. `strip=False` is
    for cells Arrow parsed with the missing markers as nulls already, from bytes that hold no
    whitespace (`_may_need_stripping`): then only a decimal comma is left to fix.
    """

    columns = {}
    for name, column in zip(header, table.columns):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())
        if strip:
            column = pc.utf8_trim_whitespace(column)
            column = pc.if_else(pc.is_in(column, value_set=_missing_markers()), None, column)
        if thousands:
            # a number grouped by the declared thousands mark: the marks go, the decimal mark is a point
            grouped = pc.match_substring_regex(
                column, f"^(?:{grouped_number(thousands, decimal)})$"
            )
            fixed = pc.replace_substring(pc.replace_substring(column, thousands, ""), decimal, ".")
            column = pc.if_else(pc.fill_null(grouped, False), fixed, column)
        elif decimal != ".":
            comma = pc.match_substring_regex(column, f"^(?:{DECIMAL_COMMA.pattern})$")
            fixed = pc.replace_substring(pc.replace_substring(column, ".", ""), decimal, ".")
            column = pc.if_else(pc.fill_null(comma, False), fixed, column)
        columns[name] = column
    return columns


@functools.cache
def _missing_markers():
    return pa.array(sorted(MISSING), pa.string())


def _chunk_frame(name: str, columns: dict, lines, rejected: list[dict[str, Any]]) -> Frame:
    """Return a Frame of text cells (pandas str, NaN where missing) from cleaned Arrow columns."""

    table = pa.table(columns) if columns else pa.table({})
    rows = table.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)
    rows.insert(0, LINE, np.asarray(lines, dtype="int64"))
    return Frame(name=name, rows=rows, rejected=rejected)


def _joined(frames: list[Frame], name: str) -> Frame:
    """Return the chunks of one file as one Frame (pandas `str` cells, NaN where missing)."""
    rejected = [r for f in frames for r in f.rejected]
    parts = [f.rows for f in frames]
    rows = (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
    rows[LINE] = pd.array(rows[LINE].to_numpy(dtype="int64"), dtype="int64")
    return Frame(name=name, rows=rows, rejected=rejected)


# what a file's first bytes say it is, whatever its suffix: (magic, what it is, the suffix to give it)
_MAGIC = (
    (b"PK\x03\x04", "an Excel workbook or another zip archive", ".xlsx"),
    (b"PAR1", "a Parquet file", ".parquet"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls) or another old Office file", None),
    (b"\x1f\x8b", "gzip-compressed", None),
)
_EXPECTED = {
    "excel": (b"PK\x03\x04", "an Excel workbook (.xlsx)"),
    "parquet": (b"PAR1", "a Parquet file"),
}


def check_kind(path: Path, fmt: str) -> None:
    """Raise one line when the first bytes of `path` show it is not what its suffix (`fmt`) says.

    A CSV renamed .xlsx, a workbook renamed .csv. Text may be gzip-compressed.
    """
    with open(path, "rb") as fh:
        head = fh.read(512)
    binary = [(what, suffix) for magic, what, suffix in _MAGIC if head.startswith(magic)]
    if fmt in _EXPECTED:
        magic, expected = _EXPECTED[fmt]
        if head.startswith(magic):
            return
        if binary:
            what, suffix = binary[0]
        else:
            first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            kind = "JSON lines" if first.startswith("{") else "delimited text (CSV)"
            suffix = ".jsonl" if first.startswith("{") else ".csv"
            what = f"{kind}, first line {first[:60]!r}"
        todo = f"rename it to {suffix}" if suffix else "save it again in a format lab2prod reads"
        raise SourceError(f"{path}: is not {expected} but {what}: {todo}")
    if binary and binary[0][0] != "gzip-compressed":
        what, suffix = binary[0]
        todo = f"rename it to {suffix}" if suffix else "save it as .xlsx or CSV"
        raise SourceError(f"{path}: is {what}, not text: {todo}")

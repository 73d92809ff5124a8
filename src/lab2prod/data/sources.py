"""Source adapters: read one landed file or table into a frame of text cells, keeping line numbers.

Every adapter returns a :class:`Frame`: the rows it could read (all values as
text or missing, so that the contract decides types by name, never pandas by
guess) with a ``_line`` column, plus the rows it had to reject with a reason.
"""

from __future__ import annotations

import codecs
import csv
import functools
import importlib
import inspect
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab2prod.data.catalog import SourceSpec
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
    clean = [str(n).strip() for n in names]
    if any(not n for n in clean):
        raise SourceError(
            f"{path}: header has an empty column name at position {clean.index('') + 1}: name every column"
        )
    lowered = [n.lower() for n in clean]
    dupes = sorted({n for n in clean if lowered.count(n.lower()) > 1})
    if dupes:
        raise SourceError(
            f"{path}: header repeats column {dupes[0]!r}: give every column a distinct name"
        )
    return clean


# ---------------------------------------------------------------------------- reading files
#
# One reader for ingest, `lab2prod validate`, `lab2prod contract infer` and scoring: every format is
# read in chunks of text cells with their line numbers (`iter_file`); `read_file` joins the chunks of a
# whole file. Same options, same messages, same line numbers, whoever reads.

DEFAULT_CHUNK_ROWS = 100_000
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
_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 22
_WHOLE = 1 << 40  # a number of lines meaning the whole file (read_file asks for 1 << 62)


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


def check_file(path: str | Path) -> Path:
    """Return `path` when it is a readable file; else raise one line saying what it is and what to pass."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(
            p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
        )
        example = f" (for example {path / inside[0]})" if inside else ""
        raise SourceError(f"{path}: is a folder, not a file: pass one file of it{example}")
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise SourceError(
            f"{path}: cannot be read ({exc.strerror or exc}): check its permissions"
        ) from None
    return path


def _open_bytes(path: Path):
    """Open a file for reading bytes, through gzip when it starts with gzip's magic number."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != _GZIP_MAGIC:
        return open(path, "rb")
    import gzip

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


def _header(raw: bytes, path: Path, delimiter: str, quotechar: str, encoding: str) -> list[str]:
    try:
        text = raw.decode(_python_encoding(encoding))
    except UnicodeDecodeError as exc:
        raise _bad_bytes(path, 1, raw[exc.start], encoding) from None
    header = next(csv.reader([text], delimiter=delimiter, quotechar=quotechar), [])
    if len(header) == 1:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in header[0]:
                shown = "\\t" if other == "\t" else other
                raise SourceError(
                    f"{path}: header reads as one column but contains {shown!r}: set the delimiter "
                    f"to {shown!r} (options.delimiter in the catalog, --delimiter on the command line)"
                )
    return _clean_header(header, path)


# the ASCII bytes Arrow's utf8_trim_whitespace strips that can sit in a cell of a plain CSV block (a
# line break ends a row there, and a carriage return comes only before one)
_SPACES = (b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")


def _may_need_stripping(data: bytes) -> bool:
    """Return False when no cell of a plain CSV block can start or end with whitespace: no ASCII space
    of any kind, and no byte beyond ASCII (a Unicode space)."""
    return not data.isascii() or any(space in data for space in _SPACES)


def _arrow_text(table, header: list[str], decimal: str, strip: bool = True, thousands=None):
    """Return Arrow columns of text cells cleaned as every adapter does: stripped, missing markers as
    nulls, a decimal comma made a point.

    `strip=False` is for cells Arrow parsed with the missing markers as nulls already, from bytes that
    hold no whitespace (`_may_need_stripping`): then only a decimal comma is left to fix.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

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
    import pyarrow as pa

    return pa.array(sorted(MISSING), pa.string())


def _chunk_frame(name: str, columns: dict, lines, rejected: list[dict[str, Any]]) -> Frame:
    """Return a Frame of text cells (pandas str, NaN where missing) from cleaned Arrow columns."""
    import pyarrow as pa

    table = pa.table(columns) if columns else pa.table({})
    rows = table.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)
    rows.insert(0, LINE, np.asarray(lines, dtype="int64"))
    return Frame(name=name, rows=rows, rejected=rejected)


def _quotes_close_on_each_line(data: bytes, quote: bytes) -> bool:
    """Return True when no quoted cell of `data` spans a line break (an even count of quotes on each line)."""
    if quote not in data:
        return True
    # the quotes before each line break must be even in number: positions, not a running count (an
    # int64 count of every byte would take 8 bytes per byte of text and most of the reading's time)
    raw = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(raw == quote[0])
    return not (np.searchsorted(quotes, np.flatnonzero(raw == 10)) % 2).any()


def _parse_block(
    data: bytes,
    first: int,
    header: list[str],
    delimiter: str,
    name: str,
    quotechar: str = '"',
    count: int | None = None,
) -> tuple[Any, np.ndarray, list[dict[str, Any]]]:
    """Parse a block of whole lines (UTF-8) whose quoted cells end on their line with Arrow: the
    table, each row's line, the ragged rows. `count`, when known, is the number of lines in `data`."""
    import pyarrow as pa
    import pyarrow.csv as pv

    width = len(header)
    odd: list[tuple[int, int, str]] = []

    def on_invalid(row) -> str:
        odd.append((row.number, row.actual_columns, row.text or ""))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    table = pv.read_csv(
        pa.py_buffer(data),
        # blocks of at most 16 MB, parsed one after the other (so Arrow still numbers the rows): a
        # single block of a whole file made Arrow ask the system for fresh memory of that size, and
        # its page faults took longer than the parsing
        read_options=pv.ReadOptions(
            column_names=names,
            block_size=min(max(1 << 20, len(data) + 1), 1 << 24),
            use_threads=False,
        ),
        parse_options=pv.ParseOptions(
            delimiter=delimiter,
            quote_char=quotechar,
            double_quote=True,
            newlines_in_values=False,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pv.ConvertOptions(
            # pandas' `str` columns hold large_string: parsed as such, the cells need no cast (a
            # cast to it made 8 bytes of fresh offsets per cell)
            column_types={n: pa.large_string() for n in names},
            # the missing markers become nulls while Arrow parses (quoted or not, as after stripping)
            null_values=sorted(MISSING),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    # Arrow numbers the rows it meets, empty lines left out: map them back to the lines of the text
    if count is not None and table.num_rows + len(odd) == count:
        nonempty = np.arange(first, first + count, dtype="int64")  # no empty line: no second look
    else:
        nonempty = _nonempty_lines(data, first)
    rejected, skipped = [], []
    for number, found, text in odd:  # in line order, as Arrow met them
        skipped.append(number - 1)
        if not text.strip():
            continue  # a line of spaces holds no record
        what = "truncated" if found < width else "too many fields"
        line = int(nonempty[number - 1])
        rejected.append(
            _reject(name, line, f"{what}: expected {width} fields, found {found}", text)
        )
    lines = np.delete(nonempty, skipped) if skipped else nonempty
    return table, lines, rejected


def _nonempty_lines(data: bytes, first: int) -> np.ndarray:
    """Return the numbers of the lines of `data` that are not empty ("" or a lone "\\r")."""
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(data)]])
    if starts[-1] == len(data):  # nothing after the last line break
        starts, stops = starts[:-1], stops[:-1]
    length = stops - starts
    carriage = (length > 0) & (raw[np.maximum(stops - 1, 0)] == 13)
    numbers = np.arange(first, first + len(starts), dtype="int64")
    return numbers[(length - carriage) > 0]


def iter_csv(
    path: Path,
    name: str,
    delimiter: str = ",",
    decimal: str = ".",
    encoding: str = "utf-8",
    quotechar: str = '"',
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    thousands: str | None = None,
) -> Iterator[Frame]:
    """Yield a delimited text file (plain or gzip-compressed) in chunks of at most `chunk_rows` lines.

    Ragged rows are rejected with their line, bad bytes stop with a message naming the line. Lines are
    those of the (decompressed) text. Blocks without quotes are parsed by Arrow; from the first quote
    on, a line-by-line reader takes over (a quoted cell may hold a line break).
    """
    path = check_file(path)
    if len(delimiter) != 1 or delimiter in "\r\n" or delimiter == quotechar:
        raise SourceError(
            f"{path}: the delimiter must be one character other than a quote or a line break, "
            f"not {delimiter!r}"
        )
    if chunk_rows < 1:
        raise SourceError(f"chunk_rows must be at least 1, not {chunk_rows}")
    check_marks(decimal, thousands, path)
    source = _Lines(path)
    try:
        first = source.readline()
        while first and not first.strip():
            first = source.readline()
        if not first:
            raise SourceError(
                f"{path}: file is empty: export the table again with a header row and data"
            )
        header = _header(first, path, delimiter, quotechar, encoding)
        utf8 = _python_encoding(encoding) == "utf-8-sig"
        quote = quotechar.encode("ascii", "ignore") or b'"'
        rows_seen = 0
        while True:
            data, at = source.block(chunk_rows)
            if not data:
                break
            if (
                not _quotes_close_on_each_line(data, quote)
                or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))
                or not _ascii_lines(encoding)
            ):
                source.unread(data, at)
                for frame in _iter_csv_lines(
                    source,
                    path,
                    name,
                    header,
                    delimiter,
                    (decimal, thousands),
                    encoding,
                    quotechar,
                    chunk_rows,
                ):
                    rows_seen += len(frame.rows) + len(frame.rejected)
                    yield frame
                break
            if not (utf8 and data.isascii()):  # ASCII is valid UTF-8: no decoding (a quick check)
                try:
                    text = data.decode("utf-8") if utf8 else data.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise _bad_bytes(
                        path, at + data[: exc.start].count(b"\n"), data[exc.start], encoding
                    ) from None
                if not utf8:
                    data = text.encode("utf-8")
                del text
            table, lines, rejected = _parse_block(
                data, at, header, delimiter, name, quotechar, count=source.line - at
            )
            if table.num_rows or rejected:
                rows_seen += table.num_rows + len(rejected)
                strip = _may_need_stripping(data)
                yield _chunk_frame(
                    name, _arrow_text(table, header, decimal, strip, thousands), lines, rejected
                )
        if not rows_seen:
            raise SourceError(f"{path}: has a header but no data rows: check the export")
    finally:
        source.close()


def check_marks(decimal: str, thousands: str | None, path: Path | str = "input") -> None:
    """Raise a one-line SourceError for a decimal and a thousands mark that cannot be told apart."""
    if thousands is not None and (
        len(thousands) != 1 or thousands.isdigit() or thousands == decimal
    ):
        raise SourceError(
            f"{path}: the thousands mark must be one character other than a digit and the decimal "
            f"mark {decimal!r}, not {thousands!r}"
        )


def _ascii_lines(encoding: str) -> bool:
    """Return True when the encoding writes a line break as the one byte 0x0a and never inside a character."""
    try:
        return "\n".encode(encoding) == b"\n" and "a".encode(encoding) == b"a"
    except LookupError:
        raise SourceError(
            f"unknown encoding {encoding!r}: use for example utf-8 or latin-1"
        ) from None


def _iter_csv_lines(
    source: _Lines,
    path: Path,
    name: str,
    header: list[str],
    delimiter: str,
    decimal: tuple[str, str | None],
    encoding: str,
    quotechar: str,
    chunk_rows: int,
) -> Iterator[Frame]:
    """The line-by-line reader (Python's csv): quoted cells may hold delimiters and line breaks."""

    width = len(header)
    number = source.line - 1  # the number of the last line decoded

    def decoded() -> Iterator[str]:
        nonlocal number
        decoder = codecs.getincrementaldecoder(_python_encoding(encoding))()
        while raw := source.readline():
            number += 1
            try:
                yield decoder.decode(raw)
            except UnicodeDecodeError as exc:
                raise _bad_bytes(path, number, raw[exc.start], encoding) from None

    reader = csv.reader(decoded(), delimiter=delimiter, quotechar=quotechar, strict=False)
    start = number + 1
    records: list[list[str]] = []
    lines: list[int] = []
    rejected: list[dict[str, Any]] = []
    for fields in reader:
        line, start = start, number + 1
        if len(fields) != width:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # an empty line holds no record
            what = "truncated" if len(fields) < width else "too many fields"
            rejected.append(
                _reject(
                    name,
                    line,
                    f"{what}: expected {width} fields, found {len(fields)}",
                    delimiter.join(fields),
                )
            )
        else:
            records.append(fields)
            lines.append(line)
        if len(records) + len(rejected) >= chunk_rows:
            yield _records_frame(name, header, records, lines, rejected, decimal)
            records, lines, rejected = [], [], []
    if records or rejected:
        yield _records_frame(name, header, records, lines, rejected, decimal)


def _records_frame(name, header, records, lines, rejected, marks) -> Frame:
    import pyarrow as pa

    decimal, thousands = marks  # the decimal and thousands marks
    columns = [pa.array([r[i] for r in records], pa.string()) for i in range(len(header))]
    table = pa.table(dict(zip(header, columns)))
    return _chunk_frame(
        name, _arrow_text(table, header, decimal, thousands=thousands), lines, rejected
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


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _joined(frames: list[Frame], name: str) -> Frame:
    """Return the chunks of one file as one Frame (pandas `str` cells, NaN where missing)."""
    rejected = [r for f in frames for r in f.rejected]
    parts = [f.rows for f in frames]
    rows = (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
    rows[LINE] = pd.array(rows[LINE].to_numpy(dtype="int64"), dtype="int64")
    return Frame(name=name, rows=rows, rejected=rejected)


def read_csv_header(
    path: Path, delimiter: str = ",", encoding: str = "utf-8", quotechar: str = '"'
) -> list[str]:
    """Return the column names of a delimited text file (plain or gzip), reading only its header."""
    path = check_file(path)
    source = _Lines(path)
    try:
        first = source.readline()
        while first and not first.strip():
            first = source.readline()
    finally:
        source.close()
    if not first:
        raise SourceError(
            f"{path}: file is empty: export the table again with a header row and data"
        )
    return _header(first, path, delimiter, quotechar, encoding)


def read_csv(
    path: Path,
    name: str,
    delimiter: str = ",",
    decimal: str = ".",
    encoding: str = "utf-8",
    quotechar: str = '"',
    thousands: str | None = None,
) -> Frame:
    """Read a delimited text file (plain or gzip) strictly: ragged rows are rejected with their line,
    bad bytes stop with a message."""
    frames = list(
        iter_csv(
            path,
            name,
            delimiter,
            decimal,
            encoding,
            quotechar,
            chunk_rows=1 << 62,
            thousands=thousands,
        )
    )
    return _joined(frames, name)


def iter_jsonl(
    path: Path, name: str, encoding: str = "utf-8", chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Frame]:
    """Yield JSON lines (plain or gzip), one object a line, in chunks; a line that is not a JSON object
    is rejected with its number."""
    path = check_file(path)
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
    import pyarrow as pa

    header: dict[str, None] = {}
    for record in records:
        header.update(dict.fromkeys(record))
    columns = _clean_header(list(header), path) if header else []
    arrays = {c: pa.array([r.get(c) for r in records], pa.string()) for c in columns}
    return _chunk_frame(name, arrays, lines, rejected)


def read_jsonl(path: Path, name: str, encoding: str = "utf-8") -> Frame:
    """Read JSON lines, one object a line; a line that is not a JSON object is rejected with its number."""
    return _joined(list(iter_jsonl(path, name, encoding, chunk_rows=1 << 62)), name)


def iter_parquet(path: Path, name: str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Frame]:
    """Yield a Parquet file in chunks of text cells; `_line` is the row number counted from 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = check_file(path)
    try:
        source = pq.ParquetFile(path)
        header = _clean_header(list(source.schema_arrow.names), path)
        first = 1
        for batch in source.iter_batches(batch_size=min(chunk_rows, 1 << 30)):
            if batch.num_rows:
                lines = np.arange(first, first + batch.num_rows, dtype="int64")
                first += batch.num_rows
                yield _chunk_frame(name, _arrow_text(batch, header, "."), lines, [])
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}): re-export it"
        ) from None
    if first == 1:
        raise SourceError(f"{path}: holds no rows")


def read_parquet(path: Path, name: str) -> Frame:
    """Read a Parquet file; `_line` is the row number counted from 1."""
    return _joined(list(iter_parquet(path, name, chunk_rows=1 << 62)), name)


def iter_excel(
    path: Path, name: str, sheet: str | int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Frame]:
    """Yield one sheet of an Excel workbook in chunks; `_line` is the spreadsheet row (header on row 1)."""
    frame = read_excel(path, name, sheet)
    step = max(1, min(chunk_rows, len(frame.rows)))
    for at in range(0, len(frame.rows), step):
        part = frame.rows.iloc[at : at + step].reset_index(drop=True)
        cells = {
            c: part[c].astype(pd.StringDtype(na_value=np.nan)) for c in part.columns if c != LINE
        }
        rows = pd.DataFrame(cells, index=part.index)
        rows.insert(0, LINE, part[LINE].to_numpy(dtype="int64"))
        yield Frame(name=name, rows=rows, rejected=[])


def _from_table(table: pd.DataFrame, name: str, path: Path, first_line: int) -> Frame:
    if table.empty:
        raise SourceError(f"{path}: holds no rows")
    columns = _clean_header([str(c) for c in table.columns], path)
    records = [[_text(v) for v in row] for row in table.itertuples(index=False, name=None)]
    rows = pd.DataFrame(records, columns=columns, dtype=object)
    rows.insert(0, LINE, pd.array(range(first_line, first_line + len(records)), dtype="int64"))
    return Frame(name=name, rows=rows, rejected=[])


def read_excel(path: Path, name: str, sheet: str | int = 0) -> Frame:
    """Read one sheet of an Excel workbook; `_line` is the spreadsheet row (header on row 1)."""
    path = check_file(path)
    try:
        table = pd.read_excel(path, sheet_name=sheet, dtype=object)
    except Exception as exc:  # noqa: BLE001 openpyxl and pandas raise many types; one line instead
        raise SourceError(
            f"{path}: cannot read sheet {sheet!r} ({type(exc).__name__}: {exc}): check the workbook"
        ) from None
    return _from_table(table, name, Path(path), 2)


# the password field of a URL (scheme://user:PASSWORD@host) and of a key=value connection string
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)[^@\s]*(?=@)")
_DSN_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s'\";&]+)", re.IGNORECASE
)


def mask_credentials(text: str) -> str:
    """Return `text` with the password fields of any URL or key=value connection string in it as ``***``.

    Only those fields are masked: a driver's message keeps every other word, even one that happens
    to contain the password's letters (with the password ``p``: "port 9 failed" stays as it is).
    """
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***", text)
    return _DSN_PASSWORD.sub(lambda m: f"{m['head']}***", text)


def query_sql(url: str, query: str) -> pd.DataFrame:
    """Return the result of `query` on the database at SQLAlchemy `url` (credentials never printed)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 any parse failure: one line that never echoes the url
        raise SourceError(
            "source url is not a SQLAlchemy URL (dialect+driver://user:password@host/db)"
        ) from None
    safe = parsed.render_as_string(hide_password=True)
    engine = None
    try:
        engine = sa.create_engine(parsed)
        with engine.connect() as con:
            result = con.execute(sa.text(query))
            table = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    except Exception as exc:  # noqa: BLE001 any driver's error: one line, the password masked
        cause = getattr(exc, "orig", None) or exc
        detail = (str(cause).strip().splitlines() or [""])[0][:200]
        detail = mask_credentials(detail)
        raise SourceError(
            f"{safe}: query failed ({type(cause).__name__}: {detail}): check the url and the query"
        ) from None
    finally:
        if engine is not None:
            engine.dispose()
    return table


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
        return query_sql(spec.url, spec.query)
    if spec.format == "python":
        if not spec.function:
            raise SourceError(
                f"source {spec.name!r}: a python source needs 'function: module:function'"
            )
        return call_adapter(spec.function, spec.options)
    if spec.path is None or not spec.path.is_file():
        raise SourceError(
            f"source {spec.name!r}: file {spec.path} not found: check 'path' in the catalog"
        )
    return spec.path


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

"""Delimited text (CSV and the like, plain or gzip), read strictly in chunks of text cells with their lines.

Blocks without quoted line breaks are parsed by Arrow; from the first quoted line break on, Python's
csv module reads line by line.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from lab2prod.data.cells import MISSING
from lab2prod.data.files import check_file
from lab2prod.data.readers.base import (
    DEFAULT_CHUNK_ROWS,
    Frame,
    _arrow_text,
    _bad_bytes,
    _chunk_frame,
    _clean_header,
    _joined,
    _Lines,
    _python_encoding,
    _reject,
    check_kind,
)
from lab2prod.errors import SourceError


@dataclass(frozen=True)
class CsvDialect:
    """How a delimited file writes its cells: the delimiter, the quote, the encoding, the number marks."""

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    decimal: str = "."
    thousands: str | None = None


def _header_record(source: _Lines, quotechar: str) -> bytes:
    """Return the bytes of the header record: its first line that is not blank, and its continuations.

    The lines after the first belong to it while a quoted name is open (a header cell wrapped onto two
    lines).
    """
    quote = quotechar.encode("ascii", "ignore") or b'"'
    first = source.readline()
    while first and not first.strip():
        first = source.readline()
    while first.count(quote) % 2 and (more := source.readline()):
        first += more
    return first


def _header(raw: bytes, path: Path, delimiter: str, quotechar: str, encoding: str) -> list[str]:
    try:
        text = raw.decode(_python_encoding(encoding))
    except UnicodeDecodeError as exc:
        raise _bad_bytes(path, 1, raw[exc.start], encoding) from None
    lines = text.splitlines(keepends=True)
    header = next(csv.reader(lines, delimiter=delimiter, quotechar=quotechar), [])
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
    """Return False when no cell of a plain CSV block can start or end with whitespace.

    That is when the block holds no ASCII space of any kind and no byte beyond ASCII (a Unicode
    space).
    """
    return not data.isascii() or any(space in data for space in _SPACES)


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
    """Parse a block of whole lines with Arrow; return the table, each row's line and the ragged rows.

    The block is UTF-8 and its quoted cells end on their line. `count`, when known, is the number of
    lines in `data`.
    """

    width = len(header)
    odd: list[tuple[int, int, str]] = []

    def on_invalid(row) -> str:
        odd.append((row.number, row.actual_columns, row.text or ""))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    table = pv.read_csv(
        pa.py_buffer(data),
        # blocks of at most 16 MB, parsed one after the other (so Arrow still numbers the rows): a
        # single block of a whole file makes Arrow ask the system for fresh memory of that size,
        # whose page faults cost more than the parsing
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
    check_kind(path, "csv")
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
        first = _header_record(source, quotechar)
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
                dialect = CsvDialect(delimiter, quotechar, encoding, decimal, thousands)
                for frame in _iter_csv_lines(source, path, name, header, dialect, chunk_rows):
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
    dialect: CsvDialect,
    chunk_rows: int,
) -> Iterator[Frame]:
    """Yield the rest of a file read line by line (Python's csv): quoted cells may hold delimiters and line breaks."""
    delimiter, quotechar, encoding = dialect.delimiter, dialect.quotechar, dialect.encoding

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
            yield _records_frame(name, header, records, lines, rejected, dialect)
            records, lines, rejected = [], [], []
    if records or rejected:
        yield _records_frame(name, header, records, lines, rejected, dialect)


def _records_frame(name, header, records, lines, rejected, dialect: CsvDialect) -> Frame:
    columns = [pa.array([r[i] for r in records], pa.string()) for i in range(len(header))]
    table = pa.table(dict(zip(header, columns)))
    return _chunk_frame(
        name,
        _arrow_text(table, header, dialect.decimal, thousands=dialect.thousands),
        lines,
        rejected,
    )


def read_csv_header(
    path: Path, delimiter: str = ",", encoding: str = "utf-8", quotechar: str = '"'
) -> list[str]:
    """Return the column names of a delimited text file (plain or gzip), reading only its header."""
    path = check_file(path)
    check_kind(path, "csv")
    source = _Lines(path)
    try:
        first = _header_record(source, quotechar)
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
    """Read a delimited text file (plain or gzip) strictly.

    Ragged rows are rejected with their line; bad bytes stop with a message.
    """
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

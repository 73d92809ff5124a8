"""Source adapters: read one landed file or table into a frame of text cells, keeping line numbers.

Every adapter returns a :class:`Frame`: the rows it could read (all values as
text or missing, so that the contract decides types by name, never pandas by
guess) with a ``_line`` column, plus the rows it had to reject with a reason.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab2prod.data.catalog import SourceSpec
from lab2prod.data.cells import DECIMAL_COMMA, LINE, MISSING
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


def _frame(
    name: str, header: list[str], records: list[list[str | None]], lines: list[int], rejected
) -> Frame:
    rows = (
        pd.DataFrame(records, columns=header, dtype=object)
        if records
        else pd.DataFrame(columns=header, dtype=object)
    )
    rows.insert(0, LINE, pd.array(lines, dtype="int64"))
    return Frame(name=name, rows=rows, rejected=rejected)


def read_csv(
    path: Path,
    name: str,
    delimiter: str = ",",
    decimal: str = ".",
    encoding: str = "utf-8",
    quotechar: str = '"',
) -> Frame:
    """Read a delimited text file strictly: ragged rows are rejected with their line, bad bytes stop with a message."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw or raw.isspace():
        raise SourceError(
            f"{path}: file is empty: export the table again with a header row and data"
        )
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    if utf8:
        # the usual file: Arrow parses the bytes as they are (and checks they are UTF-8)
        fast = _read_plain_csv(
            raw, 3 if raw.startswith(BOM) else 0, path, name, delimiter, decimal, quotechar
        )
        if fast is not None:
            return fast
    enc = "utf-8-sig" if utf8 else encoding
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not valid {encoding}: "
            f"re-export as UTF-8 or set options.encoding (for example latin-1)"
        ) from None
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar, strict=False
    )
    try:
        header = _checked_header(next(reader), path, delimiter)
    except StopIteration:
        raise SourceError(
            f"{path}: file is empty: export the table again with a header row and data"
        ) from None
    width = len(header)
    if not utf8:
        fast = _read_plain_csv(text.encode("utf-8"), 0, path, name, delimiter, decimal, quotechar)
        if fast is not None:
            return fast
    records, lines, rejected = [], [], []
    start = reader.line_num + 1
    for fields in reader:
        line, start = start, reader.line_num + 1
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
            continue
        records.append(fields)
        lines.append(line)
    if not records and not rejected:
        raise SourceError(f"{path}: has a header but no data rows: check the export")
    return _clean_cells(_frame(name, header, records, lines, rejected), decimal)


BOM = b"\xef\xbb\xbf"
# the ASCII whitespace a cell may hold to strip (line breaks end rows): a file with none of them, and
# no byte beyond ASCII (a Unicode space), needs no stripping at all
_SPACES = (b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")


def _may_need_stripping(raw: bytes, start: int, end: int) -> bool:
    return not raw.isascii() or any(raw.find(space, start, end) != -1 for space in _SPACES)


def _checked_header(names: list[str], path: Path, delimiter: str) -> list[str]:
    """Return the header's names cleaned, or raise a one-line SourceError for a header no row can pass."""
    if len(names) == 1:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in names[0]:
                shown = "\\t" if other == "\t" else other
                raise SourceError(
                    f"{path}: header reads as one column but contains {shown!r}: set the delimiter to {shown!r} "
                    f"(options.delimiter in the catalog, --delimiter on the command line)"
                )
    return _clean_header(names, path)


def read_csv_header(
    path: Path, delimiter: str = ",", encoding: str = "utf-8", quotechar: str = '"'
) -> list[str]:
    """Return the column names of a delimited text file, reading only its first line (no row is read)."""
    path = Path(path)
    with open(path, "rb") as fh:
        first = fh.readline()
        while first.strip() == b"" and first:
            first = fh.readline()
    if not first.strip():
        raise SourceError(
            f"{path}: file is empty: export the table again with a header row and data"
        )
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    try:
        line = first.decode("utf-8-sig" if utf8 else encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: line 1: byte 0x{first[exc.start]:02x} is not valid {encoding}: "
            f"re-export as UTF-8 or set options.encoding (for example latin-1)"
        ) from None
    names = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, quotechar=quotechar))
    return _checked_header(names, path, delimiter)


def _read_plain_csv(
    raw: bytes,
    start: int,
    path: Path,
    name: str,
    delimiter: str,
    decimal: str,
    quotechar: str,
) -> Frame | None:
    """Return the rows of a UTF-8 CSV without quotes, lone carriage returns or empty lines, parsed by
    Arrow from its bytes and cleaned column by column (fast), or None to use the line-by-line reader:
    only there is every record on exactly one line, so row i is on line i + 2."""
    # single-byte searches run at memory speed; counting and longer patterns only when needed
    if raw.find(quotechar.encode("utf-8"), start) != -1:
        return None
    crlf = raw.find(b"\r", start) != -1
    if crlf and raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    end = len(raw)
    while end > start and raw[end - 1] in (0x0A, 0x0D):
        end -= 1  # line breaks at the end of the file end the last row
    first = raw.find(b"\n", start)
    if first == -1 or first >= end:
        return None
    try:
        names = raw[start:first].decode("utf-8").rstrip("\r").split(delimiter)
    except UnicodeDecodeError:
        return None  # the line-by-line reader names the line of the bad byte
    header = _checked_header(names, path, delimiter)
    # an empty line in the body: Arrow would hand it over as a row of missing cells, on no line of its own
    if raw.find(b"\n\n", start, end) != -1 or (crlf and raw.find(b"\n\r\n", start, end) != -1):
        return None
    import pyarrow as pa_arrow
    from pyarrow import csv as pa_csv

    columns = [f"c{i}" for i in range(len(header))]
    try:
        table = pa_csv.read_csv(
            pa_arrow.py_buffer(raw).slice(first + 1, end - first - 1),
            read_options=pa_csv.ReadOptions(column_names=columns),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            # every cell as text: the contract types columns by name, Arrow never guesses;
            # the missing markers become nulls while parsing
            convert_options=pa_csv.ConvertOptions(
                # large_string: what pandas' `str` columns hold, so handing them over copies nothing
                column_types={n: pa_arrow.large_string() for n in columns},
                null_values=sorted(MISSING),
                strings_can_be_null=True,
            ),
        )
    except (pa_arrow.ArrowInvalid, ValueError):
        return None  # ragged rows, bytes that are not UTF-8...: the line-by-line reader names their lines
    if table.num_rows == 0:
        return None
    strip = _may_need_stripping(raw, first + 1, end)
    text = pd.StringDtype(na_value=np.nan)
    rows = pd.DataFrame(
        {
            h: _arrow_cells(table.column(n), strip, decimal).to_pandas(
                types_mapper={pa_arrow.large_string(): text}.get
            )
            for h, n in zip(header, columns)
        }
    )
    rows.insert(0, LINE, pd.array(np.arange(2, table.num_rows + 2), dtype="int64"))
    return Frame(name=name, rows=rows, rejected=[])


def _arrow_cells(column: Any, strip: bool, decimal: str) -> Any:
    """Return an Arrow text column stripped (when `strip`), missing markers as nulls, a decimal comma a point."""
    import pyarrow as pa_arrow
    import pyarrow.compute as pc

    if strip:
        column = pc.utf8_trim_whitespace(column)
        missing = pc.is_in(column, value_set=pa_arrow.array(sorted(MISSING), column.type))
        column = pc.if_else(missing, pa_arrow.scalar(None, column.type), column)
    if decimal != ".":
        comma = pc.match_substring_regex(column, f"^(?:{DECIMAL_COMMA.pattern})$")
        fixed = pc.replace_substring(pc.replace_substring(column, ".", ""), decimal, ".")
        column = pc.if_else(comma, fixed, column)
    return column


def _clean_cells(frame: Frame, decimal: str = ".") -> Frame:
    """Return the frame with cells stripped, missing markers missing and a decimal comma made a point
    (vectorized): `str` columns, as the Arrow reader hands them over."""
    cleaned = {}
    for col in frame.rows.columns:
        if col == LINE:
            continue
        text = frame.rows[col].astype("str").str.strip()
        if decimal != ".":
            comma = text.str.fullmatch(DECIMAL_COMMA.pattern).fillna(False).astype(bool)
            text = text.where(
                ~comma,
                text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False),
            )
        present = text.notna() & ~text.isin(MISSING)
        cleaned[col] = text.where(present)
    rows = pd.DataFrame(
        cleaned, index=frame.rows.index, columns=[c for c in frame.rows.columns if c != LINE]
    )
    rows.insert(0, LINE, frame.rows[LINE])
    return Frame(name=frame.name, rows=rows, rejected=frame.rejected)


def read_jsonl(path: Path, name: str, encoding: str = "utf-8") -> Frame:
    """Read JSON lines, one object a line; a line that is not a JSON object is rejected with its number."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    lines, rejected, header = [], [], {}
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        with open(path, encoding=enc, newline=None) as fh:
            for number, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    rejected.append(
                        _reject(name, number, f"not valid JSON ({exc.msg})", text.strip())
                    )
                    continue
                if not isinstance(obj, dict):
                    rejected.append(_reject(name, number, "not a JSON object", text.strip()))
                    continue
                for key in obj:
                    header.setdefault(str(key).strip(), None)
                records.append({str(k).strip(): _text(v) for k, v in obj.items()})
                lines.append(number)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: bytes are not valid {encoding} ({exc.reason}): re-export as UTF-8"
        ) from None
    if not records and not rejected:
        raise SourceError(f"{path}: file is empty: expected one JSON object per line")
    columns = _clean_header(list(header), path)
    return _frame(name, columns, [[r.get(c) for c in columns] for r in records], lines, rejected)


def _from_table(table: pd.DataFrame, name: str, path: Path, first_line: int) -> Frame:
    if table.empty:
        raise SourceError(f"{path}: holds no rows")
    columns = _clean_header([str(c) for c in table.columns], path)
    records = [[_text(v) for v in row] for row in table.itertuples(index=False, name=None)]
    return _frame(name, columns, records, list(range(first_line, first_line + len(records))), [])


def read_parquet(path: Path, name: str) -> Frame:
    """Read a Parquet file; `_line` is the row number counted from 1."""
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 pyarrow raises several types for a damaged file
        raise SourceError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}): re-export it"
        ) from None
    return _from_table(table, name, Path(path), 1)


def read_excel(path: Path, name: str, sheet: str | int = 0) -> Frame:
    """Read one sheet of an Excel workbook; `_line` is the spreadsheet row (header on row 1)."""
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
            for k in ("delimiter", "decimal", "encoding", "quotechar")
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

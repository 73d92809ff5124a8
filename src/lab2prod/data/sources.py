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
    if not raw.strip():
        raise SourceError(
            f"{path}: file is empty: export the table again with a header row and data"
        )
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
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
        header = next(reader)
    except StopIteration:
        raise SourceError(
            f"{path}: file is empty: export the table again with a header row and data"
        ) from None
    if len(header) == 1:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in header[0]:
                shown = "\\t" if other == "\t" else other
                raise SourceError(
                    f"{path}: header reads as one column but contains {shown!r}: set the delimiter to {shown!r} "
                    f"(options.delimiter in the catalog, --delimiter on the command line)"
                )
    header = _clean_header(header, path)
    width = len(header)
    fast = _read_plain_csv(text, header, delimiter, quotechar, name)
    if fast is not None:
        return _clean_cells(fast, decimal)
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


def _read_plain_csv(
    text: str, header: list[str], delimiter: str, quotechar: str, name: str
) -> Frame | None:
    """Return the rows of a CSV without quotes or empty lines parsed by pyarrow (fast), or None to use the
    line-by-line reader: only there is every record on exactly one line, so row i is on line i + 2."""
    if quotechar in text or text.count("\r") != text.count("\r\n"):
        return None
    body = text.replace("\r\n", "\n")
    if "\n\n" in body.rstrip("\n") or body.split("\n", 1)[0] == body:
        return None
    import pyarrow as pa_arrow
    from pyarrow import csv as pa_csv

    width = len(header)
    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa_arrow.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa_arrow.ArrowInvalid, ValueError):
        return None  # ragged rows and the like: the line-by-line reader rejects them one by one
    if table.num_rows == 0:
        return None
    rows = pd.DataFrame({h: table.column(n).to_pandas() for h, n in zip(header, names)})
    rows.insert(0, LINE, pd.array(range(2, table.num_rows + 2), dtype="int64"))
    return Frame(name=name, rows=rows, rejected=[])


def _clean_cells(frame: Frame, decimal: str = ".") -> Frame:
    """Return the frame with cells stripped, missing markers as None and a decimal comma made a point (vectorized)."""
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
        cleaned[col] = text.astype(object).where(present, None)
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

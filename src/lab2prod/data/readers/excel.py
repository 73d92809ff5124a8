"""Excel workbooks (.xlsx): one sheet read as text cells; `_line` is the spreadsheet row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lab2prod.data.cells import LINE
from lab2prod.data.files import check_file
from lab2prod.data.readers.base import (
    DEFAULT_CHUNK_ROWS,
    Frame,
    _clean_header,
    _text,
    check_kind,
)
from lab2prod.errors import SourceError


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
    """Read one sheet of an Excel workbook, named or by its position from 0.

    `_line` is the spreadsheet row (header on row 1).
    """
    table = _sheet_table(path, sheet)
    return _from_table(table, name, Path(path), 2)


def read_excel_header(path: Path, sheet: str | int = 0) -> list[str]:
    """Return the column names of one sheet of an Excel workbook (its first row)."""
    return _clean_header([str(c) for c in _sheet_table(path, sheet, rows=0).columns], path)


def excel_sheets(path: Path) -> list[str]:
    """Return the names of a workbook's sheets, in order."""
    with _open_workbook(path) as book:
        return list(book.sheet_names)


def sheet_hint(path: Path, sheet: str | int = 0) -> str:
    """Return words for a message about a workbook of several sheets; '' for a workbook of one.

    They say which sheet was read, which others there are, and how to choose.
    """
    names = excel_sheets(path)
    if len(names) < 2:
        return ""
    read = _sheet_name(path, sheet, names)
    others = ", ".join(repr(n) for n in names if n != read)
    return (
        f" (sheet {read!r} was read; the workbook also has {others}: choose one with --sheet, "
        "or options.sheet in a catalog)"
    )


def _open_workbook(path: Path) -> pd.ExcelFile:
    path = check_file(path)
    check_kind(path, "excel")
    try:
        return pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 openpyxl and zipfile raise many types; one line instead
        raise SourceError(
            f"{path}: cannot open the workbook ({type(exc).__name__}: {exc}): save it again as .xlsx"
        ) from None


def _sheet_name(path: Path, sheet: str | int, names: list[str]) -> str:
    """Return the name of the sheet `sheet` names: a name, or a position from 0 (also as text)."""
    if isinstance(sheet, str) and sheet in names:
        return sheet
    position = int(sheet) if isinstance(sheet, int) or str(sheet).isdigit() else None
    if position is not None and 0 <= position < len(names):
        return names[position]
    listed = ", ".join(repr(n) for n in names)
    raise SourceError(
        f"{path}: no sheet {sheet!r}: the workbook's sheets are {listed}: choose one with --sheet "
        "(a name, or a position from 0), or options.sheet in a catalog"
    )


def _sheet_table(path: Path, sheet: str | int, rows: int | None = None) -> pd.DataFrame:
    with _open_workbook(path) as book:
        chosen = _sheet_name(path, sheet, list(book.sheet_names))
        try:
            return book.parse(chosen, dtype=object, nrows=rows)
        except Exception as exc:  # noqa: BLE001 openpyxl and pandas raise many types; one line instead
            raise SourceError(
                f"{path}: cannot read sheet {chosen!r} ({type(exc).__name__}: {exc}): check the workbook"
            ) from None

"""Excel workbooks (.xlsx): one sheet read as text cells; `_line` is the spreadsheet row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lab2prod.data.cells import LINE
from lab2prod.data.files import check_file
from lab2prod.data.readers.base import DEFAULT_CHUNK_ROWS, Frame, _clean_header, _text
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
    """Read one sheet of an Excel workbook; `_line` is the spreadsheet row (header on row 1)."""
    path = check_file(path)
    try:
        table = pd.read_excel(path, sheet_name=sheet, dtype=object)
    except Exception as exc:  # noqa: BLE001 openpyxl and pandas raise many types; one line instead
        raise SourceError(
            f"{path}: cannot read sheet {sheet!r} ({type(exc).__name__}: {exc}): check the workbook"
        ) from None
    return _from_table(table, name, Path(path), 2)

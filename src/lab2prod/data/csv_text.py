"""CSV text as pandas' `to_csv` writes it, rendered by Arrow column by column (several times faster).

`atomic_write_csv` (`lab2prod.data.lake`) writes these bytes; a frame with a column type this does
not render (booleans, tiny or huge floats, mixed objects) is left to pandas.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

_NEEDS_QUOTES = '[,"\r\n]'  # what makes pandas (the csv module's minimal quoting) quote a cell


def _float_cells(values: pd.Series) -> Any:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(numbers)
    size = np.abs(numbers[finite])
    if ((size < 1e-4) & (size > 0)).any() or (size >= 1e16).any():
        return None  # exponent notation differs: pandas writes this column
    # pandas writes a whole float as 1.0, Arrow as 1 (Python's repr turns to exponents from 1e16)
    whole = finite & (np.mod(numbers, 1, where=finite, out=np.ones_like(numbers)) == 0)
    missing = np.isnan(numbers)
    if (whole | missing).all() and not (np.signbit(numbers) & (numbers == 0)).any():
        # every value whole (the usual money and count columns): the integer's digits and ".0"
        digits = pa.array(np.where(missing, 0, numbers).astype("int64"), mask=missing)
        return pc.binary_join_element_wise(pc.cast(digits, pa.string()), ".0", "")
    text = pc.cast(pa.array(numbers, from_pandas=True), pa.string())
    if not whole.any():
        return text
    return pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)


def _csv_cells(values: pd.Series) -> tuple[Any, bool] | None:
    """Return a column's cells as Arrow text, as pandas' to_csv writes them, and whether a cell was quoted.

    Missing cells are nulls. None for a dtype this does not render (pandas then writes the whole frame).
    """

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_float_dtype(dtype):
        text = _float_cells(values)
        return None if text is None else (text, False)
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values, from_pandas=True), pa.string()), False
    if pd.api.types.is_datetime64_dtype(dtype):
        stamps = pa.array(values, from_pandas=True).cast(pa.timestamp("s"), safe=False)
        return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S"), False
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
        text = pa.array(values, from_pandas=True)  # pandas' `str` cells as they are (large_string)
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
            try:
                text = pa.array(values, type=pa.string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return None  # not all text
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        # none of the four bytes anywhere in the column's characters (the usual case): nothing to quote
        chars = text.buffers()[2]
        data = memoryview(chars).tobytes() if chars is not None else b""
        if not any(ch in data for ch in (b",", b'"', b"\r", b"\n")):
            return text, False
        quoted = pc.fill_null(pc.match_substring_regex(text, _NEEDS_QUOTES), False)
        if not pc.any(quoted).as_py():
            return text, False
        quote, empty = pa.scalar('"', text.type), pa.scalar("", text.type)
        escaped = pc.binary_join_element_wise(
            quote, pc.replace_substring(text, '"', '""'), quote, empty
        )
        return pc.if_else(quoted, escaped, text), True
    return None


def _csv_field(name: Any) -> str:
    name = str(name)
    return '"' + name.replace('"', '""') + '"' if any(ch in name for ch in ',"\r\n') else name


def csv_bytes(frame: pd.DataFrame) -> bytes | None:
    """Return the CSV text of a frame as `atomic_write_csv` writes it, rendered by Arrow column by column.

    None when a column's dtype is one Arrow does not render here.
    """

    rendered = render_csv(frame)
    if rendered is None:
        return None
    sink = io.BytesIO()
    write_rendered(sink, *rendered)
    return sink.getvalue()


# past this many rows the columns render on threads, side by side (Arrow's kernels release the GIL)
THREADED_ROWS = 100_000


def render_csv(frame: pd.DataFrame) -> tuple[bytes, list[Any], bool] | None:
    """Return the header line, each column's cells as Arrow text and whether a cell was quoted.

    None when pandas writes the frame.
    """

    if frame.columns.duplicated().any() or frame.shape[1] < 2:
        return None  # pandas quotes an empty cell of a one-column frame
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    if len(frame) > THREADED_ROWS:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            rendered = list(pool.map(_csv_cells, columns))
    else:
        rendered = [_csv_cells(c) for c in columns]
    if any(r is None for r in rendered):
        return None
    header = (",".join(_csv_field(c) for c in frame.columns) + "\n").encode("utf-8")
    return header, [text for text, _ in rendered], any(quoted for _, quoted in rendered)


def write_rendered(fh: Any, header: bytes, cells: list[Any], quoted: bool) -> None:
    """Write the header and the rows of rendered cells to the binary file `fh`."""

    fh.write(header)
    if not len(cells[0]):
        return
    if not quoted:
        # no cell holds a delimiter, a quote or a line break: Arrow's writer joins the cells as they are
        table = pa.table({f"c{i}": text for i, text in enumerate(cells)})
        options = pv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16)
        pv.write_csv(table, fh, write_options=options)
        return
    size = sum(c.nbytes for c in cells) + 2 * len(cells[0]) * len(cells)
    large = size >= 1 << 31 or any(pa.types.is_large_string(c.type) for c in cells)
    wide = pa.large_string() if large else pa.string()  # 32-bit offsets hold up to 2 GB
    empty = pa.scalar("", wide)
    cells = [pc.fill_null(c if c.type == wide else c.cast(wide), empty) for c in cells]
    # the line break, on the last cell
    cells[-1] = pc.binary_join_element_wise(cells[-1], pa.scalar("\n", wide), empty)
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", wide))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    kind = np.int64 if wide == pa.large_string() else np.int32
    offsets = np.frombuffer(lines.buffers()[1], dtype=kind)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    fh.write(memoryview(lines.buffers()[2])[first:last])  # Arrow's buffer as it is (no copy)

"""How a column writes its numbers and dates: found from the whole column, declared in the contract,
and applied the same way to every cell.

A number column may carry a thousands mark (``3,504``) and a sign (``57%``, ``$1,200``): the sign is
dropped and the number kept as written (``57%`` reads 57). A date column has one format, a
``strftime`` pattern such as ``%d/%m/%Y`` or ``ISO8601``; a column that fits day-first and
month-first both, or that mixes formats, is never guessed cell by cell. Pure: no files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from lab2prod.data.cells import grouped_number
from lab2prod.errors import ContractError

# the signs a number may carry before or after it: dropped, the number kept as written
SYMBOLS = ("%", "$", "€", "£", "¥")
# the thousands marks inference recognizes (a dot as thousands mark pairs with a decimal comma:
# the reader's `decimal` option, or a declared `thousands: "."`)
THOUSANDS = (",", " ", "'", "\u00a0", "\u202f")
ISO = "ISO8601"
# the formats a date column is tried with, each over the whole column
DATE_FORMATS = (
    ISO,
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
)
_SWAPPED = {"%d": "%m", "%m": "%d"}
# the datetime64[ns] range the lake's dates live in
EARLIEST, LATEST = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")


@dataclass(frozen=True)
class NumberFormat:
    """How a column writes numbers: a thousands mark, a sign before or after (or neither)."""

    thousands: str | None = None
    symbol: str | None = None


def _grouped(mark: str) -> str:
    return grouped_number(mark, ".")


def _strip_symbol(cells: pd.Series, symbol: str) -> pd.Series:
    """Return cells without `symbol` before or after the number (a sign before the symbol is kept)."""
    s = re.escape(symbol)
    return cells.str.replace(rf"^\s*([+-]?)\s*{s}\s*|\s*{s}\s*$", r"\1", regex=True)


def read_numbers(text: pd.Series, fmt: NumberFormat) -> pd.Series:
    """Return text cells with `fmt`'s sign and thousands marks removed, ready to be read as plain numbers.

    A cell whose marks do not group exactly three digits is left as it is, so it fails as a number.
    """
    cells = text
    if fmt.symbol:
        cells = _strip_symbol(cells, fmt.symbol)
    if fmt.thousands:
        grouped = cells.str.fullmatch(_grouped(fmt.thousands)).fillna(False).astype(bool)
        cells = cells.where(~grouped, cells.str.replace(fmt.thousands, "", regex=False))
    return cells


def _is_number(cells: pd.Series) -> pd.Series:
    return pd.to_numeric(cells.astype(object), errors="coerce").notna()


def number_format(values: pd.Series, name: str) -> NumberFormat | None:
    """Return the format of a text column of numbers with a thousands mark or a sign, else None.

    Every present cell must be such a number; None when the column is plain numbers or not numbers.
    Raises a one-line ContractError for a column that writes the same numbers two ways (some cells
    with the sign, some without).
    """
    cells = values.dropna().astype(str).str.strip()
    if not len(cells) or _is_number(cells).all():
        return None
    symbol = None
    for candidate in SYMBOLS:
        has = cells.str.contains(re.escape(candidate), regex=True)
        if not has.any():
            continue
        stripped = _strip_symbol(cells, candidate)
        if not _plain_or_grouped(stripped):
            return None
        if not has.all():
            example = cells[~has].iloc[0]
            raise ContractError(
                f"column {name!r}: {int(has.sum())} of {len(cells)} values carry {candidate!r} and the "
                f"others do not (e.g. {example!r}): write them one way, or declare the column in a "
                f"contract (type: float, symbol: {candidate!r})"
            )
        symbol, cells = candidate, stripped
        break
    if _is_number(cells).all():
        return NumberFormat(symbol=symbol) if symbol else None
    for mark in THOUSANDS:
        if cells.str.fullmatch(_grouped(mark)).all():
            return NumberFormat(thousands=mark, symbol=symbol)
    return None


def _plain_or_grouped(cells: pd.Series) -> bool:
    if _is_number(cells).all():
        return True
    return any(cells.str.fullmatch(_grouped(mark)).all() for mark in THOUSANDS)


def thousands_hint(cells: pd.Series) -> str:
    """Return the hint for text cells that are not numbers because of a comma: thousands or decimal.

    A column whose commas all stand before exactly three digits is named as likely thousands marks;
    both ways to declare it are shown, the likely one first.
    """
    commas = cells.dropna().astype(str)
    commas = commas[commas.str.contains(",", regex=False)]
    if not len(commas):
        return ""
    if commas.str.fullmatch(_grouped(",")).all():
        return (
            " (likely thousands marks: set thousands to ','; "
            "if the comma is the decimal mark, set decimal to ',')"
        )
    return " (decimal comma? set the decimal option to ',')"


def _fits(cells: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(cells, format=fmt, errors="coerce").notna()


def date_format(values: pd.Series, name: str, required: bool = True) -> str | None:
    """Return the one date format every present cell of a text column fits.

    Raises a one-line ContractError naming the column and how to declare its format when the
    cells fit day-first and month-first both, or mix formats. With `required` False, a column that
    is not dates at all gives None (inference of undeclared columns).
    """
    cells = values.dropna().astype(str).str.strip()
    if not len(cells):
        return ISO
    cells = cells.astype(object)
    fitting, best, best_fmt = [], 0, None
    for fmt in DATE_FORMATS:
        fits = _fits(cells, fmt)
        count = int(fits.sum())
        if count == len(cells):
            fitting.append(fmt)
        elif count > best:
            best, best_fmt = count, fmt
    declare = (
        f"declare it: format: '%d/%m/%Y' under the column in the contract, or "
        f"--env--date_column {name} --env--date_format '%d/%m/%Y' for one data file"
    )
    if len(fitting) > 1:
        day, month = fitting[0], fitting[1]
        raise ContractError(
            f"column {name!r}: every date fits {day!r} and {month!r} both (no day above 12): "
            f"{declare.replace('%d/%m/%Y', day)}, or '{month}' for month-first"
        )
    if fitting:
        return fitting[0]
    if not required and best < len(cells) / 2:
        return None
    other = cells[~_fits(cells, best_fmt)].iloc[0] if best_fmt else cells.iloc[0]
    raise ContractError(
        f"column {name!r}: dates written in several formats ({best} of {len(cells)} fit "
        f"{best_fmt!r}; not {other!r}): write one format, and {declare}"
        if best_fmt
        else f"column {name!r}: {other!r} is not a date in a known format: {declare}"
    )


def read_dates(text: pd.Series, present: pd.Series, fmt: str | None) -> tuple[pd.Series, pd.Series]:
    """Return text cells read as datetime64[ns] with format `fmt`, and the mask of those out of range.

    `fmt` None reads ISO 8601. A missing or unreadable cell is NaT; the mask marks the present cells
    outside the range the lake holds.
    """
    cells = text.astype(object).where(present, None)
    values = pd.to_datetime(cells, errors="coerce", format=fmt or ISO)
    if values.dt.tz is not None:
        values = values.dt.tz_convert(None)
    outside = pd.Series(False, index=text.index)
    if str(values.dtype) != "datetime64[ns]":
        # pandas compares across resolutions (numpy would overflow)
        outside = ((values < EARLIEST) | (values > LATEST)).fillna(False).astype(bool)
        values = values.where(~outside)
    return values.astype("datetime64[ns]"), outside

"""Conditioning: a frame of text cells typed by the contract, each row breaking it quarantined with its reasons.

`condition` is the one conditioning code path: ingest, validation, batch scoring (chunk by chunk)
and the REST server's requests all run it. A number column's cells are text, or numbers already
(a request's JSON numbers): both are read as the same float64 and judged by the same rules, and a
refusal shows a number as its decimal text (`cells.cell_text`), the words a file's cell gets.
Pure: no files, no MLflow (`read_normalized` aside, which reads the lake's normalized CSV back
with the contract's types).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

from lab2prod.data.cells import LINE, cell_text
from lab2prod.data.contract import SOURCE, ColumnRule, Contract, column_key
from lab2prod.data.formats import NumberFormat, read_dates, read_numbers, thousands_hint
from lab2prod.data.rules import contract_plan, explain, rule_failures
from lab2prod.errors import ContractError, MissingColumnError

# the end of the reason of a row set aside by `duplicates: drop`: not counted against the quarantine limit
DROPPED = "dropped by duplicates: drop"


QUARANTINE_COLUMNS = ["source", "line", "reason", "record"]
# the quarantine of a frame without a bad row: copied, as building it anew costs more than a copy
_NO_QUARANTINE = pd.DataFrame({key: [] for key in QUARANTINE_COLUMNS}, columns=QUARANTINE_COLUMNS)
# no row equal to an earlier one (`_first_of_equal`): one empty Series, never changed, not one a call
_NONE_EQUAL = pd.Series(dtype="int64")


@dataclass
class Conditioned:
    """The result of conditioning: typed rows that pass, rows quarantined with reasons, and warnings."""

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    rows_in: int = 0
    repeated_rows: int = 0  # rows equal to an earlier row, whatever `duplicates` did with them
    repeated_ids: int = 0  # rows whose id an earlier, different row has
    outside_expectations: dict[str, int] = field(default_factory=dict)  # column -> clean rows
    # the typed arrays `clean` is made of, by name: what reads a few columns takes them from here
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_wrong(self) -> int:
        """Return how many quarantined rows count against the contract's limit (not those dropped as repeats)."""
        return wrong_rows(self.quarantine)


def wrong_rows(quarantine: pd.DataFrame) -> int:
    """Return how many rows of a quarantine frame are really wrong: all but those `duplicates: drop` set aside."""
    if not len(quarantine):
        return 0
    return int((~quarantine["reason"].astype(str).str.endswith(DROPPED)).sum())


def empty_column_error(origin: str, name: str) -> ContractError:
    """Return the error of a column the contract requires that holds no value in the whole input."""
    return ContractError(
        f"{origin}: column {name!r} is entirely empty but the contract requires values: check the export"
    )


def empty_column_warning(origin: str, name: str) -> str:
    """Return the warning of an optional column that holds no value in the whole input."""
    return f"{origin}: column {name!r} is entirely empty: check the export"


def numbered_from_zero(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with its rows indexed 0, 1, ...: the frame itself when they already are (no copy)."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def _match_columns(
    frame: pd.DataFrame, contract: Contract, mode: str, origin: str
) -> tuple[pd.DataFrame, list[str]]:
    warnings: list[str] = []
    plan = contract_plan(contract)
    wanted = plan.wanted
    matched: dict[str, Any] = {}  # the contract's name -> the frame's column that matches it
    rename, extra = {}, []
    for col in frame.columns:
        if col in (LINE, SOURCE):
            continue
        name = wanted.get(column_key(col))
        if name is None:
            extra.append(col)
            continue
        if name in matched:
            raise ContractError(
                f"{origin}: columns {matched[name]!r} and {col!r} both match {name!r} "
                "(names differ only in case or spaces): keep one or rename the other"
            )
        matched[name] = col
        if col != name:
            rename[col] = name
            warnings.append(f"{origin}: column {col!r} matched to {name!r} (case or spaces differ)")
    if rename:
        frame = frame.rename(columns=rename)
    present = set(frame.columns)
    missing = [n for n in plan.required[mode] if n not in present]
    if missing:
        role = "target" if missing == [contract.target] else "column"
        raise MissingColumnError(
            f"{origin}: missing {role} {', '.join(map(repr, missing))}: add it or fix the header"
        )
    if extra:
        msg = f"{origin}: unknown column(s) {', '.join(map(repr, extra))} not in the contract"
        if contract.extra_columns == "stop":
            raise ContractError(msg + ": remove them or add them to the contract")
        warnings.append(msg + ": dropped")
        frame = frame.drop(columns=extra)
    return frame, warnings


def check_header(
    names: list[str], contract: Contract, mode: str = "train", origin: str = "input"
) -> None:
    """Raise the one-line ContractError `condition` would raise for a header no row can pass.

    A missing column or target, or an unknown column the contract stops on, is found before any row
    is read.
    """
    _match_columns(pd.DataFrame(columns=list(names)), contract, mode, origin)


def _numbers(cells: pd.Series, written: NumberFormat | None) -> np.ndarray:
    """Return a number column's cells as float64, NaN where missing or not a number.

    Text is parsed, `written`'s marks removed first. Numbers (a request's JSON numbers) are taken as
    they are: the float64 their decimal text parses to, so every rule judges them as it judges text.
    """
    if isinstance(cells.dtype, np.dtype) and cells.dtype.kind in "iuf":  # NaN: missing already
        return cells.to_numpy(dtype="float64")
    return _as_numbers(read_numbers(cells, written) if written else cells)


def _shown(cells: pd.Series, i: int) -> str | None:
    """Return cell `i` as the text a person wrote: text as it is, a number as its decimal text."""
    value = cells[i]
    return value if isinstance(value, str) else cell_text(value)


def _as_numbers(text: pd.Series) -> np.ndarray:
    """Return text cells as float64, NaN where missing or not a number.

    Arrow parses a whole column at once (many times faster than pd.to_numeric,
    which matters when scoring millions of rows); a column holding anything
    Arrow refuses (a stray word, spaces) takes pandas' forgiving per-cell path.
    """
    try:
        arrow = pyarrow.array(text.array, from_pandas=True)
        if pyarrow.types.is_string(arrow.type) or pyarrow.types.is_large_string(arrow.type):
            parsed = pyarrow.compute.cast(arrow, pyarrow.float64())
            return parsed.to_numpy(zero_copy_only=False)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError, pyarrow.ArrowNotImplementedError):
        pass
    return pd.to_numeric(text.astype(object), errors="coerce").to_numpy(dtype="float64")


def _coerce(
    frame: pd.DataFrame,
    contract: Contract,
    reasons: dict[int, list[str]],
    origin: str,
    warnings: list[str],
    whole: bool = True,
) -> dict[str, Any]:
    """Return the contract's columns of `frame` (text cells) typed, as arrays by name, noting each unreadable cell in `reasons`.

    A cell is unreadable when it cannot be read as its column's type. Works on NumPy masks: a small
    request pays little per column, a large chunk is vectorized. The arrays (NumPy, Int64, dates,
    text), in the contract's order, are what `condition` makes its frame of and checks the rules on.
    """
    typed = {}
    index = frame.index
    for c in contract.columns:
        if c.name not in frame.columns:
            continue
        text = frame[c.name]
        present = ~np.asarray(pd.isna(text.array))
        # a piece of a file (`whole=False`) leaves that to its caller, who sees every piece
        if whole and len(frame) and not present.any():
            if not c.nullable:
                raise empty_column_error(origin, c.name)
            warnings.append(empty_column_warning(origin, c.name))

        def note(mask: np.ndarray, reason: str, c: ColumnRule = c, text: pd.Series = text) -> None:
            # masks tested first: taking an index by an all-False mask costs more than the test
            for i in index[mask] if mask.any() else ():
                reasons.setdefault(i, []).append(f"{c.name}: {_shown(text, i)!r} {reason}")

        hint = ""
        if c.type in ("int", "float"):
            numbers = _numbers(text, c.number_format)
            missing = np.isnan(numbers)
            bad = present & missing
            infinite = np.isinf(numbers)
            note(infinite, "is not a finite number")
            known = ~missing & ~infinite
            if c.type == "int":
                fractional = known & (
                    np.mod(numbers, 1, where=known, out=np.zeros_like(numbers)) != 0
                )
                note(fractional, "is not a whole number")
                # beyond float64's exact integers a whole number is no longer the one written
                huge = (
                    known
                    & ~fractional
                    & (np.abs(numbers, where=known, out=np.zeros_like(numbers)) > 2**53)
                )
                note(
                    huge,
                    "is out of range for an integer column (at most 2^53 in size): "
                    "declare the column float or string",
                )
                values = _whole_numbers(numbers, known & ~fractional & ~huge)
            else:
                values = np.where(infinite, np.nan, numbers) if infinite.any() else numbers
            hint = thousands_hint(text[bad]) if bad.any() else ""
        elif c.type == "date":
            dates, outside = read_dates(text, pd.Series(present, index=index), c.format)
            values = dates.array
            outside = outside.to_numpy()
            note(outside, "is out of range for a date (years 1678 to 2261)")
            bad = present & np.asarray(pd.isna(values)) & ~outside
        else:
            # text cells are already `str` (missing: NaN) when a reader hands Arrow text over
            values = (text if text.dtype == "str" else text.astype("str")).array
            bad = None
        for i in index[bad] if bad is not None and bad.any() else ():
            if c.type in ("int", "float"):
                kind = "number"
                shown = hint if "," in str(text[i]) else ""
            else:
                kind = (
                    f"date in format {c.format}"
                    if c.format
                    else "date (ISO, for example 2024-01-31)"
                )
                shown = (
                    ""
                    if c.format
                    else f" (another format? declare it: columns: {c.name}: format: '%d/%m/%Y')"
                )
            reasons.setdefault(i, []).append(f"{c.name}: {text[i]!r} is not a {kind}{shown}")
        typed[c.name] = values
    return typed


def _whole_numbers(numbers: np.ndarray, known: np.ndarray) -> pd.arrays.IntegerArray:
    """Return float64 `numbers` that are whole as an Int64 array, missing where not `known`."""
    ints = np.where(known, numbers, 0).astype("int64")
    return pd.arrays.IntegerArray(ints, ~known)


def condition(
    frame: pd.DataFrame,
    contract: Contract,
    mode: str = "train",
    origin: str = "input",
    whole: bool = True,
) -> Conditioned:
    """Return the frame typed by the contract, with each violating row moved to quarantine with its reasons.

    Raises ContractError (one line) for what no row-level quarantine can fix:
    a missing column, an empty column, a single-class target, or more
    quarantined rows than the contract allows. `whole=False` says the frame is one piece of an
    input (a chunk): a column empty in every row of the piece is then no error, its rows are
    quarantined for their missing values, and the caller judges the column over the whole input.
    """
    if mode not in ("train", "score"):
        raise ContractError(f"mode must be 'train' or 'score', not {mode!r}")
    frame = numbered_from_zero(frame)
    rows_in = len(frame)
    if rows_in == 0:
        raise ContractError(f"{origin}: no rows to check: the input has a header but no data")
    frame, warnings = _match_columns(frame, contract, mode, origin)
    reasons: dict[int, list[str]] = {}
    columns = _coerce(frame, contract, reasons, origin, warnings, whole)
    # one block per column, as they are: no copy into 2-D blocks (and taking rows is faster)
    typed = pd.DataFrame(columns, index=frame.index, copy=False)
    lines = frame[LINE] if LINE in frame.columns else pd.Series(frame.index + 2, index=frame.index)
    rules = contract_plan(contract).rules

    def add(i: int, message: str) -> None:
        found = reasons.setdefault(i, [])
        if message not in found:
            found.append(message)

    # the rules read the typed arrays: no column taken out of the frame again
    for column, check, value, index in rule_failures(columns, contract, mode):
        if index is None or (isinstance(index, float) and np.isnan(index)):
            if "dtype" in check:
                continue  # _coerce quarantines type mismatches row by row
            raise ContractError(
                f"{origin}: column {column!r} fails {check}: fix the data or the contract"
            ) from None
        index = int(index)
        rule = rules.get(column)
        if rule is None:
            continue
        if check == "not_nullable":
            if any(r.startswith(f"{column}: ") for r in reasons.get(index, [])):
                continue  # already quarantined for an unreadable value in this column
            message = (
                f"{column}: missing target value"
                if column == contract.target
                else f"{column}: missing value"
            )
        else:
            message = explain(rule, value, contract)
        if rule.on_fail == "stop":
            raise ContractError(
                f"{origin}: line {int(lines[index])}: {message}: fix the row or relax the contract"
            ) from None
        if rule.on_fail == "warn":
            warnings.append(f"{origin}: line {int(lines[index])}: {message}")
            continue
        add(index, message)

    # Repeats among the rows that pass otherwise (the first occurrence always stays): what the contract's
    # `duplicates` says for exact repeats, `duplicate_ids` for a repeated id on a different row.
    # Scoring with an id column skips the row hash (a repeated row repeats its id and is caught below).
    failing = None
    if reasons:
        failing = np.zeros(len(typed), dtype=bool)
        failing[list(reasons)] = True  # the index is 0..n-1 (reset above)
    has_id = bool(contract.id_column) and contract.id_column in typed.columns
    passing_ids = None
    if has_id:
        passing_ids = typed[contract.id_column]
        passing_ids = passing_ids[~failing] if failing is not None else passing_ids
    by_id_only = mode == "score" and has_id
    # rows with distinct ids cannot be equal: then there is nothing to hash and no id to compare
    distinct_ids = (
        passing_ids is not None and not passing_ids.isna().any() and passing_ids.is_unique
    )
    if by_id_only or distinct_ids:
        passing = None
        twins = _NONE_EQUAL
    else:
        passing = typed[~failing] if failing is not None else typed
        twins = _first_of_equal(pd.util.hash_pandas_object(passing, index=False))
    if contract.duplicates in ("drop", "quarantine"):
        tail = f": {DROPPED}" if contract.duplicates == "drop" else ""
        for i, twin in twins.items():
            add(i, f"duplicate row (same values as line {int(lines[twin])}){tail}")
    elif contract.duplicates == "warn" and len(twins):
        i, twin = next(iter(twins.items()))
        warnings.append(
            f"{origin}: {len(twins)} row(s) repeat an earlier row exactly (first: line {int(lines[i])} "
            f"repeats line {int(lines[twin])}): kept (duplicates: warn in the contract)"
        )
    repeated_ids = 0
    if has_id and not distinct_ids:
        ids = (passing_ids.drop(index=list(twins.index)) if len(twins) else passing_ids).dropna()
        conflicts = _first_of_equal(ids)
        repeated_ids = len(conflicts)
        policy = contract.duplicate_ids
        for i, twin in conflicts.items():
            message = (
                f"{contract.id_column}: duplicate id {ids[i]!r} (first on line {int(lines[twin])})"
            )
            if policy == "stop":
                raise ContractError(
                    f"{origin}: line {int(lines[i])}: {message}: fix the row or relax the contract"
                )
            if policy == "quarantine":
                add(i, message)
        if policy == "warn" and repeated_ids:
            i, twin = next(iter(conflicts.items()))
            warnings.append(
                f"{origin}: {repeated_ids} row(s) repeat the id of an earlier, different row (first: line "
                f"{int(lines[i])}, id {ids[i]!r} of line {int(lines[twin])}): kept (duplicate_ids: warn)"
            )

    bad = sorted(reasons)
    if bad:
        kept = np.ones(len(typed), dtype=bool)
        kept[bad] = False
        # the clean rows' arrays, and the frame made of them as `typed` is made of `columns`
        columns = {name: values[kept] for name, values in columns.items()}
        keep = pd.DataFrame(columns, index=pd.RangeIndex(len(typed) - len(bad)), copy=False)
    else:
        keep = typed
    if bad:
        records = frame.drop(columns=[c for c in (LINE, SOURCE) if c in frame.columns])
        quarantine = pd.DataFrame(
            {
                "source": (
                    frame[SOURCE].loc[bad].astype(object).tolist()
                    if SOURCE in frame.columns
                    else [origin] * len(bad)
                ),
                "line": lines.loc[bad].astype("int64").tolist(),
                "reason": ["; ".join(reasons[i]) for i in bad],
                "record": [
                    _record(row) for row in records.loc[bad].itertuples(index=False, name=None)
                ],
            },
            columns=QUARANTINE_COLUMNS,
        )
    else:  # the same empty columns, no rows taken
        quarantine = _NO_QUARANTINE.copy()

    wrong = wrong_rows(quarantine)  # rows set aside by `duplicates: drop` are not errors
    fraction = wrong / rows_in
    if fraction > contract.max_quarantine_fraction:
        quarantine = quarantine[~quarantine["reason"].str.endswith(DROPPED)]
        kinds = (
            quarantine["reason"]
            .str.split("; ")
            .explode()
            .str.split(r"[:(]", regex=True)
            .str[0]
            .str.strip()
        )
        top = f"{kinds.value_counts().index[0]}, e.g. line {quarantine['line'].iloc[0]}: {quarantine['reason'].iloc[0]}"
        raise ContractError(
            f"{origin}: {wrong} of {rows_in} rows ({fraction:.1%}) break the contract, more than the allowed "
            f"{contract.max_quarantine_fraction:.1%} (most common: {top}): fix the source or raise max_quarantine_fraction"
        )
    if mode == "train" and contract.task == "classification" and len(keep):
        target = keep[contract.target]
        known = target.notna()
        only = target.loc[known.idxmax()] if known.any() else target.iloc[0]
        # fewer than two classes? One comparison with the first label, not a count of distinct labels
        if not (known & (target != only)).any():
            raise ContractError(
                f"{origin}: target {contract.target!r} has a single class ({only!r}): a classifier needs at least two"
            )
    # `typed` holds the contract's columns in its order, its rows numbered from 0 as `keep`'s
    return Conditioned(
        clean=keep,
        quarantine=quarantine,
        warnings=warnings,
        rows_in=rows_in,
        repeated_rows=len(twins),
        repeated_ids=repeated_ids,
        outside_expectations=outside_expectations(keep, contract),
        columns=columns,
    )


def outside_expectations(frame: pd.DataFrame, contract: Contract) -> dict[str, int]:
    """Return, per column with an expectation, how many values of typed `frame` lie outside what training saw."""
    counts = {}
    for rule in contract_plan(contract).expected:
        if rule.name not in frame.columns:
            continue
        values = frame[rule.name]
        outside = pd.Series(False, index=frame.index)
        if rule.expect_min is not None:
            outside |= (values < rule.expect_min).fillna(False).astype(bool)
        if rule.expect_max is not None:
            outside |= (values > rule.expect_max).fillna(False).astype(bool)
        if rule.expect_categories is not None:
            outside |= values.notna() & ~values.isin(list(rule.expect_categories))
        if outside.any():
            counts[rule.name] = int(outside.sum())
    return counts


def _first_of_equal(values: pd.Series) -> pd.Series:
    """Return, for each repeated value but its first occurrence, the index of that first occurrence."""
    if not values.duplicated().any():  # the usual case, and a hash table is cheaper than a group-by
        return _NONE_EQUAL
    first = (
        pd.Series(values.index, index=values.index)
        .groupby(values.to_numpy(), sort=False)
        .transform("first")
    )
    return first[first != first.index]


def _record(row: tuple) -> str:
    return ",".join(
        "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in row
    )


def read_normalized(path: str, contract: Contract) -> pd.DataFrame:
    """Return a normalized CSV read back with the contract's types (ids and categories stay text)."""
    kinds = {c.name: c.type for c in contract.columns}
    dtypes = {
        n: ("str" if k in ("category", "string") else "Int64" if k == "int" else "float64")
        for n, k in kinds.items()
        if k != "date"
    }
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    for name, kind in kinds.items():
        if kind == "date" and name in frame:
            frame[name] = pd.to_datetime(frame[name])
    return frame

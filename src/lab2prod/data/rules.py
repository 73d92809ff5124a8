"""The contract's hard rules: the cells of a typed frame that break them, and why, in one line.

Two ways to find them, with the same verdicts: pandera's schema (`pandera_schema`, also what the
quality report runs) and NumPy masks (`rule_failures`), which cost a small request little; a
contract with a bound on a column that is not a number takes pandera's way. What conditioning
reads of a contract on every chunk is worked out once per contract (`contract_plan`).
Pure: no files, no MLflow.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

from lab2prod.data.contract import ColumnRule, Contract, column_key

if TYPE_CHECKING:
    import pandera.pandas as pa


def _pandas_dtype(kind: str) -> Any:
    return {
        "int": "Int64",
        "float": "float64",
        "category": "str",
        "string": "str",
        "date": "datetime64[ns]",
    }[kind]


def pandera_schema(
    contract: Contract, mode: str = "train", unique_id: bool = True
) -> pa.DataFrameSchema:
    """Return the pandera schema of the contract's checks (for `mode` train, the target is required).

    `unique_id=False` leaves out the id's uniqueness: `condition` checks it itself so that the
    first occurrence is kept and only the later ones are quarantined.
    """
    # imported here, not with the module: `lab2prod score` forks its conditioning worker before pandera is
    # imported, and the parent, which only predicts, never needs it (docs/explanation/layout.md, "Imports")
    import pandera.pandas as pa

    columns: dict[str, pa.Column] = {}
    for c in contract.columns:
        if c.name == contract.target and mode != "train":
            continue
        checks = []
        if c.min is not None:
            checks.append(pa.Check.ge(c.min, name=f"{c.name} >= {c.min}"))
        if c.max is not None:
            checks.append(pa.Check.le(c.max, name=f"{c.name} <= {c.max}"))
        if c.categories is not None:
            checks.append(
                pa.Check.isin(list(c.categories), name=f"{c.name} in {{{', '.join(c.categories)}}}")
            )
        if c.name == contract.target and contract.labels:
            checks.append(
                pa.Check.isin(
                    list(contract.labels), name=f"label in {{{', '.join(contract.labels)}}}"
                )
            )
        columns[c.name] = pa.Column(
            _pandas_dtype(c.type),
            checks=checks,
            nullable=c.nullable,
            unique=unique_id and c.name == contract.id_column,
            required=True,
        )
    return pa.DataFrameSchema(columns, strict=False, name=contract.dataset)


def _scoring_schema(contract: Contract, mode: str) -> pa.DataFrameSchema:
    """Return `pandera_schema(contract, mode, unique_id=False)`, built once per contract and mode.

    Scoring conditions a batch chunk by chunk with the same contract; a contract holding lists
    (unhashable) gets a fresh one.
    """
    try:
        return _cached_schema(contract, mode)
    except TypeError:
        return pandera_schema(contract, mode, unique_id=False)


@functools.lru_cache(maxsize=16)
def _cached_schema(contract: Contract, mode: str) -> pa.DataFrameSchema:
    return pandera_schema(contract, mode, unique_id=False)


@dataclass(frozen=True)
class ContractPlan:
    """What conditioning reads of a contract on every chunk, worked out once per contract."""

    wanted: dict[str, str]  # column_key(name) -> the contract's name
    rules: dict[str, ColumnRule]
    required: dict[str, tuple[str, ...]]  # mode -> the columns a frame must hold
    checked: dict[str, tuple[ColumnRule, ...]]  # mode -> the columns with a hard rule to test
    allowed: dict[tuple[str, str], pyarrow.Array]  # (mode, column) -> its categories, the labels
    by_masks: bool  # every bound is on a number column: NumPy masks test every rule
    expected: tuple[ColumnRule, ...]  # the columns with an expectation (drift, not quarantine)


def contract_plan(contract: Contract) -> ContractPlan:
    """Return the contract's `ContractPlan`, built once per contract.

    A contract holding lists (unhashable) gets a fresh one.
    """
    try:
        return _cached_plan(contract)
    except TypeError:
        return _make_plan(contract)


@functools.lru_cache(maxsize=16)
def _cached_plan(contract: Contract) -> ContractPlan:
    return _make_plan(contract)


def _make_plan(contract: Contract) -> ContractPlan:
    checked: dict[str, tuple[ColumnRule, ...]] = {}
    allowed: dict[tuple[str, str], pyarrow.Array] = {}
    for mode in ("train", "score"):
        rules = []
        for c in contract.columns:
            if c.name == contract.target and mode != "train":
                continue
            if c.categories is not None:
                allowed[(mode, c.name)] = pyarrow.array(c.categories, pyarrow.string())
            labels = c.name == contract.target and bool(contract.labels) and mode == "train"
            if labels:
                allowed[(mode, f"{c.name} labels")] = pyarrow.array(
                    contract.labels, pyarrow.string()
                )
            bounded = c.min is not None or c.max is not None or c.categories is not None
            if bounded or not c.nullable or labels:
                rules.append(c)
        checked[mode] = tuple(rules)
    return ContractPlan(
        wanted={column_key(c.name): c.name for c in contract.columns},
        rules={c.name: c for c in contract.columns},
        required={
            "train": tuple(c.name for c in contract.columns),
            "score": tuple(c.name for c in contract.columns if c.name != contract.target),
        },
        checked=checked,
        allowed=allowed,
        by_masks=all(
            c.type in ("int", "float")
            for c in contract.columns
            if c.min is not None or c.max is not None
        ),
        expected=tuple(
            c
            for c in contract.columns
            if c.expect_min is not None
            or c.expect_max is not None
            or c.expect_categories is not None
        ),
    )


def _plain(value: Any) -> Any:
    """Return a numpy scalar as the Python value it holds (150, not np.int64(150))."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def explain(rule: ColumnRule, value: Any, contract: Contract) -> str:
    """Return the one-line reason why `value` breaks `rule` (for a quarantine row or a warning)."""
    value = _plain(value)
    if rule.name == contract.target and contract.labels and str(value) not in contract.labels:
        return f"{rule.name}: unknown target label {value!r} (expected one of {', '.join(contract.labels)})"
    if rule.categories is not None and str(value) not in rule.categories:
        return f"{rule.name}: {value!r} is not one of {', '.join(rule.categories)}"
    if rule.min is not None and isinstance(value, (int, float)) and value < rule.min:
        return f"{rule.name}: {value} is below the minimum {_plain(rule.min)}"
    if rule.max is not None and isinstance(value, (int, float)) and value > rule.max:
        return f"{rule.name}: {value} is above the maximum {_plain(rule.max)}"
    return f"{rule.name}: {value!r} breaks the contract"


def rule_failures(
    typed: pd.DataFrame | Mapping[str, Any], contract: Contract, mode: str
) -> Iterator[tuple]:
    """Yield (column, check, value, row index) for every cell of `typed` breaking a hard rule.

    `typed` is a typed frame, or its columns as arrays by name (rows numbered from 0), as
    `condition` hands them over without taking each column out of a frame again. The checks
    `pandera_schema(contract, mode, unique_id=False)` makes, column by column in the
    contract's order: a missing value where none is allowed ("not_nullable"), then min, max,
    categories and, for the target in train mode, the labels. Computed with NumPy masks: pandera's
    fixed cost per column, whatever the number of rows, would be most of the time of a small request.
    A contract with a bound on a column that is not a number (a date) takes pandera's path.
    """
    plan = contract_plan(contract)
    if not plan.by_masks:
        frame = typed if isinstance(typed, pd.DataFrame) else pd.DataFrame(typed, copy=False)
        yield from _pandera_failures(frame, contract, mode)
        return
    for c in plan.checked[mode]:  # the columns with no hard rule have nothing to test
        if c.name not in typed:  # a frame's `in` looks at its columns, as a mapping's at its keys
            continue
        values = typed[c.name]
        cells = values.array if isinstance(values, pd.Series) else values
        missing = np.asarray(pd.isna(cells))
        if not c.nullable:
            for i in np.flatnonzero(missing) if missing.any() else ():
                yield c.name, "not_nullable", None, int(i)
        masks = []
        if c.min is not None or c.max is not None:
            numbers = _float_values(cells)
            if c.min is not None:
                masks.append(~missing & (numbers < c.min))
            if c.max is not None:
                masks.append(~missing & (numbers > c.max))
        for key in ((mode, c.name), (mode, f"{c.name} labels")):
            if key in plan.allowed:
                known = pyarrow.compute.is_in(
                    pyarrow.array(cells, from_pandas=True), value_set=plan.allowed[key]
                )
                masks.append(~missing & ~known.to_numpy(zero_copy_only=False))
        for mask in masks:
            for i in np.flatnonzero(mask) if mask.any() else ():
                yield c.name, "rule", cells[i], int(i)


def _float_values(cells: Any) -> np.ndarray:
    """Return a number column's array (NumPy, Int64 or a pandas array of floats) as float64, NaN where missing."""
    if isinstance(cells, np.ndarray):
        return cells.astype("float64", copy=False)
    return cells.to_numpy(dtype="float64", na_value=np.nan)


def _pandera_failures(typed: pd.DataFrame, contract: Contract, mode: str) -> Iterator[tuple]:
    """Yield pandera's failure cases of `typed` as (column, check, value, row index)."""
    import pandera.errors

    try:
        # in place: pandera checks `typed` (it coerces nothing) instead of a copy of every column
        _scoring_schema(contract, mode).validate(typed, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as exc:
        for case in exc.failure_cases.itertuples(index=False):
            yield case.column, str(case.check), case.failure_case, case.index

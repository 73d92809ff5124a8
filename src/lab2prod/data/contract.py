"""The data contract: a readable YAML description turned into a pandera schema, and row conditioning.

A contract names every column with its type (``int``, ``float``, ``category``,
``date``, ``string``), nullability, range or categories; the id and target; and
per check what a violation does: ``stop`` the build, ``quarantine`` the row, or
``warn``. Columns are matched by name (case and spaces forgiven), never by
position. Pure: no files, no MLflow.

Two kinds of bounds. ``min``, ``max`` and ``categories`` are hard rules: a row
breaking one is quarantined (or stops the build, or warns, by ``on_fail``).
``expect: {min, max, categories}`` is what the training data held: a value
outside it is counted (``Conditioned.outside_expectations``) and left to the
monitor's drift checks, never quarantined. An inferred contract writes only
expectations for its features; hard rules are the ones a person wrote.

Repeats are contract settings too. ``duplicates`` says what happens to a row
equal in every column to an earlier one: ``keep`` (counted), ``warn`` (counted,
one warning line), ``drop`` (set aside in the quarantine zone, not counted
against ``max_quarantine_fraction``) or ``quarantine`` (set aside, counted: the
author says repeats are errors). ``duplicate_ids`` says what happens to a row
whose id an earlier, *different* row already has (two versions of one record):
``quarantine`` (the later one, counted), ``stop``, ``warn`` or ``keep``. A row
repeated exactly, id included, is a repeated row, not an id conflict.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

from lab2prod.data.cells import LINE
from lab2prod.data.formats import (
    ISO,
    NumberFormat,
    number_format,
    read_dates,
    read_numbers,
    thousands_hint,
)
from lab2prod.data.formats import date_format as find_date_format
from lab2prod.errors import ContractError, MissingColumnError

if TYPE_CHECKING:
    import pandera.pandas as pa

SOURCE = "_source"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
TYPES = ("int", "float", "category", "date", "string")
SEVERITIES = ("stop", "quarantine", "warn")
DUPLICATE_ROWS = ("keep", "warn", "drop", "quarantine")
DUPLICATE_IDS = ("keep", "warn", "quarantine", "stop")
# the end of the reason of a row set aside by `duplicates: drop`: not counted against the quarantine limit
DROPPED = "dropped by duplicates: drop"
QUARANTINE_COLUMNS = ["source", "line", "reason", "record"]


@dataclass(frozen=True)
class ColumnRule:
    """What one column must hold."""

    name: str
    type: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    on_fail: str = "quarantine"
    # what the training data held: drift when a batch leaves it, never a quarantine
    expect_min: float | None = None
    expect_max: float | None = None
    expect_categories: tuple[str, ...] | None = None
    # how the cells write the value: a number's thousands mark and sign, a date's format
    thousands: str | None = None
    symbol: str | None = None
    format: str | None = None

    @property
    def number_format(self) -> NumberFormat | None:
        """Return the thousands mark and sign a number column's cells carry, None for plain numbers."""
        if self.thousands or self.symbol:
            return NumberFormat(thousands=self.thousands, symbol=self.symbol)
        return None


@dataclass(frozen=True)
class Contract:
    """A dataset's contract: columns, id, target and the limits of quarantine."""

    dataset: str
    task: str
    target: str
    columns: tuple[ColumnRule, ...]
    id_column: str | None = None
    labels: tuple[str, ...] | None = None
    positive_label: str | None = None
    max_quarantine_fraction: float = 0.05
    extra_columns: str = "warn"
    origin: str = "contract"
    duplicates: str = "quarantine"
    duplicate_ids: str = "quarantine"

    @property
    def features(self) -> list[str]:
        """Return the names of the model's input columns (all but id and target)."""
        return [c.name for c in self.columns if c.name not in (self.target, self.id_column)]

    def rule(self, name: str) -> ColumnRule:
        """Return the rule of column `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def features_of(self, kind: str) -> list[str]:
        """Return the feature names whose type is `kind`."""
        return [c.name for c in self.columns if c.type == kind and c.name in self.features]

    def left_out(self) -> dict[str, str]:
        """Return the columns the model does not use as features (target aside), each with why."""
        out = {}
        if self.id_column:
            out[self.id_column] = "the id column: it ties each prediction to its row"
        for name in self.features_of("string"):
            out[name] = (
                "free text (not numbers, dates, or at most 30 categories): "
                "declare it category or float in the contract to use it"
            )
        return out

    def left_out_lines(self) -> list[str]:
        """Return one line per column `left_out` names, for a build's output."""
        # the id column is no surprise: the report and the model card name it, the output does not
        return [
            f"column {n!r} is not a feature: {why}"
            for n, why in self.left_out().items()
            if n != self.id_column
        ]


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

    @property
    def rows_wrong(self) -> int:
        """Return how many quarantined rows count against the contract's limit (not those dropped as repeats)."""
        return wrong_rows(self.quarantine)


def wrong_rows(quarantine: pd.DataFrame) -> int:
    """Return how many rows of a quarantine frame are really wrong: all but those `duplicates: drop` set aside."""
    if not len(quarantine):
        return 0
    return int((~quarantine["reason"].astype(str).str.endswith(DROPPED)).sum())


def contract_from_dict(data: dict[str, Any], origin: str = "contract") -> Contract:
    """Return the Contract described by a mapping (as read from its YAML file), checking every field."""
    try:
        target = data["target"]
        target_name = target["name"] if isinstance(target, dict) else target
        columns = []
        for name, spec in data["columns"].items():
            spec = spec or {}
            kind = spec.get("type", "string")
            if kind not in TYPES:
                raise ContractError(
                    f"{origin}: column {name!r} has type {kind!r}; use one of {', '.join(TYPES)}"
                )
            on_fail = spec.get("on_fail", "quarantine")
            if on_fail not in SEVERITIES:
                raise ContractError(
                    f"{origin}: column {name!r} has on_fail {on_fail!r}; use one of {', '.join(SEVERITIES)}"
                )
            cats = spec.get("categories")
            expect = spec.get("expect") or {}
            written = _written_as(origin, str(name), kind, spec)
            seen = expect.get("categories")
            columns.append(
                ColumnRule(
                    name=str(name),
                    type=kind,
                    nullable=bool(spec.get("nullable", True)),
                    min=spec.get("min"),
                    max=spec.get("max"),
                    categories=tuple(str(c) for c in cats) if cats is not None else None,
                    on_fail=on_fail,
                    expect_min=expect.get("min"),
                    expect_max=expect.get("max"),
                    expect_categories=tuple(str(c) for c in seen) if seen is not None else None,
                    **written,
                )
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ContractError(
            f"{origin}: missing or malformed field {exc}: see data/contracts/credit.yaml for the layout"
        ) from None
    labels = target.get("labels") if isinstance(target, dict) else None
    id_rule = next((c for c in columns if c.name == data.get("id_column")), None)
    duplicates = str(data.get("duplicates", "quarantine"))
    # an id column whose on_fail is stop stops on a repeated id unless `duplicate_ids` says otherwise
    default_ids = "stop" if id_rule is not None and id_rule.on_fail == "stop" else "quarantine"
    duplicate_ids = str(data.get("duplicate_ids", default_ids))
    for key, value, allowed in (
        ("duplicates", duplicates, DUPLICATE_ROWS),
        ("duplicate_ids", duplicate_ids, DUPLICATE_IDS),
    ):
        if value not in allowed:
            raise ContractError(f"{origin}: {key} is {value!r}; use one of {', '.join(allowed)}")
    contract = Contract(
        dataset=str(data.get("dataset", "dataset")),
        task=str(data.get("task", "classification")),
        target=str(target_name),
        columns=tuple(columns),
        id_column=data.get("id_column"),
        labels=tuple(str(x) for x in labels) if labels else None,
        positive_label=str(target["positive"])
        if isinstance(target, dict) and target.get("positive") is not None
        else None,
        max_quarantine_fraction=float(data.get("max_quarantine_fraction", 0.05)),
        extra_columns=str(data.get("extra_columns", "warn")),
        origin=origin,
        duplicates=duplicates,
        duplicate_ids=duplicate_ids,
    )
    if contract.target not in [c.name for c in columns]:
        raise ContractError(f"{origin}: target {contract.target!r} is not among the columns")
    return contract


def _written_as(origin: str, name: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return a column's `thousands`, `symbol` and `format` keys, checked against its type."""
    keys = {k: spec[k] for k in ("thousands", "symbol", "format") if spec.get(k) is not None}
    allowed = {
        "int": ("thousands", "symbol"),
        "float": ("thousands", "symbol"),
        "date": ("format",),
    }
    wrong = [k for k in keys if k not in allowed.get(kind, ())]
    if wrong:
        raise ContractError(
            f"{origin}: column {name!r} of type {kind} cannot have {wrong[0]!r}: "
            "thousands and symbol are for int and float columns, format for date columns"
        )
    mark = keys.get("thousands")
    if mark is not None and (len(str(mark)) != 1 or str(mark).isdigit()):
        raise ContractError(
            f"{origin}: column {name!r} has thousands {mark!r}: use one character such as ',' or '.'"
        )
    return {k: str(v) for k, v in keys.items()}


def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """Return the mapping that `contract_from_dict` reads, for writing a reviewed YAML file."""
    cols: dict[str, Any] = {}
    for c in contract.columns:
        spec: dict[str, Any] = {"type": c.type, "nullable": c.nullable}
        if c.min is not None:
            spec["min"] = c.min
        if c.max is not None:
            spec["max"] = c.max
        if c.categories is not None:
            spec["categories"] = list(c.categories)
        for key in ("thousands", "symbol", "format"):
            if getattr(c, key) is not None:
                spec[key] = getattr(c, key)
        spec["on_fail"] = c.on_fail
        expect = {
            k: v
            for k, v in (
                ("min", c.expect_min),
                ("max", c.expect_max),
                ("categories", list(c.expect_categories) if c.expect_categories else None),
            )
            if v is not None
        }
        if expect:
            spec["expect"] = expect
        cols[c.name] = spec
    target: dict[str, Any] = {"name": contract.target}
    if contract.labels:
        target["labels"] = list(contract.labels)
    if contract.positive_label:
        target["positive"] = contract.positive_label
    return {
        "dataset": contract.dataset,
        "task": contract.task,
        "id_column": contract.id_column,
        "target": target,
        "max_quarantine_fraction": contract.max_quarantine_fraction,
        "extra_columns": contract.extra_columns,
        "duplicates": contract.duplicates,
        "duplicate_ids": contract.duplicate_ids,
        "columns": cols,
    }


def guess_task(values: pd.Series) -> str:
    """Return 'regression' for a target of numbers with more than 10 distinct values, else 'classification'."""
    present = values.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    return (
        "regression"
        if len(present) and numbers.notna().all() and numbers.nunique() > 10
        else "classification"
    )


def infer_contract(
    frame: pd.DataFrame,
    dataset: str,
    target: str,
    task: str | None = None,
    id_column: str | None = None,
    date_columns: tuple[str, ...] = (),
    max_categories: int = 30,
    date_format: str | None = None,
) -> Contract:
    """Return a contract inferred from a frame of text cells: types, observed ranges, categories and labels.

    Numbers written with a thousands mark or a sign (``3,504``, ``57%``) are numbers when the whole
    column writes them one way; a date column's one format comes from the whole column, or from
    `date_format` for the declared `date_columns` (formats.py).

    `task` None or "" is guessed from the target (`guess_task`): the one guess that the pipeline's
    bring-your-own-data ingest and `lab2prod contract infer` share.
    """
    shown = [str(c) for c in frame.columns if c not in (LINE, SOURCE)]
    if target not in frame.columns:
        raise ContractError(
            f"{dataset}: target column {target!r} not found; columns are {', '.join(shown)}"
        )
    for role, name in [("id", id_column)] + [("date", d) for d in date_columns]:
        if name and name not in frame.columns:
            raise ContractError(
                f"{dataset}: {role} column {name!r} not found; columns are {', '.join(shown)}"
            )
    task = task or guess_task(frame[target])
    if task not in ("classification", "regression"):
        raise ContractError(f"{dataset}: task {task!r} must be classification or regression")
    columns = []
    for name in frame.columns:
        if name in (LINE, SOURCE):
            continue
        values = frame[name]
        present = values.dropna()
        numbers = pd.to_numeric(present, errors="coerce")
        dated = None
        if name in date_columns:
            dated = date_format or find_date_format(values, name)
        elif name != target and name != id_column and len(present) and numbers.isna().any():
            dated = _found_date_format(values, name)
        written = None
        if (
            name != id_column
            and dated is None
            and numbers.isna().any()
            and not (name == target and task == "classification")
        ):
            written = number_format(values, name)
            if written is not None:
                numbers = pd.to_numeric(
                    read_numbers(present.astype(str).str.strip(), written), errors="coerce"
                )
        if name == id_column:
            rule = ColumnRule(name, "string", nullable=False, on_fail="quarantine")
        elif dated is not None:
            # dates are dates even when not declared: never one-hot encoded as strings
            rule = ColumnRule(
                name,
                "date",
                nullable=bool(values.isna().any()),
                format=None if dated == ISO else dated,
            )
        elif (
            len(present)
            and numbers.notna().all()
            and not (name == target and task == "classification")
        ):
            finite = numbers[np.isfinite(numbers)]
            # whole numbers beyond float64's exact integers are no `int` column: floats hold them
            integral = (
                bool(np.all(np.mod(finite, 1) == 0))
                and len(finite) == len(numbers)
                and not (np.abs(finite) > 2**53).any()
            )
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (None, None)
            # the observed range is what training saw, not a rule: next month's larger value is drift
            rule = ColumnRule(
                name,
                "int" if integral else "float",
                nullable=bool(values.isna().any()) or name != target,
                expect_min=_round(lo) if integral and lo is not None else lo,
                expect_max=_round(hi) if integral and hi is not None else hi,
                thousands=written.thousands if written else None,
                symbol=written.symbol if written else None,
            )
        elif present.nunique() <= max_categories or name == target:
            seen = tuple(sorted(map(str, present.unique())))
            rule = ColumnRule(
                name,
                "category",
                nullable=bool(values.isna().any()) or name != target,
                # a target's labels are a rule (the classes the model predicts); a feature's
                # categories are what training saw (the encoder ignores a new one; drift reports it)
                categories=seen if name == target else None,
                expect_categories=None if name == target else seen,
            )
        else:
            rule = ColumnRule(name, "string", nullable=True)
        if name == target:
            rule = replace(rule, nullable=False, on_fail="quarantine")
        columns.append(rule)
    labels = (
        tuple(sorted(map(str, frame[target].dropna().unique())))
        if task == "classification"
        else None
    )
    positive = _minority(frame[target]) if task == "classification" else None
    return Contract(
        dataset=dataset,
        task=task,
        target=target,
        columns=tuple(columns),
        id_column=id_column,
        labels=labels,
        positive_label=positive,
        # real tables repeat rows (identical bookings, binary features): counted, never a stop
        duplicates="warn",
        duplicate_ids="quarantine",
    )


def _found_date_format(values: pd.Series, name: str) -> str | None:
    """Return the date format of an undeclared text column whose cells are dates, None when they are not.

    A sample decides first whether the column is dates at all (trying every format over a long text
    column costs seconds); then the whole column decides the format.
    """
    present = values.dropna()
    if present.astype(str).str.fullmatch(_ISO_DATE).all():
        return ISO
    if find_date_format(present.head(200), name, required=False) is None:
        return None
    return find_date_format(values, name, required=False)


def _round(x: float) -> int:
    return int(round(x))


def _minority(target: pd.Series) -> str | None:
    counts = target.dropna().astype(str).value_counts()
    return str(counts.sort_index().idxmin()) if len(counts) else None


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
    # imported (0.4 s), and the parent, which only predicts, never needs it
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
    """Return `pandera_schema(contract, mode, unique_id=False)`, built once per contract and mode
    (scoring conditions a batch chunk by chunk with the same contract); a contract holding lists
    (unhashable) gets a fresh one."""
    try:
        return _cached_schema(contract, mode)
    except TypeError:
        return pandera_schema(contract, mode, unique_id=False)


@functools.lru_cache(maxsize=16)
def _cached_schema(contract: Contract, mode: str) -> pa.DataFrameSchema:
    return pandera_schema(contract, mode, unique_id=False)


@dataclass(frozen=True)
class _Plan:
    """What conditioning reads of a contract on every chunk, worked out once per contract."""

    wanted: dict[str, str]  # column_key(name) -> the contract's name
    rules: dict[str, ColumnRule]
    required: dict[str, tuple[str, ...]]  # mode -> the columns a frame must hold
    checked: dict[str, tuple[ColumnRule, ...]]  # mode -> the columns with a hard rule to test
    allowed: dict[tuple[str, str], pyarrow.Array]  # (mode, column) -> its categories, the labels
    by_masks: bool  # every bound is on a number column: NumPy masks test every rule
    expected: tuple[ColumnRule, ...]  # the columns with an expectation (drift, not quarantine)


def _plan(contract: Contract) -> _Plan:
    """Return the contract's `_Plan`, built once per contract (a contract holding lists, unhashable,
    gets a fresh one)."""
    try:
        return _cached_plan(contract)
    except TypeError:
        return _make_plan(contract)


@functools.lru_cache(maxsize=16)
def _cached_plan(contract: Contract) -> _Plan:
    return _make_plan(contract)


def _make_plan(contract: Contract) -> _Plan:
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
    return _Plan(
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


def column_key(name: str) -> str:
    """Return a column name as the contract matches it: case and runs of spaces ignored."""
    return " ".join(str(name).split()).lower()


def empty_column_error(origin: str, name: str) -> ContractError:
    """Return the error of a column the contract requires that holds no value in the whole input."""
    return ContractError(
        f"{origin}: column {name!r} is entirely empty but the contract requires values: check the export"
    )


def empty_column_warning(origin: str, name: str) -> str:
    """Return the warning of an optional column that holds no value in the whole input."""
    return f"{origin}: column {name!r} is entirely empty: check the export"


def _match_columns(
    frame: pd.DataFrame, contract: Contract, mode: str, origin: str
) -> tuple[pd.DataFrame, list[str]]:
    warnings: list[str] = []
    plan = _plan(contract)
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
    """Raise the one-line ContractError that `condition` would, for a header no row can pass (a missing
    column or target, an unknown column the contract stops on), before any row is read."""
    _match_columns(pd.DataFrame(columns=list(names)), contract, mode, origin)


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
) -> pd.DataFrame:
    """Return the contract's columns of `frame` (text cells) typed, noting in `reasons` each cell
    that cannot be read as its column's type.

    Works on NumPy masks: a small request pays little per column, a large chunk is vectorized.
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
                reasons.setdefault(i, []).append(f"{c.name}: {text[i]!r} {reason}")

        hint = ""
        if c.type in ("int", "float"):
            written = c.number_format
            numbers = _as_numbers(read_numbers(text, written) if written else text)
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
            values, outside = read_dates(text, pd.Series(present, index=index), c.format)
            outside = outside.to_numpy()
            note(outside, "is out of range for a date (years 1678 to 2261)")
            bad = present & values.isna().to_numpy() & ~outside
        else:
            # text cells are already `str` (missing: NaN) when a reader hands Arrow text over
            values = text if text.dtype == "str" else text.astype("str")
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
    # one block per column, as they are: no copy into 2-D blocks (and taking rows is faster)
    return pd.DataFrame(typed, index=index, copy=False)


def _whole_numbers(numbers: np.ndarray, known: np.ndarray) -> pd.arrays.IntegerArray:
    """Return float64 `numbers` that are whole as an Int64 array, missing where not `known`."""
    ints = np.where(known, numbers, 0).astype("int64")
    return pd.arrays.IntegerArray(ints, ~known)


def _rule_failures(typed: pd.DataFrame, contract: Contract, mode: str) -> Iterator[tuple]:
    """Yield (column, check, value, row index) for every cell of `typed` breaking a hard rule.

    The checks `pandera_schema(contract, mode, unique_id=False)` makes, column by column in the
    contract's order: a missing value where none is allowed ("not_nullable"), then min, max,
    categories and, for the target in train mode, the labels. Computed with NumPy masks: pandera
    costs about 2 ms a column whatever the number of rows, most of the time of a small request.
    A contract with a bound on a column that is not a number (a date) takes pandera's path.
    """
    plan = _plan(contract)
    if not plan.by_masks:
        yield from _pandera_failures(typed, contract, mode)
        return
    for c in plan.checked[mode]:  # the columns with no hard rule have nothing to test
        if c.name not in typed.columns:
            continue
        values = typed[c.name]
        missing = np.asarray(pd.isna(values.array))
        if not c.nullable:
            for i in np.flatnonzero(missing) if missing.any() else ():
                yield c.name, "not_nullable", None, int(i)
        masks = []
        if c.min is not None or c.max is not None:
            numbers = values.to_numpy(dtype="float64", na_value=np.nan)
            if c.min is not None:
                masks.append(~missing & (numbers < c.min))
            if c.max is not None:
                masks.append(~missing & (numbers > c.max))
        for key in ((mode, c.name), (mode, f"{c.name} labels")):
            if key in plan.allowed:
                cells = pyarrow.array(values.array, from_pandas=True)
                known = pyarrow.compute.is_in(cells, value_set=plan.allowed[key])
                masks.append(~missing & ~known.to_numpy(zero_copy_only=False))
        for mask in masks:
            for i in np.flatnonzero(mask) if mask.any() else ():
                yield c.name, "rule", values.iloc[i], int(i)


def _pandera_failures(typed: pd.DataFrame, contract: Contract, mode: str) -> Iterator[tuple]:
    """Yield pandera's failure cases of `typed` as (column, check, value, row index)."""
    import pandera.errors

    try:
        # in place: pandera checks `typed` (it coerces nothing) instead of a copy of every column
        _scoring_schema(contract, mode).validate(typed, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as exc:
        for case in exc.failure_cases.itertuples(index=False):
            yield case.column, str(case.check), case.failure_case, case.index


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
    frame = frame.reset_index(drop=True)
    rows_in = len(frame)
    if rows_in == 0:
        raise ContractError(f"{origin}: no rows to check: the input has a header but no data")
    frame, warnings = _match_columns(frame, contract, mode, origin)
    reasons: dict[int, list[str]] = {}
    typed = _coerce(frame, contract, reasons, origin, warnings, whole)
    lines = frame[LINE] if LINE in frame.columns else pd.Series(frame.index + 2, index=frame.index)
    rules = _plan(contract).rules

    def add(i: int, message: str) -> None:
        found = reasons.setdefault(i, [])
        if message not in found:
            found.append(message)

    for column, check, value, index in _rule_failures(typed, contract, mode):
        if index is None or (isinstance(index, float) and np.isnan(index)):
            if "dtype" in check:
                continue  # type mismatches were handled row by row in _coerce
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
        twins = pd.Series(dtype="int64")
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
        keep = typed[kept]  # a mask takes rows faster than dropping labels
    else:
        keep = typed
    sources = frame[SOURCE] if SOURCE in frame.columns else pd.Series(origin, index=frame.index)
    records = (
        frame.drop(columns=[c for c in (LINE, SOURCE) if c in frame.columns]) if bad else frame
    )
    quarantine = pd.DataFrame(
        {
            "source": sources.loc[bad].astype(object).tolist(),
            "line": lines.loc[bad].astype("int64").tolist(),
            "reason": ["; ".join(reasons[i]) for i in bad],
            "record": [_record(row) for row in records.loc[bad].itertuples(index=False, name=None)],
        }
        if bad
        else {key: [] for key in QUARANTINE_COLUMNS},  # the same empty columns, no rows taken
        columns=QUARANTINE_COLUMNS,
    )

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
    # `typed` holds the contract's columns in its order: only rows taken need a new index
    return Conditioned(
        clean=keep.reset_index(drop=True) if bad else keep,
        quarantine=quarantine,
        warnings=warnings,
        rows_in=rows_in,
        repeated_rows=len(twins),
        repeated_ids=repeated_ids,
        outside_expectations=outside_expectations(keep, contract),
    )


def outside_expectations(frame: pd.DataFrame, contract: Contract) -> dict[str, int]:
    """Return, per column with an expectation, how many values of typed `frame` lie outside what training saw."""
    counts = {}
    for rule in _plan(contract).expected:
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
        return pd.Series(dtype="int64")
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

"""A contract inferred from a table of text cells: types, observed ranges, categories and labels.

Pure: no files, no MLflow.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from lab2prod.data.cells import LINE
from lab2prod.data.contract import SOURCE, ColumnRule, Contract
from lab2prod.data.formats import ISO, number_format, read_numbers
from lab2prod.data.formats import date_format as find_date_format
from lab2prod.errors import ContractError

_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"


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

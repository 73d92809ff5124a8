"""Deterministic train / validation / test splits that keep exact copies of a row on one side.

A row repeated exactly (every column equal) is one group: the split decides for the group's first
row and every copy follows it, so the holdout never holds a row the model trained on. A frame
without repeats is split exactly as a plain random split would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lab2prod.errors import ConfigError


def split_frame(
    frame: pd.DataFrame,
    target: str,
    task: str,
    test_size: float = 0.2,
    valid_size: float = 0.2,
    seed: int = 42,
    date_column: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Return {'train', 'valid', 'test'} frames: stratified at random, or by time when `date_column` is given.

    Sizes are fractions of the whole frame; the same frame and seed give the same split. A time
    split that would leave a class out of a part splits each class by time on its own instead, and
    says so in `notes` (a list the caller reads).
    """
    if not 0 < test_size < 1 or not 0 <= valid_size < 1 or test_size + valid_size >= 1:
        raise ConfigError(
            f"test_size={test_size} and valid_size={valid_size} must be fractions that sum below 1"
        )
    if target not in frame.columns:
        raise ConfigError(
            f"target {target!r} is not a column of the data; columns are {', '.join(frame.columns)}"
        )
    if len(frame) < 10:
        raise ConfigError(
            f"only {len(frame)} rows: at least 10 are needed to split into train, validation and test"
        )
    frame = frame.reset_index(drop=True)
    first = _first_copies(frame)
    if date_column:
        ordered = frame.sort_values([date_column], kind="mergesort")
        sides = _time_sides(ordered.index, test_size, valid_size)
        if task == "classification":
            lost = _classes_left_out(ordered, sides, target)
            if lost:
                # every class split by time on its own: each part holds every class, later rows tested
                sides = pd.concat(
                    [
                        _time_sides(group.index, test_size, valid_size)
                        for _, group in ordered.groupby(target, sort=False)
                    ]
                ).loc[ordered.index]
                _check_every_class(ordered, sides, target)
                if notes is not None:
                    notes.append(
                        f"time split: label(s) {lost} had no row in a part, so each class was split by "
                        "time on its own (its latest rows tested); for one cut in time instead, use a "
                        "longer test period (test_size), a random split (no date_column) or drop the "
                        "class from the data"
                    )
        # a copy goes where its first row went (copies share the date: time order holds)
        sides = sides.loc[first.to_numpy()].set_axis(first.index).loc[ordered.index]
        return {
            name: ordered[(sides == k).to_numpy()].reset_index(drop=True)
            for k, name in enumerate(("train", "valid", "test"))
        }
    distinct = frame[first == frame.index] if len(first) else frame
    stratify = distinct[target] if task == "classification" else None
    rest, test = train_test_split(
        distinct, test_size=test_size, random_state=seed, stratify=stratify
    )
    parts = {"test": test}
    if valid_size > 0:
        inner = valid_size / (1 - test_size)
        strat_rest = rest[target] if task == "classification" else None
        train, valid = train_test_split(
            rest, test_size=inner, random_state=seed, stratify=strat_rest
        )
        parts.update(train=train, valid=valid)
    else:
        parts.update(train=rest, valid=rest.iloc[0:0])
    if len(distinct) < len(frame):
        # every copy joins its first row's side, after it
        for name, part in parts.items():
            parts[name] = frame[first.isin(part.index).to_numpy()]
    return {k: parts[k].reset_index(drop=True) for k in ("train", "valid", "test")}


def _time_sides(index: pd.Index, test_size: float, valid_size: float) -> pd.Series:
    """Return 0 (train), 1 (valid) or 2 (test) for rows in time order: the latest rows tested."""
    n = len(index)
    n_test, n_valid = int(round(n * test_size)), int(round(n * valid_size))
    side = np.zeros(n, dtype="int8")
    side[n - n_test - n_valid : n - n_test] = 1
    side[n - n_test :] = 2
    return pd.Series(side, index=index)


def _classes_left_out(ordered: pd.DataFrame, sides: pd.Series, target: str) -> str:
    """Return the labels (quoted, comma-separated) missing from some part of the split, or ''."""
    labels = ordered[target].astype(str)
    wanted = set(labels.unique())
    parts = [set(labels[(sides == k).to_numpy()].unique()) for k in (0, 1, 2) if (sides == k).any()]
    lost = sorted(set().union(*(wanted - p for p in parts)))
    return ", ".join(map(repr, lost))


def _check_every_class(ordered: pd.DataFrame, sides: pd.Series, target: str) -> None:
    lost = _classes_left_out(ordered, sides, target)
    if lost:
        raise ConfigError(
            f"time split: label(s) {lost} of {target!r} have too few rows to appear in train, "
            "validation and test: add rows of them, drop them from the data, or use a random split "
            "(no date_column)"
        )


def _first_copies(frame: pd.DataFrame) -> pd.Series:
    """Return, for each row, the index label of the first row equal to it in every column.

    A row with no earlier copy gets its own label.
    """
    keys = pd.util.hash_pandas_object(frame, index=False)
    return (
        pd.Series(frame.index, index=frame.index)
        .groupby(keys.to_numpy(), sort=False)
        .transform("first")
    )


def grouped_rows(frame: pd.DataFrame) -> int:
    """Return how many rows have an exact copy in `frame` (the rows a split keeps together)."""
    return int(frame.duplicated(keep=False).sum())

"""Deterministic train / validation / test splits."""

from __future__ import annotations

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
) -> dict[str, pd.DataFrame]:
    """Return {'train', 'valid', 'test'} frames: stratified at random, or by time when `date_column` is given.

    Sizes are fractions of the whole frame; the same frame and seed give the same split.
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
    if date_column:
        ordered = frame.sort_values([date_column], kind="mergesort")
        n = len(ordered)
        n_test, n_valid = int(round(n * test_size)), int(round(n * valid_size))
        train = ordered.iloc[: n - n_test - n_valid]
        valid = ordered.iloc[n - n_test - n_valid : n - n_test]
        test = ordered.iloc[n - n_test :]
        return {
            "train": train.reset_index(drop=True),
            "valid": valid.reset_index(drop=True),
            "test": test.reset_index(drop=True),
        }
    stratify = frame[target] if task == "classification" else None
    rest, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
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
    return {k: parts[k].reset_index(drop=True) for k in ("train", "valid", "test")}

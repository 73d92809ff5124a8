"""Time-based split when a date column is declared; seeded stratified split otherwise."""

import numpy as np
import pandas as pd

from lab2prod.modeling.split import split_frame


def _frame(n=100):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=n, freq="D")[rng.permutation(n)],
            "x": rng.normal(size=n),
            "y": rng.choice(["a", "b"], size=n),
        }
    )


def test_time_split_trains_on_the_past_and_tests_on_the_latest_period():
    parts = split_frame(
        _frame(), "y", "classification", test_size=0.2, valid_size=0.2, date_column="day"
    )
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [60, 20, 20]
    assert parts["train"]["day"].max() < parts["valid"]["day"].min()
    assert parts["valid"]["day"].max() < parts["test"]["day"].min()
    assert parts["test"]["day"].max() == pd.Timestamp("2024-04-09")


def test_random_split_is_stratified_and_same_seed_same_rows():
    frame = _frame()
    a = split_frame(frame, "y", "classification", seed=3)
    b = split_frame(frame, "y", "classification", seed=3)
    c = split_frame(frame, "y", "classification", seed=4)
    assert a["test"].equals(b["test"]) and not a["test"].equals(c["test"])
    share = (frame["y"] == "a").mean()
    assert abs((a["test"]["y"] == "a").mean() - share) <= 0.05

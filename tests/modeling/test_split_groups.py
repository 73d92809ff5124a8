"""Exact copies of a row never straddle the split, and a time split keeps every class (issue 24)."""

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from lab2prod.errors import ConfigError
from lab2prod.modeling.split import grouped_rows, split_frame


def _frame(n=100):
    return pd.DataFrame(
        {
            "x": [i % 37 for i in range(n)],
            "y": ["a", "b", "c", "b"] * (n // 4),
            "when": pd.date_range("2024-01-01", periods=n, freq="D"),
        }
    )


def _key(frame):
    return frame.astype(str).agg("|".join, axis=1)


def test_exact_copies_land_on_the_same_side_of_the_split():
    base = _frame()
    frame = pd.concat([base, base.sample(25, random_state=1)], ignore_index=True)  # 20% copies
    assert grouped_rows(frame) == 50
    for date_column in (None, "when"):
        parts = split_frame(frame, "y", "classification", seed=3, date_column=date_column)
        keys = {name: set(_key(part)) for name, part in parts.items()}
        assert not keys["train"] & keys["test"] and not keys["train"] & keys["valid"]
        assert not keys["valid"] & keys["test"]
        assert sum(len(p) for p in parts.values()) == len(frame)


def test_split_without_copies_is_the_plain_random_split():
    frame = _frame().assign(x=range(100))
    parts = split_frame(frame, "y", "classification", seed=5, test_size=0.2, valid_size=0.2)
    rest, test = train_test_split(frame, test_size=0.2, random_state=5, stratify=frame["y"])
    train, valid = train_test_split(rest, test_size=0.25, random_state=5, stratify=rest["y"])
    for name, expected in (("train", train), ("valid", valid), ("test", test)):
        pd.testing.assert_frame_equal(parts[name], expected.reset_index(drop=True))


def test_time_split_missing_a_class_names_the_labels_and_splits_each_class_by_time():
    frame = _frame().assign(y=["drizzle"] * 10 + ["rain", "sun"] * 40 + ["snow"] * 10, x=range(100))
    notes = []
    parts = split_frame(frame, "y", "classification", date_column="when", notes=notes)
    assert notes == [
        "time split: label(s) 'drizzle', 'snow' had no row in a part, so each class was split by "
        "time on its own (its latest rows tested); for one cut in time instead, use a longer test "
        "period (test_size), a random split (no date_column) or drop the class from the data"
    ]
    for part in parts.values():
        assert set(part["y"]) == {"drizzle", "rain", "sun", "snow"}
    snow = {name: part[part["y"] == "snow"]["when"] for name, part in parts.items()}
    assert snow["train"].max() < snow["valid"].min() <= snow["valid"].max() < snow["test"].min()


def test_time_split_class_too_small_for_every_part_stops_naming_the_label():
    frame = _frame().assign(y=["rain", "sun"] * 49 + ["hail"] * 2)
    with pytest.raises(
        ConfigError,
        match=r"time split: label\(s\) 'hail' of 'y' have too few rows to appear in train, validation",
    ):
        split_frame(frame, "y", "classification", date_column="when")


def test_evaluation_rows_missing_a_class_name_the_labels_and_what_to_do():
    import numpy as np

    from lab2prod.data.contract import contract_from_dict
    from lab2prod.modeling.features import check_classes

    five = contract_from_dict(
        {
            "target": {"name": "w", "labels": ["drizzle", "fog", "rain", "snow", "sun"]},
            "columns": {"w": {"type": "category"}},
        }
    )
    with pytest.raises(
        ValueError,
        match=r"label\(s\) 'drizzle', 'snow' have no row in the evaluation rows; their metrics "
        r"cannot be measured: use a longer test period \(test_size\), a random split",
    ):
        check_classes(np.array([1, 2, 4, 1]), five, part="evaluation rows")

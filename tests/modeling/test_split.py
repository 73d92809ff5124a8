import pandas as pd
import pytest

from lab2prod.errors import ConfigError
from lab2prod.modeling.split import split_frame


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "x": range(100),
            "y": ["bad"] * 30 + ["good"] * 70,
            "when": pd.date_range("2024-01-01", periods=100, freq="D")[::-1],
        }
    )


def test_split_is_deterministic_stratified_and_disjoint(frame):
    a = split_frame(frame, "y", "classification", test_size=0.2, valid_size=0.2, seed=7)
    b = split_frame(frame, "y", "classification", test_size=0.2, valid_size=0.2, seed=7)
    for part in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(a[part], b[part])
    assert [len(a[p]) for p in ("train", "valid", "test")] == [60, 20, 20]
    assert set(a["train"].x) | set(a["valid"].x) | set(a["test"].x) == set(range(100))
    assert (a["test"].y == "bad").sum() == 6  # 30% kept in the test split


def test_other_seed_gives_other_split(frame):
    a = split_frame(frame, "y", "classification", seed=1)["test"].x.tolist()
    b = split_frame(frame, "y", "classification", seed=2)["test"].x.tolist()
    assert a != b


def test_time_split_tests_on_the_latest_period(frame):
    frame = frame.assign(y=["bad", "good"] * 50)  # every period holds both classes
    parts = split_frame(frame, "y", "classification", date_column="when")
    assert parts["train"].when.max() < parts["valid"].when.min()
    assert parts["valid"].when.max() < parts["test"].when.min()
    assert parts["test"].when.max() == frame.when.max()


def test_bad_sizes_and_missing_target_are_rejected(frame):
    with pytest.raises(ConfigError, match="must be fractions"):
        split_frame(frame, "y", "classification", test_size=0.6, valid_size=0.5)
    with pytest.raises(ConfigError, match="target 'nope' is not a column"):
        split_frame(frame, "nope", "classification")
    with pytest.raises(ConfigError, match="at least 10 are needed"):
        split_frame(frame.head(5), "y", "classification")

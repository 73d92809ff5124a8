"""data.cells: the conventions every reader and the contract share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab2prod.data.cells import cell_text


@pytest.mark.parametrize(
    "value, text",
    [
        (5, "5"),
        (np.int64(-7), "-7"),
        (5.0, "5.0"),
        (np.float64(0.1), "0.1"),
        (1e20, "1e+20"),
        (float("inf"), "inf"),
        (True, "true"),
        (np.bool_(False), "false"),
        ("a b", "a b"),
        (None, None),
        (float("nan"), None),
        (pd.NA, None),
    ],
)
def test_cell_text_is_a_values_text_cell(value, text):
    assert cell_text(value) == text


def test_a_floats_text_parses_back_to_the_same_float():
    values = np.random.default_rng(0).normal(0, 1e6, 1000)
    assert all(float(cell_text(v)) == v for v in values)
    with pytest.raises(ValueError, match="could not convert"):
        float(cell_text(True))

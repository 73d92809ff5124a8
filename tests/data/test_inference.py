"""A contract inferred from text cells: types, ranges, categories, labels, dates."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from lab2prod.data.contract import contract_from_dict, contract_to_dict
from lab2prod.data.inference import infer_contract
from lab2prod.errors import ContractError


def test_infer_contract_types_ranges_categories_labels_dates():
    frame = pd.DataFrame(
        {
            "_line": [2, 3, 4, 5],
            "key": ["k1", "k2", "k3", "k4"],
            "n": ["1", "2", None, "4"],
            "x": ["0.5", "1", "2", "3"],
            "c": ["u", "v", "u", None],
            "when": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"],
            "y": ["no", "yes", "no", "no"],
        },
        dtype=object,
    )
    c = infer_contract(
        frame, "t", target="y", task="classification", id_column="key", date_columns=("when",)
    )
    kinds = {r.name: (r.type, r.nullable, r.min, r.max, r.categories) for r in c.columns}
    # hard rules: types, the target's labels; the observed ranges and categories are expectations
    assert kinds == {
        "key": ("string", False, None, None, None),
        "n": ("int", True, None, None, None),
        "x": ("float", True, None, None, None),
        "c": ("category", True, None, None, None),
        "when": ("date", False, None, None, None),
        "y": ("category", False, None, None, ("no", "yes")),
    }
    seen = {r.name: (r.expect_min, r.expect_max, r.expect_categories) for r in c.columns}
    assert seen["n"] == (1, 4, None) and seen["x"] == (0.5, 3.0, None)
    assert seen["c"] == (None, None, ("u", "v")) and seen["y"] == (None, None, None)
    assert (c.labels, c.positive_label) == (("no", "yes"), "yes")
    assert (c.duplicates, c.duplicate_ids) == ("warn", "quarantine")
    assert contract_from_dict(contract_to_dict(c)) == replace(c, origin="contract")
    with pytest.raises(
        ContractError, match="target column .z. not found; columns are key, n, x, c, when, y"
    ):
        infer_contract(frame, "t", target="z", task="regression")


def test_infer_contract_regression_target_is_numeric():
    frame = pd.DataFrame({"a": ["1", "2", "3"], "y": ["1.5", "2.5", "9"]}, dtype=object)
    c = infer_contract(frame, "t", target="y", task="regression")
    assert (c.rule("y").type, c.rule("y").nullable, c.labels) == ("float", False, None)

"""Conditioning text rows by the contract: types, quarantine and its reasons, repeats, expectations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lab2prod.data.cells import cell_text
from lab2prod.data.conditioning import condition, outside_expectations, read_normalized, wrong_rows
from lab2prod.data.contract import contract_from_dict
from lab2prod.errors import ContractError


@pytest.mark.readiness("data 1")
def test_condition_types_rows_and_keeps_inputs_untouched(toy_text, contract):
    before = toy_text.copy()
    result = condition(toy_text, contract)
    pd.testing.assert_frame_equal(toy_text, before)
    assert result.rows_in == 4 and result.quarantine.empty
    assert str(result.clean["age"].dtype) == "Int64" and result.clean["income"].tolist()[0] == 100.5


def test_condition_severity_stop_and_warn(toy_text, contract_dict):
    stop = contract_from_dict(
        {
            **contract_dict,
            "columns": {
                **contract_dict["columns"],
                "age": {"type": "int", "max": 40, "on_fail": "stop"},
            },
        }
    )
    with pytest.raises(
        ContractError, match="toy: line 3: age: 45 is above the maximum 40: fix the row or relax"
    ):
        condition(toy_text, stop, origin="toy")
    warn = contract_from_dict(
        {
            **contract_dict,
            "columns": {
                **contract_dict["columns"],
                "age": {"type": "int", "max": 40, "on_fail": "warn"},
            },
        }
    )
    result = condition(toy_text, warn, origin="toy")
    assert len(result.clean) == 4 and result.warnings == [
        "toy: line 3: age: 45 is above the maximum 40",
        "toy: line 4: age: 52 is above the maximum 40",
    ]


def test_condition_refuses_bad_mode_and_no_rows(toy_text, contract):
    with pytest.raises(ContractError, match="mode must be 'train' or 'score', not 'serve'"):
        condition(toy_text, contract, mode="serve")
    with pytest.raises(ContractError, match="x: no rows to check"):
        condition(toy_text.iloc[0:0], contract, origin="x")


def test_condition_dates_and_bad_dates(contract_dict):
    c = contract_from_dict(
        {**contract_dict, "columns": {**contract_dict["columns"], "when": {"type": "date"}}}
    )
    text = pd.DataFrame(
        {
            "_line": [2, 3, 4, 5],
            "id": ["a", "b", "c", "d"],
            "age": ["30", "40", "50", "60"],
            "income": [None] * 4,
            "home": [None] * 4,
            "y": ["good", "bad", "good", "bad"],
            "when": ["2024-01-31", "31/13/2024", "2024-02-29T10:00:00", None],
        },
        dtype=object,
    )
    result = condition(text, c)
    assert result.clean["when"].dt.strftime("%Y-%m-%d").fillna("-").tolist() == [
        "2024-01-31",
        "2024-02-29",
        "-",
    ]
    assert result.quarantine["reason"].tolist() == [
        "when: '31/13/2024' is not a date (ISO, for example 2024-01-31) "
        "(another format? declare it: columns: when: format: '%d/%m/%Y')"
    ]


def test_two_headers_matching_one_column_stop(toy_text, contract):
    with pytest.raises(
        ContractError, match="columns 'age' and 'AGE' both match 'age' \\(names differ only in case"
    ):
        condition(toy_text.assign(AGE=toy_text["age"]), contract)


def test_read_normalized_restores_types(tmp_path, toy_text, contract):
    from lab2prod.data.lake import atomic_write_csv

    path = atomic_write_csv(tmp_path / "n.csv", condition(toy_text, contract).clean)
    back = read_normalized(str(path), contract)
    assert back.dtypes.astype(str).to_dict() == {
        "id": "str",
        "age": "Int64",
        "income": "float64",
        "home": "str",
        "y": "str",
    }
    assert back["home"].isna().tolist() == [False, False, True, False]


def _repeats(toy_text):
    """The toy rows, then line 6 repeating line 2 exactly and line 7 reusing b's id with other values."""
    extra = pd.DataFrame(
        {
            "_line": [6, 7],
            "id": ["a", "b"],
            "age": ["30", "46"],
            "income": ["100.5", None],
            "home": ["owner", "rent"],
            "y": ["good", "bad"],
        },
        dtype=object,
    )
    return pd.concat([toy_text, extra], ignore_index=True)


@pytest.mark.parametrize(
    "duplicates, clean_rows, quarantined, wrong, warned",
    [
        ("keep", 5, [(7, "id: duplicate id 'b' (first on line 3)")], 1, False),
        ("warn", 5, [(7, "id: duplicate id 'b' (first on line 3)")], 1, True),
        (
            "drop",
            4,
            [
                (6, "duplicate row (same values as line 2): dropped by duplicates: drop"),
                (7, "id: duplicate id 'b' (first on line 3)"),
            ],
            1,
            False,
        ),
        (
            "quarantine",
            4,
            [
                (6, "duplicate row (same values as line 2)"),
                (7, "id: duplicate id 'b' (first on line 3)"),
            ],
            2,
            False,
        ),
    ],
)
def test_duplicates_setting_decides_what_an_exact_repeat_does(
    toy_text, contract, duplicates, clean_rows, quarantined, wrong, warned
):
    result = condition(_repeats(toy_text), replace(contract, duplicates=duplicates))
    assert len(result.clean) == clean_rows
    assert list(zip(result.quarantine["line"], result.quarantine["reason"])) == quarantined
    assert (result.repeated_rows, result.repeated_ids, result.rows_wrong) == (1, 1, wrong)
    assert any("1 row(s) repeat an earlier row exactly" in w for w in result.warnings) == warned


def test_dropped_repeats_do_not_count_against_the_quarantine_limit(toy_text, contract):
    rows = pd.concat(
        [toy_text] + [toy_text.assign(_line=toy_text["_line"] + 4 * k) for k in (1, 2)]
    )
    strict = replace(contract, max_quarantine_fraction=0.1)
    # 8 of 12 rows repeat an earlier one: dropped, not errors, so the 10% limit holds
    dropped = condition(rows, replace(strict, duplicates="drop", duplicate_ids="keep"))
    assert (len(dropped.clean), len(dropped.quarantine), dropped.rows_wrong) == (4, 8, 0)
    assert wrong_rows(dropped.quarantine) == 0
    with pytest.raises(
        ContractError, match=r"8 of 12 rows \(66.7%\) break the contract.*duplicate row"
    ):
        condition(rows, replace(strict, duplicates="quarantine"))


def test_duplicate_ids_setting(toy_text, contract):
    rows = _repeats(toy_text)
    with pytest.raises(
        ContractError, match="line 7: id: duplicate id 'b' .first on line 3.: fix the row"
    ):
        condition(rows, replace(contract, duplicate_ids="stop"))
    warned = condition(rows, replace(contract, duplicates="keep", duplicate_ids="warn"))
    assert len(warned.clean) == 6 and warned.quarantine.empty
    assert (
        "1 row(s) repeat the id of an earlier, different row (first: line 7" in warned.warnings[0]
    )


def test_expectations_are_counted_never_quarantined(toy_text, contract):
    seen = replace(
        contract,
        columns=tuple(
            replace(c, expect_min=25, expect_max=50)
            if c.name == "age"
            else replace(c, categories=None, expect_categories=("owner",))
            if c.name == "home"
            else c
            for c in contract.columns
        ),
    )
    result = condition(toy_text, seen, mode="score")
    # ages 52 and 23 lie outside 25..50, 'rent' twice outside {owner}: all four rows still pass
    assert len(result.clean) == 4 and result.quarantine.empty
    assert result.outside_expectations == {"age": 2, "home": 2}
    assert outside_expectations(result.clean.head(1), seen) == {}
    # the same bound as a hard rule (an author wrote it) quarantines
    hard = replace(
        contract,
        columns=tuple(replace(c, max=50) if c.name == "age" else c for c in contract.columns),
    )
    assert condition(toy_text, hard, mode="score").quarantine["reason"].tolist() == [
        "age: 52 is above the maximum 50"
    ]


def _varied_contract():
    return contract_from_dict(
        {
            "dataset": "varied",
            "task": "classification",
            "id_column": "id",
            "target": {"name": "y", "labels": ["bad", "good"], "positive": "bad"},
            "max_quarantine_fraction": 1.0,
            "columns": {
                "id": {"type": "string", "nullable": False},
                "n": {"type": "int", "nullable": False, "min": 0, "max": 10},
                "amount": {"type": "float", "thousands": ",", "min": 0},
                "rate": {"type": "float", "symbol": "%", "max": 100},
                "x": {"type": "float"},
                "when": {"type": "date", "format": "%d/%m/%Y"},
                "home": {"type": "category", "categories": ["owner", "rent"]},
                "note": {"type": "string"},
                "y": {"type": "category", "nullable": False, "categories": ["bad", "good"]},
            },
        }
    )


def _varied_cells(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """Text cells of every kind a reader hands over: marks, percents, day-first dates, missing, bad."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def pick(good, bad):  # a bad cell in about one row in twenty per column
        cells = [good[i] for i in rng.integers(0, len(good), rows)]
        for i in np.flatnonzero(rng.random(rows) < 0.05):
            cells[i] = bad[rng.integers(0, len(bad))]
        return cells

    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "n": pick(["3", "10", "0", "7.0"], ["-1", "11", "2.5", "ten", "1e20", "inf", None]),
            "amount": pick(["1,234.5", "12", None, "1234567.25"], ["-3", "1,2,3", "abc"]),
            "rate": pick(["12%", "5.5%", None, "50"], ["101%", "x%"]),
            "x": pick(["0.1", None, "1e308", "3"], ["-inf", "x", "nan"]),
            "when": pick(["31/01/2024", "01/12/2023", None], ["2024-01-31", "32/13/2024"]),
            "home": pick(["owner", "rent", None], ["castle", "OWNER"]),
            "note": pick(["a", None, "b,c"], ["é"]),
            "y": pick(["good", "bad"], [None, "ugly"]),
        },
        dtype="str",
    )


@pytest.mark.parametrize("mode", ["train", "score"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rules_find_the_same_cells_on_the_typed_arrays_a_frame_and_pandera(mode, seed):
    """condition checks the typed arrays; a typed frame and pandera's schema find the same cells."""
    from lab2prod.data.conditioning import _coerce
    from lab2prod.data.rules import _pandera_failures, explain, rule_failures

    contract = _varied_contract()
    arrays = _coerce(_varied_cells(seed=seed), contract, {}, "t", [], whole=False)
    frame = pd.DataFrame(arrays)
    rules = {c.name: c for c in contract.columns}

    def cases(found):
        return sorted(
            (column, int(index), check == "not_nullable" or explain(rules[column], v, contract))
            for column, check, v, index in found
            if "dtype" not in str(check)
        )

    direct = cases(rule_failures(arrays, contract, mode))
    assert direct and direct == cases(rule_failures(frame, contract, mode))
    assert direct == cases(_pandera_failures(frame, contract, mode))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_condition_of_varied_cells_is_the_same_for_a_frame_numbered_from_zero_or_not(seed):
    """A frame indexed 0, 1, ... (taken as it is) and the same rows indexed otherwise condition alike."""
    contract = _varied_contract()
    cells = _varied_cells(seed=seed)
    plain = condition(cells, contract, "score", whole=False)
    shifted = condition(
        cells.set_axis(range(100, 100 + len(cells))), contract, "score", whole=False
    )
    pd.testing.assert_frame_equal(plain.clean, shifted.clean)
    pd.testing.assert_frame_equal(plain.quarantine, shifted.quarantine)
    assert len(plain.quarantine) and len(plain.clean)  # both sides have rows to compare
    assert plain.warnings == shifted.warnings
    # the typed columns are the contract's types, whatever the frame's index was
    assert str(plain.clean["n"].dtype) == "Int64" and str(plain.clean["when"].dtype) == (
        "datetime64[ns]"
    )
    assert all(": " in reason for reason in plain.quarantine["reason"])


def test_number_columns_of_numbers_are_judged_and_shown_as_their_text(contract):
    contract = replace(contract, max_quarantine_fraction=1.0)
    numbers = pd.DataFrame(
        {
            "_line": [2, 3, 4, 5, 6, 7],
            "id": ["a", "b", "c", "d", "e", "f"],
            "age": [30.0, 30.5, np.inf, 2.0**60, 17.0, np.nan],
            "income": [100.5, -1.0, np.nan, 1e20, 0.0, 5.0],
            "home": ["owner"] * 6,
        }
    )
    text = numbers.astype(object).map(cell_text)
    typed, read = (condition(f, contract, mode="score") for f in (numbers, text))
    pd.testing.assert_frame_equal(typed.clean, read.clean)
    pd.testing.assert_frame_equal(typed.quarantine, read.quarantine)
    assert typed.quarantine["reason"].tolist() == [
        "age: '30.5' is not a whole number; income: -1 is below the minimum 0",
        "age: 'inf' is not a finite number",
        "age: '1.152921504606847e+18' is out of range for an integer column (at most 2^53 in "
        "size): declare the column float or string",
        "age: 17 is below the minimum 18",
        "age: missing value",
    ]
    assert typed.clean["age"].dtype == "Int64" and typed.clean["age"].tolist() == [30]


@pytest.mark.parametrize("bad", [False, True])
def test_conditioned_columns_are_the_arrays_of_the_clean_frame(toy_text, contract, bad):
    rows = toy_text.assign(age=["30", "x", "52", "23"]) if bad else toy_text
    result = condition(rows, replace(contract, max_quarantine_fraction=1.0))
    assert list(result.columns) == list(result.clean.columns)
    for name, values in result.columns.items():
        pd.testing.assert_series_equal(pd.Series(values, name=name), result.clean[name])
    assert result.clean.index.equals(pd.RangeIndex(3 if bad else 4))
    assert result.clean["id"].tolist() == (["a", "c", "d"] if bad else ["a", "b", "c", "d"])

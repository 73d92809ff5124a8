"""Conditioning text rows by the contract: types, quarantine and its reasons, repeats, expectations."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

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

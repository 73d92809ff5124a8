"""The contract: YAML <-> Contract, inference, pandera schema, and conditioning of text rows."""

from __future__ import annotations

import pandas as pd
import pytest

from lab2prod.data.contract import (
    Contract,
    condition,
    contract_from_dict,
    contract_to_dict,
    infer_contract,
    pandera_schema,
    read_normalized,
)
from lab2prod.errors import ContractError


def test_contract_round_trips_through_its_mapping(contract):
    again = contract_from_dict(contract_to_dict(contract))
    assert again == Contract(**{**contract.__dict__, "origin": "contract"})
    assert contract.features == ["age", "income", "home"]
    assert contract.features_of("category") == ["home"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"columns": {"y": {"type": "text"}}}, "column 'y' has type 'text'; use one of int, float"),
        (
            {"columns": {"y": {"on_fail": "ignore"}}},
            "column 'y' has on_fail 'ignore'; use one of stop, quarantine, warn",
        ),
        ({"target": "z"}, "target 'z' is not among the columns"),
        ({"columns": None}, "missing or malformed field"),
    ],
)
def test_contract_from_dict_refuses_malformed_contracts(contract_dict, change, message):
    with pytest.raises(ContractError, match=message):
        contract_from_dict({**contract_dict, **change}, origin="c.yaml")


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
    assert kinds == {
        "key": ("string", False, None, None, None),
        "n": ("int", True, 1, 4, None),
        "x": ("float", True, 0.5, 3.0, None),
        "c": ("category", True, None, None, ("u", "v")),
        "when": ("date", False, None, None, None),
        "y": ("category", False, None, None, ("no", "yes")),
    }
    assert (c.labels, c.positive_label) == (("no", "yes"), "yes")
    with pytest.raises(
        ContractError, match="target column .z. not found; columns are key, n, x, c, when, y"
    ):
        infer_contract(frame, "t", target="z", task="regression")


def test_infer_contract_regression_target_is_numeric():
    frame = pd.DataFrame({"a": ["1", "2", "3"], "y": ["1.5", "2.5", "9"]}, dtype=object)
    c = infer_contract(frame, "t", target="y", task="regression")
    assert (c.rule("y").type, c.rule("y").nullable, c.labels) == ("float", False, None)


def test_pandera_schema_drops_the_target_when_scoring(contract):
    assert "y" in pandera_schema(contract, "train").columns
    assert "y" not in pandera_schema(contract, "score").columns
    assert pandera_schema(contract).columns["id"].unique is True


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
        "when: '31/13/2024' is not a date (ISO, for example 2024-01-31)"
    ]


def test_two_headers_matching_one_column_stop(toy_text, contract):
    with pytest.raises(ContractError, match="columns 'AGE' and another both match 'age'"):
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

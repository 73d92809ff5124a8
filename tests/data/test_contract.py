"""The contract: YAML <-> Contract, and what a malformed contract is told."""

from __future__ import annotations

import pytest

from lab2prod.data.contract import Contract, contract_from_dict, contract_to_dict
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
        ({"duplicates": "twice"}, "duplicates is 'twice'; use one of keep, warn, drop, quarantine"),
        (
            {"duplicate_ids": "drop"},
            "duplicate_ids is 'drop'; use one of keep, warn, quarantine, stop",
        ),
        ({"columns": None}, "missing or malformed field"),
    ],
)
def test_contract_from_dict_refuses_malformed_contracts(contract_dict, change, message):
    with pytest.raises(ContractError, match=message):
        contract_from_dict({**contract_dict, **change}, origin="c.yaml")

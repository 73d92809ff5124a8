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


def test_a_contracts_hash_is_its_fields_hash_worked_out_once_and_never_pickled(contract):
    import dataclasses
    import pickle

    fields = tuple(getattr(contract, f.name) for f in dataclasses.fields(contract))
    assert hash(contract) == hash(fields) == hash(contract)  # a dataclass's hash, kept
    copy = pickle.loads(pickle.dumps(contract))
    assert "_hash" not in copy.__dict__  # another process hashes text differently
    assert copy == contract and hash(copy) == hash(contract)
    other = dataclasses.replace(contract, dataset="other")
    assert other != contract and hash(other) == hash(
        tuple(getattr(other, f.name) for f in dataclasses.fields(other))
    )
    with pytest.raises(TypeError, match="unhashable type: 'list'"):
        hash(dataclasses.replace(contract, labels=["bad", "good"]))

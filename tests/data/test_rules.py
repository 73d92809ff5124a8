"""The contract's hard rules: pandera's schema, the same checks by NumPy masks, the plan per contract."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from lab2prod.data.conditioning import condition
from lab2prod.data.contract import ColumnRule
from lab2prod.data.rules import pandera_schema


def test_pandera_schema_drops_the_target_when_scoring(contract):
    assert "y" in pandera_schema(contract, "train").columns
    assert "y" not in pandera_schema(contract, "score").columns
    assert pandera_schema(contract).columns["id"].unique is True


@pytest.mark.parametrize("mode", ["train", "score"])
def test_direct_rule_checks_find_exactly_pandera_failures(contract, mode):
    from lab2prod.data.conditioning import _coerce
    from lab2prod.data.rules import _pandera_failures, explain, rule_failures

    text = pd.DataFrame(
        {
            "id": ["a", None, "c", "d", "e", "f"],
            "age": ["30", "12", None, "101", "18", "100"],
            "income": ["-1", None, "0", "5.5", "1e9", "-0.5"],
            "home": ["castle", "owner", None, "rent", "RENT", "owner"],
            "y": ["good", "ugly", None, "bad", "good", "bad"],
        },
        dtype=object,
    )
    typed = _coerce(text, contract, {}, "t", [])

    def cases(found):
        rules = {c.name: c for c in contract.columns}
        return {
            (
                column,
                int(index),
                "missing" if check == "not_nullable" else explain(rules[column], value, contract),
            )
            for column, check, value, index in found
            if "dtype" not in str(check)
        }

    direct = cases(
        rule_failures(typed, contract, mode)
    )  # the typed arrays, as condition hands them
    frame = pd.DataFrame(typed)
    assert direct == cases(_pandera_failures(frame, contract, mode))
    assert direct == cases(rule_failures(frame, contract, mode))  # a typed frame: the same cases
    assert ("age", 1, "age: 12 is below the minimum 18") in direct  # something to compare
    assert ("home", 0, "home: 'castle' is not one of owner, rent") in direct
    assert (("y", 1, "y: unknown target label 'ugly' (expected one of bad, good)") in direct) == (
        mode == "train"
    )


def test_the_per_contract_plan_is_built_once_and_names_only_columns_with_rules(contract):
    from lab2prod.data.rules import contract_plan

    plan = contract_plan(contract)
    assert contract_plan(contract) is plan  # cached on the frozen contract
    assert (
        contract_plan(replace(contract, dataset="other")) is not plan
    )  # another contract, another plan
    # score mode leaves out the target; income (nullable, min 0) has a rule, a free column none
    assert [c.name for c in plan.checked["score"]] == ["id", "age", "income", "home"]
    assert [c.name for c in plan.checked["train"]] == ["id", "age", "income", "home", "y"]
    free = replace(contract, columns=(*contract.columns, ColumnRule("note", "string")))
    assert "note" not in [c.name for c in contract_plan(free).checked["train"]]


def test_numeric_bounds_are_checked_without_pandera_and_date_bounds_with_it(
    contract, toy_text, monkeypatch
):
    import lab2prod.data.rules as module

    def refuse(*args):
        raise AssertionError("pandera on the hot path")

    monkeypatch.setattr(module, "_pandera_failures", refuse)
    bad = toy_text.assign(age=["30", "12", "52", "23"], home=["owner", "castle", None, "rent"])
    reasons = condition(bad, contract, mode="score").quarantine["reason"].tolist()
    assert reasons == ["age: 12 is below the minimum 18; home: 'castle' is not one of owner, rent"]
    dated = replace(
        contract, columns=(*contract.columns, ColumnRule("day", "date", min=0, nullable=True))
    )
    with pytest.raises(AssertionError, match="pandera on the hot path"):
        condition(bad.assign(day="2024-01-31"), dated, mode="score")

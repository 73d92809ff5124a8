"""A step's result is written as JSON and read back as the same type, nested types included."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from lab2prod.errors import ConfigError
from lab2prod.modeling.business import Valuation
from lab2prod.release.gate import GateDecision
from lab2prod.release.infra_check import InfraCheck
from lab2prod.steps.release import _checked
from lab2prod.steps.results import (
    CheckResult,
    EvaluateResult,
    PagesResult,
    RegisterResult,
    SelectResult,
    TrainResult,
)

CELL = {
    "cell": "train-1",
    "run_id": "r1",
    "model_uri": "models:/m-1",
    "family": "linear",
    "model_params": {"C": 1.0},
    "seed": 42,
    "parent_run_id": "p",
    "data_sha256": "abc",
    "valid_metrics": {"roc_auc": 0.8},
}


def test_a_train_result_comes_back_as_the_same_type(tmp_path):
    cell = TrainResult(**CELL)
    assert TrainResult.read(cell.write(tmp_path / "train-1.json")) == cell


def test_select_reads_the_cells_it_extends_and_says_its_choice(tmp_path):
    chosen = SelectResult(**CELL, select_metric="roc_auc", grid=[{"cell": "train-1"}])
    back = SelectResult.read(chosen.write(tmp_path / "select.json"))
    assert back == chosen
    assert back.sentence.startswith(
        "Chosen: train-1, linear {'C': 1.0}, with validation roc_auc 0.8000"
    )


def test_the_gate_decision_comes_back_typed_not_as_tags(tmp_path):
    gate = GateDecision(
        promote=False, metric="roc_auc", challenger=0.7, champion=None, reasons=("first", "floor")
    )
    released = RegisterResult.from_dict(
        {
            "model_name": "m",
            "version": "3",
            "promoted": False,
            "champion_before": None,
            "champion_after": "2",
            "champion_version": "2",
            "gate": gate,
            "decision": gate.as_tags(),
            "reasons": list(gate.reasons),
            "challenger_metrics": {"roc_auc": 0.7},
            "champion_metrics": None,
            "infra": {},
            "notes": [],
            "awaiting_approval": False,
            "trained_by": "me",
        }
    )
    back = RegisterResult.read(released.write(tmp_path / "register.json"))
    assert back.gate == gate and back.gate.champion is None
    assert back.sentence == "m v3: first; floor -> champion unchanged (v2)."


def test_the_valuation_of_evaluate_comes_back_as_a_valuation(tmp_path):
    result = EvaluateResult(
        run_id="r",
        test_metrics={"roc_auc": 0.8},
        intervals={"roc_auc": {"value": 0.8, "low": 0.7, "high": 0.9}},
        rows_test=10,
        bootstrap_rounds=5,
        slices=[],
        importance=[],
        threshold=0.4,
        valuation=Valuation(threshold=0.4, origin="set by hand"),
        figures=["figures/roc.png"],
    )
    back = EvaluateResult.read(result.write(tmp_path / "evaluate.json"))
    assert isinstance(back.valuation, Valuation) and back == result


def test_pages_are_the_summary_keys_and_a_missing_summary_names_the_file(tmp_path):
    pages = PagesResult({"index": "/r/index.html"})
    path = pages.write(tmp_path / "report.json")
    assert path.read_text() == '{\n  "index": "/r/index.html"\n}\n'
    assert PagesResult.read(path) == pages
    with pytest.raises(ConfigError, match="select.json: not found: run the step that writes it"):
        SelectResult.read(tmp_path / "select.json")


def test_a_check_result_holds_exactly_the_infra_checks_fields():
    # register passes check.json on as the InfraCheck it is: the two lists cannot drift apart
    assert [(f.name, f.default) for f in fields(CheckResult)] == [
        (f.name, f.default) for f in fields(InfraCheck)
    ]


def test_register_reads_the_check_steps_answer_back_as_an_infra_check(tmp_path):
    summary = tmp_path / "check.json"
    assert _checked(summary) is None  # the check step has not run: register runs the check itself
    ran = InfraCheck(ok=True, model_uri="models:/m-1", load_seconds=1.5, latency_ms_batch=30.0)
    written = CheckResult.from_dict(asdict(ran))
    written.write(summary)
    assert _checked(summary) == ran
    assert written.sentence == (
        "models:/m-1 loads in a fresh process in 1.5 s and scores 0 rows of its input example in 30 ms."
    )
    failed = CheckResult(ok=False, model_uri="models:/m-1", error="exit 1: no such file")
    assert failed.sentence == "models:/m-1 failed the infrastructure check: exit 1: no such file."

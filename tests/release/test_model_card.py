"""The model card and report are rendered from the step summaries, with the gate's numbers and the slices."""

import json

from lab2prod.data.contract import contract_from_dict
from lab2prod.data.lake import Lake
from lab2prod.release.model_card import CardText, build_facts, write_reports


def _write(folder, name, data):
    (folder / f"{name}.json").write_text(json.dumps(data))


def test_card_and_report_show_the_evidence(tmp_path):
    contract = contract_from_dict(
        {
            "dataset": "toy",
            "task": "classification",
            "target": {"name": "y", "labels": ["no", "yes"], "positive": "yes"},
            "columns": {
                "x": {"type": "float", "min": 0},
                "home": {"type": "category", "categories": ["own", "rent"]},
                "y": {"type": "category", "categories": ["no", "yes"]},
            },
        },
        origin="contracts/toy.yaml",
    )
    products = tmp_path / "products"
    products.mkdir()
    _write(products, "validate", {"sha256": "ab" * 32, "rows": 500, "quarantined": 3})
    _write(products, "start", {"run_id": "parent123"})
    _write(
        products,
        "select",
        {
            "run_id": "run42",
            "model_uri": "models:/m-1",
            "family": "logistic_regression",
            "model_params": {"C": 1.0},
            "cell": "train-1",
            "select_metric": "roc_auc",
            "grid": [
                {
                    "cell": "train-0",
                    "family": "logistic_regression",
                    "model_params": {"C": 0.1},
                    "roc_auc": 0.7,
                    "chosen": False,
                },
                {
                    "cell": "train-1",
                    "family": "logistic_regression",
                    "model_params": {"C": 1.0},
                    "roc_auc": 0.8,
                    "chosen": True,
                },
            ],
        },
    )
    _write(
        products,
        "evaluate",
        {
            "rows_test": 100,
            "bootstrap_rounds": 50,
            "threshold": 0.5,
            "test_metrics": {"roc_auc": 0.81},
            "intervals": {"roc_auc": {"value": 0.81, "low": 0.74, "high": 0.87}},
            "slices": [
                {"column": "home", "value": "own", "rows": 90, "roc_auc": 0.83},
                {"column": "home", "value": "rent", "rows": 10},
            ],
            "importance": [{"feature": "x", "importance": 0.2, "std": 0.01}],
            "figures": ["figures/roc.png"],
            "valuation": {
                "threshold": 0.21,
                "origin": "chosen on the validation split to maximise value",
                "calibration_sentence": "Probabilities are calibrated on the validation split.",
                "policies": [
                    {
                        "policy": "model at 0.21",
                        "value": 31200.0,
                        "low": 20100.0,
                        "high": 40500.0,
                        "unit": "EUR",
                    },
                    {
                        "policy": "accept all",
                        "value": -60000.0,
                        "low": -70000.0,
                        "high": -50000.0,
                        "unit": "EUR",
                    },
                ],
                "value": 31200.0,
                "unit": "EUR",
                "sentence": "For every 1,000 cases the model earns EUR 31,200.",
            },
        },
    )
    _write(
        products,
        "register",
        {
            "model_name": "toy-model",
            "version": "4",
            "champion_version": "3",
            "champion_before": "3",
            "champion_after": "3",
            "promoted": False,
            "reasons": ["roc_auc 0.8100 vs champion 0.8300: not better (tolerance 0.0)"],
            "notes": [],
            "challenger_metrics": {"roc_auc": 0.81},
            "champion_metrics": {"roc_auc": 0.83},
            "decision": {
                "gate.metric": "roc_auc",
                "gate.challenger": "0.810000",
                "gate.champion": "0.830000",
                "gate.tolerance": "0.0",
                "gate.floor.roc_auc": "0.7",
                "gate.decision": "reject",
            },
            "infra": {"infra.ok": "false", "infra.error": "not run: the gate rejected it"},
        },
    )
    facts = build_facts(Lake.of(tmp_path), contract, commit="abc123", tracking_uri="sqlite:///x.db")
    written = write_reports(facts, Lake.of(tmp_path))
    card = written["model_card"].read_text()
    for text in (
        "What the model is worth",
        "Decision threshold 0.210: chosen on the validation split to maximise value.",
        "For every 1,000 cases the model earns EUR 31,200.",
        "<td>accept all</td><td>EUR -60,000</td>",
        "Probabilities are calibrated on the validation split.",
        "SHA-256 <code>" + "ab" * 32,
        "500 rows (3 quarantined",
        "0.7400 – 0.8700",
        "not promoted",
        "toy-model version 4 (champion now: v3)",
        "<code>run42</code> nested in build run <code>parent123</code>",
        "<code>abc123</code>",
        "home=rent (10 rows)",
        "no date column declared",
        "contracts/toy.yaml",
        "probability that &#39;y&#39; is &#39;yes&#39;",
        "roc_auc ≥ 0.7",
    ):
        assert text in card, text
    index = written["index"].read_text()
    assert (
        "train-1 ✔" in index
        and 'src="figures/roc.png"' in index
        and 'href="model_card.html"' in index
    )
    # what a person wrote for the card comes first, the evidence's own limitations after it
    written_by_hand = build_facts(
        Lake.of(tmp_path),
        contract,
        commit="abc123",
        tracking_uri="sqlite:///x.db",
        text=CardText("Rank the toy cases.", ("Not for real decisions.",)),
    )
    assert written_by_hand["intended_use"] == "Rank the toy cases."
    assert written_by_hand["limitations"][0] == "Not for real decisions."
    assert written_by_hand["limitations"][1:] == facts["limitations"]

"""The monitoring report's own wording: a retraining decision as sentences, not its JSON."""

from __future__ import annotations

import json

import pandas as pd

from lab2prod.monitoring.history import COLUMNS
from lab2prod.monitoring.report import decision_sentence, render_monitoring


def test_a_retraining_decision_reads_as_its_reasons_then_the_gates():
    details = json.dumps(
        {
            "reasons": ["forced with --force"],
            "champion_version": "2",
            "gate": ["rmse 52.4 beats the trivial model 76.0", "rmse 52.4 vs champion 54.6"],
        }
    )
    assert decision_sentence(details) == (
        "forced with --force; rmse 52.4 beats the trivial model 76.0; rmse 52.4 vs champion 54.6"
    )
    assert decision_sentence("not json") == "not json" and decision_sentence(None) == ""


def test_the_page_shows_no_json_in_its_retraining_decisions(tmp_path):
    row = dict.fromkeys(COLUMNS, None) | {
        "recorded_at": "2026-12-01T00:00:00Z",
        "kind": "retrain",
        "batch_id": "b1",
        "decision": "skip",
        "details": json.dumps(
            {"reasons": ["latest batch 'b1' is warning"], "champion_version": None, "gate": []}
        ),
    }
    page = render_monitoring(pd.DataFrame([row]), None, tmp_path / "monitoring.html", 0.25)
    html = page.read_text()
    assert '<td class="no">skip</td><td>latest batch &#39;b1&#39; is warning</td>' in html
    assert "champion_version" not in html

"""A champion without an id column can be scored: each row's line is its id (issue 24)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from lab2prod.data.line_ids import with_line_ids
from lab2prod.scoring.score import ScoreOptions, score_file


def _without_id(contract):
    return replace(
        contract,
        id_column=None,
        columns=tuple(c for c in contract.columns if c.name != contract.id_column),
    )


def test_a_project_without_id_column_scores_with_line_numbers_as_ids(
    champion, batch_text, tmp_path
):
    contract = _without_id(champion["contract"])
    src = tmp_path / "batch.csv"
    rows = batch_text.drop(columns=[champion["contract"].id_column]).head(20)
    rows.to_csv(src, index=False, lineterminator="\n")
    result = score_file(
        src, tmp_path / "pred.csv", champion["model_uri"], contract, options=ScoreOptions(workers=0)
    )
    out = pd.read_csv(result.output)
    assert result.rows_scored == 20 and out.columns[0] == "line"
    assert out["line"].tolist() == list(range(2, 22))  # the rows' lines in the input


def test_a_contract_with_an_id_keeps_it():
    from lab2prod.data.contract import contract_from_dict

    named = contract_from_dict({"target": "y", "id_column": "k", "columns": {"k": {}, "y": {}}})
    assert with_line_ids(named) is named
    lined = with_line_ids(replace(named, id_column=None))
    assert lined.id_column == "line" and lined.rule("line").nullable is False

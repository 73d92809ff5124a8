"""A champion without an id column can be scored: each row's line is its id (issue 24)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

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


def test_rows_as_ids_numbers_a_batch_and_its_labels_alike_when_the_contract_has_no_id():
    from lab2prod.data.contract import contract_from_dict
    from lab2prod.data.line_ids import rows_as_ids

    named = contract_from_dict({"target": "y", "id_column": "k", "columns": {"k": {}, "y": {}}})
    batch, labels = pd.DataFrame({"x": [5, 6, 7]}, index=[9, 3, 4]), pd.DataFrame({"y": [1, 0, 1]})
    assert rows_as_ids(named, batch, labels) == (named, batch, labels)
    keyed, rows, marked = rows_as_ids(replace(named, id_column=None), batch, labels)
    assert keyed.id_column == "line"
    assert rows["line"].tolist() == marked["line"].tolist() == ["2", "3", "4"]
    assert rows["x"].tolist() == [5, 6, 7] and marked["y"].tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="^2 labels for 3 rows and no id column to join them on$"):
        rows_as_ids(replace(named, id_column=None), batch, labels[:2])

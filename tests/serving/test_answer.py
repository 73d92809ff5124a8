"""serving.answer: a request conditioned by score_chunk, answered whole with named columns or refused whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab2prod.data.cells import LINE, cell_text
from lab2prod.data.conditioning import condition
from lab2prod.modeling.estimators import build_estimator
from lab2prod.modeling.features import model_frame, target_vector
from lab2prod.scoring.chunk import score_chunk
from lab2prod.serving.answer import NOT_ANSWERED, answer_request, request_cells, request_frame


@pytest.fixture
def fitted(contract, toy_text):
    typed = condition(toy_text, contract, mode="train").clean
    model = build_estimator("logistic_regression", "classification", ["age", "income"], ["home"])
    return model.fit(model_frame(typed, contract), target_vector(typed, contract))


def _request(**changes):
    frame = pd.DataFrame(
        {"id": ["a", "b"], "age": [30, 45], "income": [100.5, np.nan], "home": ["owner", None]}
    )
    return frame.assign(**changes)


def test_request_cells_are_the_cells_a_file_reader_hands_over(contract):
    frame = pd.DataFrame({"n": [5, 7], "x": [5.0, np.nan], "s": ["a", None], "id": [1, 2]})
    cells = request_cells(frame, contract)
    assert cells["n"].tolist() == ["5", "7"]
    assert cells["x"][0] == "5.0" and cells["s"][0] == "a"
    assert cells["x"].isna()[1] and cells["s"].isna()[1]  # missing, as an empty CSV field
    # pandas' str, the dtype data.sources reads cells as, and each row's line as a reader counts it
    assert (cells.drop(columns=LINE).dtypes == "str").all()  # the id too, numbers or not
    assert cells[LINE].tolist() == [2, 3] and cells[LINE].dtype == "int64"
    ids = request_cells(pd.DataFrame({"n": [5, 7]}), contract, row_ids="_row")
    assert list(ids.columns) == [LINE, "_row", "n"] and ids["_row"].tolist() == ["0", "1"]


def test_json_numbers_of_the_contracts_number_columns_stay_numbers(contract):
    frame = pd.DataFrame({"AGE": [30, 45], "income": [100.5, np.nan], "home": [1, 2]})
    cells = request_cells(frame, contract)
    assert cells["AGE"].dtype == "int64" and cells["AGE"].tolist() == [30, 45]
    assert cells["income"].dtype == "float64" and np.isnan(cells["income"][1])
    assert cells["home"].tolist() == ["1", "2"]  # a category column reads text
    text = request_cells(frame.assign(AGE=["30", "x"]), contract)
    assert text["AGE"].tolist() == ["30", "x"]  # not numbers: text, as a file's cells


def test_a_valid_request_gets_the_named_columns_and_values_of_lab2prod_score(contract, fitted):
    answer = answer_request(_request(), fitted, contract, threshold=0.5)
    assert answer.answered and not answer.refused
    assert list(answer.predictions.columns) == ["id", "probability", "label"]
    # the same rows through score_chunk as `lab2prod score` reads them from a file
    cells = request_cells(_request().astype(object), contract)  # text, as a file's
    batch = score_chunk(cells, fitted, contract, 0.5, "file").predictions
    pd.testing.assert_frame_equal(answer.predictions, batch)
    assert set(answer.predictions["label"]) <= {"bad", "good"}


def test_a_request_without_the_id_is_answered_without_it(contract, fitted):
    answer = answer_request(_request().drop(columns=["id"]), fitted, contract)
    assert list(answer.predictions.columns) == ["probability", "label"]
    assert len(answer.predictions) == 2


def test_a_mixed_request_is_refused_whole_with_each_bad_row_and_its_reason(contract, fitted):
    answer = answer_request(_request(home=["castle", "owner"], age=[30, 12]), fitted, contract)
    assert not answer.answered
    assert answer.refused[0] == "home: 'castle' is not one of owner, rent"
    assert answer.refused[1] == "age: 12 is below the minimum 18"
    assert answer.message == (
        "request: 2 of 2 rows break the contract, so none is scored: "
        "row 0 (id 'a'): home: 'castle' is not one of owner, rent | "
        "row 1 (id 'b'): age: 12 is below the minimum 18: "
        "fix or remove those rows and send the request again"
    )
    one_bad = answer_request(_request(age=[30, 150]), fitted, contract)
    assert one_bad.refused == {0: NOT_ANSWERED, 1: "age: 150 is above the maximum 100"}


def test_a_request_missing_a_column_is_refused_with_the_contracts_message(contract, fitted):
    answer = answer_request(_request().drop(columns=["age"]), fitted, contract)
    assert not answer.answered
    assert answer.message == "request: missing column 'age': add it or fix the header"
    assert set(answer.refused) == {0, 1}


def test_a_contract_without_an_id_column_answers_by_position(contract, fitted):
    from dataclasses import replace

    no_id = replace(
        contract, id_column=None, columns=tuple(c for c in contract.columns if c.name != "id")
    )
    answer = answer_request(_request().drop(columns=["id"]), fitted, no_id)
    assert (
        list(answer.predictions.columns) == ["probability", "label"]
        and len(answer.predictions) == 2
    )
    refused = answer_request(_request(age=[30, 12]).drop(columns=["id"]), fitted, no_id)
    assert refused.message.startswith(
        "request: 1 of 2 rows break the contract, so none is scored: row 1: age: 12"
    )


def test_request_cells_of_each_json_type_are_the_cells_one_by_one_would_be(contract):
    frame = pd.DataFrame(
        {
            "n": [5, -7],
            "x": [0.1, np.nan],
            "big": [1e20, 2.0],
            "s": ["a", None],
            "b": [True, False],
            "mixed": [1, "a"],
        }
    )
    cells = request_cells(frame, contract)
    for name in frame.columns:
        expected = [cell_text(v) for v in frame[name].to_numpy(dtype=object)]
        assert [None if pd.isna(v) else v for v in cells[name]] == expected, name


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a request whose every value is the text a file would hold (missing as None)."""
    return frame.astype(object).map(cell_text)


@pytest.mark.parametrize(
    "ids, age, income",
    [
        ("abcd", [30, 45, 52, 23], [100.5, np.nan, 0.0, 1e20]),
        ("abcd", [30.0, 45.0, 18.0, 100.0], [1e-300, -0.0, 3.0, np.nan]),
        ("abca", [30, 45, 52, 23], [100.5, np.nan, 0.0, 1e20]),
        ("abcd", [30.0, 45.5, np.inf, np.nan], [np.inf, -np.inf, -0.0, np.nan]),
        ("abcd", [30, 2**60, 12, 150], [-5.0, 1e-300, 3.0, 2.5]),
        ("abcb", [30.0, 9007199254740994.0, -18.0, 100.0], [1.0, 2.0, 3.0, 4.0]),
    ],
)
def test_json_numbers_are_answered_and_refused_as_their_text_is(contract, fitted, ids, age, income):
    request = pd.DataFrame({"id": list(ids), "age": age, "income": income, "home": ["owner"] * 4})
    assert request["age"].dtype.kind in "if" and request["income"].dtype == "float64"
    typed, text = (
        answer_request(request, fitted, contract),
        answer_request(_as_text(request), fitted, contract),
    )
    assert typed.refused == text.refused and typed.message == text.message
    if text.answered:
        pd.testing.assert_frame_equal(typed.predictions, text.predictions)
    # the quarantine score_chunk writes, reasons and records, is the text's to the byte
    chunks = [
        score_chunk(request_cells(r, contract), fitted, contract, 0.5, "request")
        for r in (request, _as_text(request))
    ]
    pd.testing.assert_frame_equal(chunks[0].quarantine, chunks[1].quarantine)
    assert text.answered == (not len(chunks[1].quarantine))


def test_request_frame_takes_what_mlflow_hands_over_without_an_input_schema():
    one = request_frame({"age": 30, "home": "owner", "income": None})
    assert one.to_dict("records") == [{"age": 30, "home": "owner", "income": None}]
    served = request_frame({"age": np.array(30), "home": np.array("owner")})  # JSON "inputs"
    assert served.to_dict("records") == [{"age": 30, "home": "owner"}]
    columns = request_frame({"age": np.array([30, 45]), "home": ["owner", "rent"]})
    assert columns["age"].tolist() == [30, 45] and len(columns) == 2
    records = request_frame([{"age": 30}, {"age": 45, "home": "rent"}])
    assert records["age"].tolist() == [30, 45] and records["home"].isna()[0]
    frame = pd.DataFrame({"age": [30]})
    assert request_frame(frame) is frame


def test_json_numbers_are_refused_in_the_words_a_file_gets(contract, fitted):
    refused = answer_request(_request(age=[30.5, 45], id=["a", "b"]), fitted, contract)
    assert "row 0 (id 'a'): age: '30.5' is not a whole number" in refused.message
    refused = answer_request(_request(age=["thirty", 45]), fitted, contract)
    assert "row 0 (id 'a'): age: 'thirty' is not a number" in refused.message


class _Fixed:
    """A model of fixed outputs: only the answer's columns are under test."""

    def __init__(self, classes: int):
        self.classes = classes

    def predict_proba(self, features):
        return np.full((len(features), self.classes), 1 / self.classes)

    def predict(self, features):
        return np.full(len(features), 2.5)


@pytest.mark.parametrize(
    "target, task, columns",
    [
        (
            {"name": "y", "labels": ["bad", "good"], "positive": "bad"},
            "classification",
            ["id", "probability", "label"],
        ),
        (
            {"name": "y", "labels": ["a", "b", "c"]},
            "classification",
            ["id", "probability_a", "probability_b", "probability_c", "label"],
        ),
        ({"name": "y"}, "regression", ["id", "value"]),
    ],
)
def test_every_task_answers_with_lab2prod_scores_columns_in_order(
    contract_dict, target, task, columns
):
    from lab2prod.data.contract import contract_from_dict
    from lab2prod.scoring.chunk import prediction_columns

    y = (
        {"type": "float"}
        if task == "regression"
        else {"type": "category", "categories": target["labels"]}
    )
    contract = contract_from_dict(
        {
            **contract_dict,
            "task": task,
            "target": target,
            "columns": {**contract_dict["columns"], "y": y},
        }
    )
    answer = answer_request(_request(), _Fixed(len(target.get("labels", ())) or 1), contract)
    assert list(answer.predictions.columns) == columns == prediction_columns(contract)
    assert answer.predictions["id"].tolist() == ["a", "b"]


def test_the_answers_text_columns_hold_python_strings_as_an_empty_chunks_do(contract, fitted):
    # object columns of str: no Arrow conversion per chunk, and MLflow's JSON answer reads them fast
    answer = answer_request(_request(), fitted, contract)
    empty = score_chunk(request_cells(_request().iloc[:0], contract), fitted, contract, 0.5, "file")
    assert answer.predictions.dtypes.to_dict() == empty.predictions.dtypes.to_dict()
    assert answer.predictions["label"].dtype == object and answer.predictions["id"].dtype == object


@pytest.mark.parametrize("seed", [0, 1])
def test_the_named_answer_holds_what_a_frame_built_column_by_column_holds(contract, fitted, seed):
    """The predictions frame built on one index holds the values, types and records of a plain one."""
    rng = np.random.default_rng(seed)
    rows = 50
    request = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(rows)],
            "age": rng.integers(18, 100, rows),
            "income": np.where(rng.random(rows) < 0.2, np.nan, rng.random(rows) * 1000),
            "home": rng.choice(np.array(["owner", "rent", None], dtype=object), rows),
        }
    )
    answer = answer_request(request, fitted, contract, threshold=0.4)
    clean = condition(request_cells(request, contract), contract, mode="score").clean
    scores = fitted.predict_proba(model_frame(clean, contract))[:, 1]
    expected = pd.DataFrame(
        {
            "id": pd.Series(request["id"].to_numpy(dtype=object), dtype=object),
            "probability": scores,
            "label": pd.Series(np.where(scores >= 0.4, "bad", "good"), dtype=object),
        }
    )
    pd.testing.assert_frame_equal(answer.predictions, expected)
    assert answer.predictions.to_dict("records") == expected.to_dict("records")

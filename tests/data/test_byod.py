"""Bring your own data through the package functions the notebooks call: one file, an inferred contract,
and a model trained on it. Two real datasets that ship offline: scikit-learn's diabetes table
(regression, inside the scikit-learn wheel) and ggplot2's `economics` (a date column; provenance in
tests/data/fixtures/PROVENANCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lab2prod import settings
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.inference import guess_task
from lab2prod.data.ingest import ingest, prepare
from lab2prod.errors import ConfigError, ContractError
from lab2prod.modeling import features
from lab2prod.modeling.split import split_frame
from lab2prod.modeling.training import train_model

FIXTURES = Path(__file__).parent / "fixtures"


def _train_and_score(result, contract, family="ridge"):
    frame = read_normalized(str(result.normalized), contract)
    parts = split_frame(frame, contract.target, contract.task, seed=0)
    return train_model(parts["train"], contract, family, seed=0, valid=parts["test"]).metrics


def test_diabetes_regression_from_one_csv(tmp_path):
    from sklearn.datasets import load_diabetes

    path = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    catalog, contract = prepare(path, None, "diabetes", target="target")
    assert contract.task == "regression" and contract.origin == "inferred from diabetes.csv"
    assert {contract.rule(f).type for f in contract.features} == {"float"} and len(
        contract.features
    ) == 10
    assert contract.rule("target").type == "int"
    result = ingest(catalog, contract, tmp_path / "lake")
    assert (result.rows_in, result.rows_normalized, result.rows_quarantined) == (442, 442, 0)
    assert settings.load_contract(result.contract) == settings.load_contract(
        result.contract
    )  # written and readable
    assert _train_and_score(result, contract)["r2"] > 0.3


def test_economics_dates_become_numeric_features_never_categories(tmp_path):
    catalog, contract = prepare(
        FIXTURES / "economics.csv", None, "economics", target="psavert", task="regression"
    )
    assert contract.rule("date").type == "date"  # found without --env--date_column: ISO dates
    columns = features.model_columns(contract)
    assert columns["categorical"] == []
    assert columns["numeric"][-4:] == [
        "date__year",
        "date__month",
        "date__dayofweek",
        "date__dayofyear",
    ]
    result = ingest(catalog, contract, tmp_path / "lake")
    assert result.rows_normalized == 574
    frame = read_normalized(str(result.normalized), contract)
    assert str(frame["date"].dtype).startswith("datetime64")
    assert features.model_frame(frame.head(1), contract).loc[
        0, ["date__year", "date__month"]
    ].tolist() == [1967.0, 7.0]
    written = settings.read_yaml(result.contract)
    assert written["columns"]["date"] == {
        "type": "date",
        "nullable": False,
        "on_fail": "quarantine",
    }
    assert _train_and_score(result, contract)["r2"] > 0.5


def test_declared_date_column_and_id_column(tmp_path, write):
    path = write("d.csv", "key,when,x,y\nk1,01/02/2024,1,a\nk2,03/04/2024,2,b\nk3,05/06/2024,3,a\n")
    _, contract = prepare(
        path,
        None,
        "d",
        target="y",
        task="classification",
        date_column="when",
        id_column="key",
        date_format="%d/%m/%Y",
    )
    assert (contract.rule("when").type, contract.rule("key").type, contract.id_column) == (
        "date",
        "string",
        "key",
    )
    assert contract.rule("when").format == "%d/%m/%Y"
    assert contract.labels == ("a", "b")


def test_prepare_explains_what_is_missing(tmp_path, write, credit_contract):
    path = write("d.csv", "x,y\n1,a\n")
    with pytest.raises(ConfigError, match="needs its target column: add --env--target COLUMN"):
        prepare(path, None, "d")
    with pytest.raises(ContractError, match="target column 'z' not found; columns are x, y"):
        prepare(path, None, "d", target="z")
    with pytest.raises(ContractError, match="date column 'when' not found"):
        prepare(path, None, "d", target="y", date_column="when")
    from tests.conftest import PROJECT

    with pytest.raises(
        ConfigError, match="contract is for dataset 'credit' but the build's dataset is 'other'"
    ):
        prepare(
            *settings.load_ingest_source(
                PROJECT / "data/sources/credit/catalog.yaml", PROJECT / "data/contracts/credit.yaml"
            ),
            "other",
        )
    with pytest.raises(ConfigError, match="catalog.yaml: a catalog needs a contract"):
        settings.load_ingest_source(PROJECT / "data/sources/credit/catalog.yaml", None)
    assert settings.load_ingest_source(path, PROJECT / "no-such-contract.yaml") == (path, None)


@pytest.mark.parametrize(
    "values, task",
    [
        ([str(i / 4) for i in range(11)], "regression"),
        (["0", "1", None] * 10, "classification"),
        (["a", "b"], "classification"),
    ],
)
def test_guess_task(values, task):
    assert guess_task(pd.Series(values, dtype=object)) == task


@pytest.mark.parametrize(
    "target, task",
    [([f"{i * 1.37:.2f}" for i in range(40)], "regression"), (["0", "1"] * 20, "classification")],
)
def test_contract_infer_and_the_pipeline_share_one_guess_of_the_task(
    tmp_path, capsys, target, task
):
    from lab2prod.cli import main

    path = tmp_path / "one.csv"
    rows = [f"{i},{i % 7},{y}" for i, y in enumerate(target)]
    path.write_text("\n".join(["id,x,y", *rows]) + "\n", encoding="utf-8")
    _, by_pipeline = prepare(path, None, "one", target="y", id_column="id")
    assert (
        main(["contract", "infer", "--input", str(path), "--target", "y", "--id-column", "id"]) == 0
    )
    by_command = json.loads(capsys.readouterr().out)
    assert by_pipeline.task == by_command["task"] == task
    labels = by_command["target"].get("labels") if isinstance(by_command["target"], dict) else None
    assert (labels == ["0", "1"]) if task == "classification" else not labels
    with pytest.raises(ContractError, match="task 'ranking' must be classification or regression"):
        prepare(path, None, "one", target="y", task="ranking")


def test_contract_infer_command_on_the_dated_dataset(tmp_path, capsys):
    from lab2prod.cli import main

    out = tmp_path / "economics.yaml"
    assert (
        main(
            [
                "contract",
                "infer",
                "--input",
                str(FIXTURES / "economics.csv"),
                "--target",
                "psavert",
                "--task",
                "regression",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert settings.read_yaml(out)["columns"]["date"]["type"] == "date"
    assert (
        main(["contract", "infer", "--input", str(FIXTURES / "economics.csv"), "--target", "nope"])
        == 2
    )
    assert capsys.readouterr().err.startswith("error: economics: target column 'nope' not found")

"""Own data without surprises (issue 24): numbers with thousands marks and signs, one date format per
column, decimal and thousands marks as a pair, and values out of range for their type.

Each test is named after the behaviour; the files are made here (no download).
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from lab2prod.cli import main
from lab2prod.data.conditioning import condition
from lab2prod.data.contract import contract_from_dict, contract_to_dict
from lab2prod.data.formats import NumberFormat, date_format, number_format, read_numbers
from lab2prod.data.inference import infer_contract
from lab2prod.data.ingest import ingest, prepare
from lab2prod.data.sources import read_file
from lab2prod.data.validate import validate_file
from lab2prod.errors import ContractError, SourceError

HEADER = "id,age,income,home,y\n"


def _text(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, dtype=object)


# ---- 1. numbers written with thousands marks, percent signs, currency symbols ----


def test_inference_reads_thousands_separators_percent_and_currency_as_numbers():
    frame = _text(
        pce=["3,504.2", "999", "1,234,567"],
        rate=["57%", "3.5%", "100%"],
        price=["$1,200", "$15", "-$3"],
        name=["a", "b", "c"],
        y=["x", "z", "x"],
    )
    contract = infer_contract(frame, "d", target="y", task="classification")
    assert [contract.rule(c).type for c in ("pce", "rate", "price")] == ["float", "float", "int"]
    assert (contract.rule("pce").thousands, contract.rule("rate").symbol) == (",", "%")
    assert (contract.rule("price").thousands, contract.rule("price").symbol) == (",", "$")
    clean = condition(frame, contract).clean
    assert clean["pce"].tolist() == [3504.2, 999.0, 1234567.0]
    assert clean["rate"].tolist() == [57.0, 3.5, 100.0]  # the number as written, sign dropped
    assert clean["price"].tolist() == [1200, 15, -3]
    # the formats are written to the contract and read back: a batch is read the same way
    again = contract_from_dict(contract_to_dict(contract))
    assert again.rule("price") == contract.rule("price")
    assert contract_to_dict(contract)["columns"]["rate"]["symbol"] == "%"


def test_inference_asks_when_a_column_writes_numbers_two_ways():
    frame = _text(rate=["57%", "0.3", "12%"], y=["a", "b", "a"])
    with pytest.raises(
        ContractError, match=r"column 'rate': 2 of 3 values carry '%' .*symbol: '%'"
    ):
        infer_contract(frame, "d", target="y", task="classification")


def test_grouped_numbers_need_exact_groups_of_three():
    assert number_format(pd.Series(["1,5", "2,25"]), "x") is None  # a decimal comma, not thousands
    assert number_format(pd.Series(["0,125"]), "x") is None
    assert read_numbers(pd.Series(["1,234", "12,34"]), NumberFormat(thousands=",")).tolist() == [
        "1234",
        "12,34",
    ]


# ---- 2. one date format per column ----


def test_day_first_dates_are_read_day_first_from_the_whole_column():
    frame = _text(when=["31/07/1967", "05/03/2024", "13/01/2000"], y=["a", "b", "a"])
    contract = infer_contract(frame, "d", target="y", task="classification")
    assert (contract.rule("when").type, contract.rule("when").format) == ("date", "%d/%m/%Y")
    clean = condition(frame, contract).clean
    assert clean["when"].dt.strftime("%Y-%m-%d").tolist() == [
        "1967-07-31",
        "2024-03-05",
        "2000-01-13",
    ]


def test_dates_that_fit_day_first_and_month_first_stop_naming_the_column():
    frame = _text(when=["01/02/2024", "03/04/2024"], y=["a", "b"])
    with pytest.raises(
        ContractError,
        match=r"column 'when': every date fits '%d/%m/%Y' and '%m/%d/%Y' both .*format: '%d/%m/%Y'",
    ):
        infer_contract(frame, "d", target="y", task="classification", date_columns=("when",))
    declared = infer_contract(
        frame,
        "d",
        target="y",
        task="classification",
        date_columns=("when",),
        date_format="%m/%d/%Y",
    )
    assert condition(frame, declared).clean["when"].dt.month.tolist() == [1, 3]


def test_mixed_date_formats_stop_naming_the_column():
    cells = ["2024-03-05", "05/03/2024", "March 5, 2024", "2024-04-01"]
    with pytest.raises(
        ContractError,
        match=r"column 'when': dates written in several formats \(2 of 4 fit 'ISO8601'",
    ):
        date_format(pd.Series(cells), "when")


def test_a_declared_date_format_quarantines_cells_in_another_format():
    contract = contract_from_dict(
        {
            "target": "y",
            "max_quarantine_fraction": 0.5,
            "columns": {"when": {"type": "date", "format": "%d/%m/%Y"}, "y": {"type": "category"}},
        }
    )
    frame = _text(when=["05/03/2024", "2024-03-06", "07/03/2024"], y=["a", "b", "b"])
    result = condition(frame, contract)
    assert result.clean["when"].dt.day.tolist() == [5, 7]
    assert result.quarantine["reason"].tolist() == [
        "when: '2024-03-06' is not a date in format %d/%m/%Y"
    ]


def test_a_format_key_on_a_number_column_is_refused():
    with pytest.raises(ContractError, match="column 'x' of type float cannot have 'format'"):
        contract_from_dict(
            {"target": "y", "columns": {"x": {"type": "float", "format": "%Y"}, "y": {}}}
        )


# ---- 3. decimal and thousands marks as a pair ----


def test_thousands_option_reads_grouped_numbers(write, contract):
    path = write(
        "t.csv", "id;age;income;home;y\na;30;2.000,5;owner;good\nb;40;1.234.567;rent;bad\n"
    )
    clean = validate_file(path, contract, delimiter=";", decimal=",", thousands=".").result.clean
    assert clean["income"].tolist() == [2000.5, 1234567.0]
    path = write("u.csv", HEADER + 'a,30,"2,000",owner,good\nb,40,"1,500.25",rent,bad\n')
    clean = validate_file(path, contract, thousands=",").result.clean
    assert clean["income"].tolist() == [2000.0, 1500.25]


def test_thousands_option_must_differ_from_the_decimal_mark(write):
    path = write("t.csv", HEADER + "a,30,1,owner,good\n")
    with pytest.raises(SourceError, match="the thousands mark must be one character other than"):
        read_file(path, decimal=",", thousands=",")


def test_thousands_is_a_catalog_key(write, tmp_path):
    from lab2prod.data.catalog import catalog_from_dict
    from lab2prod.data.sources import extract, read_landed

    write("t.csv", HEADER + 'a,30,"2,000",owner,good\n')
    catalog = catalog_from_dict(
        {
            "sources": [
                {"name": "t", "format": "csv", "path": "t.csv", "options": {"thousands": ","}}
            ]
        },
        tmp_path / "catalog.yaml",
    )
    spec = catalog.sources[0]
    assert read_landed(spec, extract(spec)).rows["income"].tolist() == ["2000"]


def test_thousands_hint_names_likely_thousands_marks_and_both_declarations(
    write, contract_file, capsys
):
    path = write(
        "t.csv",
        HEADER
        + 'a,30,"2,000",owner,good\nb,40,"1,500",rent,bad\nc,41,3,rent,bad\nd,42,4,rent,good\ne,43,5,,bad\n',
    )
    out = path.parent / "q.csv"
    assert (
        main(
            [
                "validate",
                "--input",
                str(path),
                "--contract",
                str(contract_file),
                "--quarantine",
                str(out),
            ]
        )
        == 0
    )
    reasons = pd.read_csv(out)["reason"].tolist()
    assert reasons[0] == (
        "income: '2,000' is not a number (likely thousands marks: set thousands to ','; "
        "if the comma is the decimal mark, set decimal to ',')"
    )
    capsys.readouterr()
    assert (
        main(
            ["validate", "--input", str(path), "--contract", str(contract_file), "--thousands", ","]
        )
        == 0
    )
    assert "5 rows in, 5 pass, 0 quarantined" in capsys.readouterr().out


def test_a_contract_thousands_key_reads_grouped_numbers(contract_dict):
    contract_dict["columns"]["income"]["thousands"] = "."
    contract = contract_from_dict(contract_dict)
    frame = _text(
        id=["a", "b"],
        age=["30", "40"],
        income=["12.345", "1"],
        home=["owner"] * 2,
        y=["good", "bad"],
    )
    assert condition(frame, contract).clean["income"].tolist() == [12345.0, 1.0]


# ---- 8. values out of range for their type: quarantined with a reason, never a traceback ----


def test_integer_out_of_range_is_quarantined_not_a_traceback(write, contract_dict, contract_file):
    path = write(
        "t.csv",
        HEADER
        + "a,1e20,1,owner,good\nb,12345678901234567890,1,rent,bad\nc,40,1,rent,bad\nd,40,1,rent,good\n",
    )
    contract_dict["columns"]["age"].pop("max")
    contract_dict["max_quarantine_fraction"] = 1.0
    result = validate_file(path, contract_from_dict(contract_dict)).result
    assert result.clean["id"].tolist() == ["c", "d"]
    assert result.quarantine["reason"].tolist() == [
        "age: '1e20' is out of range for an integer column (at most 2^53 in size): "
        "declare the column float or string",
        "age: '12345678901234567890' is out of range for an integer column (at most 2^53 in size): "
        "declare the column float or string",
    ]


def test_inferred_column_of_huge_whole_numbers_is_float_not_int():
    frame = _text(big=["1e20", "12345678901234567890", "3"], y=["a", "b", "a"])
    contract = infer_contract(frame, "d", target="y", task="classification")
    assert contract.rule("big").type == "float"
    assert condition(frame, contract).clean["big"].tolist() == [1e20, 12345678901234567890.0, 3.0]


def test_infinity_in_a_float_feature_is_quarantined(write, contract_dict):
    path = write(
        "t.csv",
        HEADER
        + "a,30,inf,owner,good\nb,40,-Infinity,rent,bad\nc,41,1e999,rent,bad\nd,42,2,rent,bad\n",
    )
    contract_dict["max_quarantine_fraction"] = 1.0
    result = validate_file(path, contract_from_dict(contract_dict), mode="score").result
    assert result.clean["income"].tolist() == [2.0]
    assert result.quarantine["reason"].tolist() == [
        "income: 'inf' is not a finite number",
        "income: '-Infinity' is not a finite number",
        "income: '1e999' is not a finite number",
    ]


def test_scoring_a_batch_with_infinity_quarantines_the_row(write, contract):
    path = write("t.csv", "id,age,income,home\na,30,inf,owner\nb,40,2,rent\n")
    result = validate_file(path, contract, mode="score").result
    assert result.clean["id"].tolist() == ["b"] and len(result.quarantine) == 1


def test_dates_out_of_range_are_quarantined_also_in_an_ingest(tmp_path, write):
    rows = [f"2024-01-{d:02d},{d},{'ab'[d % 2]}" for d in range(1, 29)]
    path = write("d.csv", "\n".join(["when,x,y", *rows, "9999-12-31,1,a", "0001-01-01,2,b"]) + "\n")
    catalog, contract = prepare(path, None, "d", target="y", task="classification")
    assert contract.rule("when").type == "date"
    contract = contract.__class__(**{**contract.__dict__, "max_quarantine_fraction": 0.1})
    result = ingest(catalog, contract, tmp_path / "lake")
    quarantined = pd.read_csv(result.quarantine)["reason"].tolist()
    assert (result.rows_normalized, quarantined) == (
        28,
        [
            "when: '9999-12-31' is out of range for a date (years 1678 to 2261)",
            "when: '0001-01-01' is out of range for a date (years 1678 to 2261)",
        ],
    )


def test_written_contract_keeps_the_formats(tmp_path):
    frame = _text(when=["31/07/1967", "30/06/1970"], pce=["1,000", "2,000.5"], y=["a", "b"])
    contract = infer_contract(frame, "d", target="y", task="classification")
    written = yaml.safe_load(yaml.safe_dump(contract_to_dict(contract)))
    assert written["columns"]["when"]["format"] == "%d/%m/%Y"
    assert written["columns"]["pce"]["thousands"] == ","

"""validate_file and read_any: one file, any supported format, a summary a person reads."""

from __future__ import annotations

import pandas as pd
import pytest

from lab2prod.data.validate import read_any, reason_kind, validate_file
from lab2prod.errors import SourceError


def test_read_any_picks_the_adapter_by_suffix(tmp_path, write):
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "x.parquet")
    assert read_any(tmp_path / "x.parquet").rows["id"].tolist() == ["a"]
    assert read_any(write("x.jsonl", '{"id": "b"}\n')).rows["id"].tolist() == ["b"]
    with pytest.raises(SourceError, match=r"unknown suffix '\.xml': use \.csv"):
        read_any(write("x.xml", "<a/>"))
    with pytest.raises(SourceError, match="nope.csv: file not found"):
        read_any(tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="option 'delimiter' does not apply to .parquet files"):
        read_any(tmp_path / "x.parquet", delimiter=";")


@pytest.mark.readiness("monitor 2")
def test_validate_file_summary_and_quarantine_output(tmp_path, write, contract):
    path = write(
        "t.csv", "id,age,income,home,y\na,30,1,owner,good\nb,4,2,rent,bad\nc,40\nd,50,,rent,bad\n"
    )
    report = validate_file(path, contract, quarantine_output=tmp_path / "q" / "out.csv")
    assert report.describe().splitlines() == [
        f"{path}: 4 rows in, 2 pass, 2 quarantined",
        "  quarantined for truncated: 1",
        "  quarantined for age: 1",
    ]
    written = pd.read_csv(tmp_path / "q" / "out.csv")
    assert written["line"].tolist() == [4, 3] and str(written["line"].dtype) == "int64"


def test_validate_file_with_only_unreadable_rows_stops(write, contract):
    with pytest.raises(
        SourceError,
        match=r"no row could be read \(truncated: expected 5 fields, found 1 on line 2\)",
    ):
        validate_file(write("t.csv", "id,age,income,home,y\na\n"), contract)


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("age: 'x' is not a number", "age"),
        ("duplicate row (same values as line 2)", "duplicate row"),
        ("truncated: expected 5 fields, found 2", "truncated"),
    ],
)
def test_reason_kind(reason, kind):
    assert reason_kind(reason) == kind


def test_a_header_no_row_can_pass_is_refused_before_the_rows_are_read(tmp_path, contract):
    from lab2prod.data.conditioning import check_header
    from lab2prod.data.sources import read_csv_header
    from lab2prod.errors import ContractError

    path = tmp_path / "no_target.csv"
    # the rows are unreadable on purpose: a refusal that read them would name a byte, not the header
    path.write_bytes(b"id,age,income,home\n\xff\xfe,1,2,3\n")
    assert read_csv_header(path) == ["id", "age", "income", "home"]
    with pytest.raises(
        ContractError, match="no_target.csv: missing target 'y': add it or fix the header"
    ):
        validate_file(path, contract)
    check_header(["id", "age", "income", "home"], contract, mode="score")  # scoring needs no target
    with pytest.raises(ContractError, match="x.csv: missing column 'age'"):
        check_header(["id", "income", "home", "y"], contract, origin="x.csv")


def test_describe_counts_repeats_and_values_outside_what_training_saw(tmp_path, write):
    from lab2prod.data.inference import infer_contract
    from lab2prod.data.sources import read_csv

    seen = write("seen.csv", "x,c,y\n1,u,a\n5,v,b\n3,u,a\n")
    contract = infer_contract(read_csv(seen, "seen").rows, "t", target="y", task="classification")
    batch = write("batch.csv", "x,c,y\n9,u,a\n2,w,b\n2,w,b\n")
    text = validate_file(batch, contract).describe()
    # 9 is above what training saw and w is new: kept, counted, no quarantine; the repeat is kept too
    assert text.splitlines()[0].endswith("3 rows in, 3 pass, 0 quarantined")
    assert "repeats: 1 row(s) repeat an earlier row exactly" in text
    assert "outside what training saw (drift for the monitor, kept): x 1, c 2" in text

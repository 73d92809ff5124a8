"""Every hostile input of issue 3, through `lab2prod validate`: one exact error line (exit 2) or exact quarantine rows.

The toy contract (tests/conftest.py): id (unique text), age (int 18..100), income (float >= 0, nullable),
home (owner|rent, nullable), y (target: bad|good).
"""

from __future__ import annotations

import pandas as pd
import pytest

from lab2prod.cli import main

HEADER = "id,age,income,home,y\n"
GOOD = "a,30,100.5,owner,good\nb,45,,rent,bad\nc,52,80,,good\nd,23,120,rent,bad\n"  # lines 2..5


@pytest.fixture
def validate(contract_file, tmp_path, capsys):
    """Run `lab2prod validate` on a file; return (exit code, stdout, stderr, quarantine frame or None)."""

    def _run(path, *extra):
        out = tmp_path / "quarantine.csv"
        out.unlink(missing_ok=True)
        code = main(
            [
                "validate",
                "--input",
                str(path),
                "--contract",
                str(contract_file),
                "--quarantine",
                str(out),
                *extra,
            ]
        )
        captured = capsys.readouterr()
        quarantine = (
            pd.read_csv(out, dtype={"record": str}, keep_default_na=False) if out.exists() else None
        )
        return code, captured.out, captured.err, quarantine

    return _run


def _error(validate, path, *extra) -> str:
    code, out, err, _ = validate(path, *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err.strip()


def _quarantined(validate, path, *extra) -> list[tuple[int, str, str]]:
    code, _, err, quarantine = validate(path, *extra)
    assert code == 0, err
    return list(quarantine[["line", "reason", "record"]].itertuples(index=False, name=None))


def test_empty_file(validate, write):
    assert _error(validate, write("t.csv", "")) == (
        f"error: {write('t.csv', '')}: file is empty: export the table again with a header row and data"
    )


def test_header_only(validate, write):
    path = write("t.csv", HEADER)
    assert (
        _error(validate, path) == f"error: {path}: has a header but no data rows: check the export"
    )


def test_missing_target(validate, write):
    path = write("t.csv", "id,age,income,home\na,30,1,owner\n")
    assert _error(validate, path) == f"error: {path}: missing target 'y': add it or fix the header"


def test_missing_target_is_fine_when_scoring(validate, write):
    code, out, _, _ = validate(
        write("t.csv", "id,age,income,home\na,30,1,owner\n"), "--mode", "score"
    )
    assert code == 0 and "1 rows in, 1 pass, 0 quarantined" in out


def test_missing_feature(validate, write):
    path = write("t.csv", "id,income,home,y\na,1,owner,good\n")
    assert (
        _error(validate, path) == f"error: {path}: missing column 'age': add it or fix the header"
    )


def test_unknown_extra_columns_are_dropped_with_a_warning(validate, write):
    path = write(
        "t.csv",
        "id,age,income,home,y,color\n" + "".join(line + ",red\n" for line in GOOD.splitlines()),
    )
    code, out, _, quarantine = validate(path)
    assert code == 0 and quarantine.empty
    assert f"warning: {path}: unknown column(s) 'color' not in the contract: dropped" in out


def test_unknown_extra_columns_stop_when_the_contract_says_so(validate, write, contract_file):
    contract_file.write_text(contract_file.read_text() + "extra_columns: stop\n")
    path = write("t.csv", "id,age,income,home,y,color\na,30,1,owner,good,red\n")
    assert _error(validate, path) == (
        f"error: {path}: unknown column(s) 'color' not in the contract: remove them or add them to the contract"
    )


def test_string_in_numeric_column(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,thirty,1,owner,good\n")
    assert _quarantined(validate, path) == [
        (6, "age: 'thirty' is not a number", "e,thirty,1,owner,good")
    ]


def test_all_empty_required_column(validate, write):
    path = write("t.csv", "id,age,income,home,y\na,,1,owner,good\nb,,2,rent,bad\n")
    assert _error(validate, path) == (
        f"error: {path}: column 'age' is entirely empty but the contract requires values: check the export"
    )


def test_all_empty_optional_column_warns(validate, write):
    path = write("t.csv", "id,age,income,home,y\na,30,,owner,good\nb,40,,rent,bad\n")
    code, out, _, quarantine = validate(path)
    assert code == 0 and quarantine.empty
    assert f"warning: {path}: column 'income' is entirely empty: check the export" in out


def test_unseen_category(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,30,1,castle,good\n")
    assert _quarantined(validate, path) == [
        (6, "home: 'castle' is not one of owner, rent", "e,30,1,castle,good")
    ]


def test_non_utf8_bytes(validate, write):
    path = write("t.csv", (HEADER + GOOD).encode() + b"e,30,1,own\xe9r,good\n")
    assert _error(validate, path) == (
        f"error: {path}: line 6: byte 0xe9 is not valid utf-8: "
        "re-export as UTF-8 or set options.encoding (for example latin-1)"
    )


def test_non_utf8_bytes_read_with_the_declared_encoding(validate, write):
    path = write("t.csv", (HEADER + GOOD).encode() + b"e,30,1,own\xe9r,good\n")
    assert _quarantined(validate, path, "--encoding", "latin-1") == [
        (6, "home: 'own\u00e9r' is not one of owner, rent", "e,30,1,own\u00e9r,good")
    ]


def test_utf8_bom_and_crlf(validate, write):
    path = write(
        "t.csv",
        b"\xef\xbb\xbf" + (HEADER + GOOD + "e,300,1,rent,bad\n").replace("\n", "\r\n").encode(),
    )
    assert _quarantined(validate, path) == [
        (6, "age: 300 is above the maximum 100", "e,300,1,rent,bad")
    ]


def test_duplicated_header_names(validate, write):
    path = write("t.csv", "id,age,age,home,y\na,1,2,owner,good\n")
    assert (
        _error(validate, path)
        == f"error: {path}: header repeats column 'age': give every column a distinct name"
    )


def test_column_names_that_differ_only_in_case_are_named_both(validate, write):
    path = write("t.csv", "id,age,Age,home,y\na,1,2,owner,good\n")
    assert _error(validate, path) == (
        f"error: {path}: header has columns 'age' and 'Age', whose names differ only in case or "
        "spaces: lab2prod matches names ignoring both: rename one"
    )


def test_truncated_last_line(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,30")
    assert _quarantined(validate, path) == [(6, "truncated: expected 5 fields, found 2", "e,30")]


def test_row_with_too_many_fields(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,30,1,owner,good,x,y,z,w,v,u\n")
    assert _quarantined(validate, path) == [
        (6, "too many fields: expected 5 fields, found 11", "e,30,1,owner,good,x,y,z,w,v,u")
    ]


def test_shuffled_column_order_matches_by_name(validate, write, contract):
    from lab2prod.data.validate import validate_file

    path = write("t.csv", "y,home,id,income,age\ngood,owner,a,1.5,30\nbad,rent,b,2,40\n")
    clean = validate_file(path, contract).result.clean
    assert list(clean.columns) == ["id", "age", "income", "home", "y"]
    assert clean.to_dict("list") == {
        "id": ["a", "b"],
        "age": [30, 40],
        "income": [1.5, 2.0],
        "home": ["owner", "rent"],
        "y": ["good", "bad"],
    }


def test_other_delimiter_is_named(validate, write):
    path = write("t.csv", (HEADER + GOOD).replace(",", ";"))
    assert _error(validate, path) == (
        f"error: {path}: header reads as one column but contains ';': set the delimiter to ';' "
        "(options.delimiter in the catalog, --delimiter on the command line)"
    )


def test_decimal_comma_read_with_options(validate, write, contract):
    from lab2prod.data.validate import validate_file

    path = write("t.csv", "id;age;income;home;y\na;30;1.100,5;owner;good\nb;40;2,25;rent;bad\n")
    clean = validate_file(path, contract, delimiter=";", decimal=",").result.clean
    assert clean["income"].tolist() == [1100.5, 2.25]


def test_decimal_comma_without_the_option_is_quarantined_with_a_hint(validate, write):
    path = write(
        "t.csv", "id;age;income;home;y\na;30;1,5;owner;good\nb;40;2;rent;bad\nc;40;2;rent;good\n"
    )
    assert _quarantined(validate, path, "--delimiter", ";") == [
        (
            2,
            "income: '1,5' is not a number (decimal comma? set the decimal option to ',')",
            "a,30,1,5,owner,good",
        )
    ]


def test_quoted_fields_with_commas_and_newlines_keep_line_numbers(validate, write, contract):
    from lab2prod.data.validate import validate_file

    path = write(
        "t.csv", HEADER + '"a, the\nfirst",30,1,owner,good\nb,40,2,rent,bad\nc,x,2,rent,bad\n'
    )
    report = validate_file(path, contract)
    assert report.result.clean["id"].tolist() == ["a, the\nfirst", "b"]
    assert _quarantined(validate, path) == [(5, "age: 'x' is not a number", "c,x,2,rent,bad")]


def test_changed_case_and_spaces_in_headers(validate, write):
    path = write("t.csv", " ID ,AGE,Income ,  home,Y\na,30,1,owner,good\nb,40,2,rent,bad\n")
    code, out, _, quarantine = validate(path)
    assert code == 0 and quarantine.empty
    assert f"warning: {path}: column 'AGE' matched to 'age' (case or spaces differ)" in out
    assert out.count("matched to") == 4  # ID, AGE, Income, Y; '  home' only had spaces


def test_out_of_range_numbers(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,150,1,owner,good\nf,17,-3,rent,bad\n")
    assert _quarantined(validate, path) == [
        (6, "age: 150 is above the maximum 100", "e,150,1,owner,good"),
        (
            7,
            "age: 17 is below the minimum 18; income: -3 is below the minimum 0",
            "f,17,-3,rent,bad",
        ),
    ]


def test_duplicate_rows_keep_the_first(validate, write):
    path = write("t.csv", HEADER + GOOD + "a,30,100.5,owner,good\nb,46,,rent,bad\n")
    assert _quarantined(validate, path) == [
        (6, "duplicate row (same values as line 2)", "a,30,100.5,owner,good"),
        (7, "id: duplicate id 'b' (first on line 3)", "b,46,,rent,bad"),
    ]


def test_unknown_and_missing_target_labels(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,30,1,owner,maybe\nf,30,1,owner,\n")
    assert _quarantined(validate, path) == [
        (6, "y: unknown target label 'maybe' (expected one of bad, good)", "e,30,1,owner,maybe"),
        (7, "y: missing target value", "f,30,1,owner,"),
    ]


def test_single_class_target(validate, write):
    path = write("t.csv", HEADER + "a,30,1,owner,good\nb,40,2,rent,good\n")
    assert _error(validate, path) == (
        f"error: {path}: target 'y' has a single class ('good'): a classifier needs at least two"
    )


def test_too_many_bad_rows_stop(validate, write):
    path = write("t.csv", HEADER + "a,1,1,owner,good\nb,2,2,rent,bad\nc,30,2,rent,bad\n")
    assert _error(validate, path) == (
        f"error: {path}: 2 of 3 rows (66.7%) break the contract, more than the allowed 50.0% "
        "(most common: age, e.g. line 2: age: 1 is below the minimum 18): fix the source or raise max_quarantine_fraction"
    )


# ---------------------------------------------------------------------------- issue 24: hostile files


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte; yields its port."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in held:
        connection.close()


def test_a_sql_server_that_never_answers_times_out_naming_the_url_without_password(silent_server):
    from lab2prod.data.sources import query_sql
    from lab2prod.errors import SourceError

    url = f"postgresql+psycopg://ann:s3cret@127.0.0.1:{silent_server}/sales"
    with pytest.raises(SourceError) as caught:
        query_sql(url, "SELECT 1", connect_timeout=1, statement_timeout=1)
    message = str(caught.value)
    assert message.startswith(f"postgresql+psycopg://ann:***@127.0.0.1:{silent_server}/sales: ")
    assert "timeout" in message and "s3cret" not in message and "\n" not in message
    assert "no answer within the timeouts (1 s to connect, 1 s for the query)" in message


def test_a_sql_driver_without_timeouts_is_stopped_by_the_watchdog(silent_server, monkeypatch):
    from lab2prod.data.readers import sql
    from lab2prod.errors import SourceError

    monkeypatch.setattr(sql, "_timeout_args", lambda *_: {})  # a driver that takes no timeout
    monkeypatch.setattr(sql, "_GRACE", 0.5)
    url = f"postgresql+psycopg://ann:s3cret@127.0.0.1:{silent_server}/sales"
    with pytest.raises(
        SourceError,
        match=rf"^postgresql\+psycopg://ann:\*\*\*@127.0.0.1:{silent_server}/sales: no answer within "
        r"0.5 s to connect and 0.5 s for the query: .* options.connect_timeout",
    ):
        sql.query_sql(url, "SELECT 1", connect_timeout=0.5, statement_timeout=0.5)


def test_sql_timeouts_come_from_the_source_options():
    from lab2prod.data.sources import sql_timeouts
    from lab2prod.errors import SourceError

    assert sql_timeouts({"connect_timeout": 3, "statement_timeout": 60}, "s") == {
        "connect_timeout": 3.0,
        "statement_timeout": 60.0,
    }
    with pytest.raises(SourceError, match="options.connect_timeout must be a number of seconds"):
        sql_timeouts({"connect_timeout": "soon"}, "s")

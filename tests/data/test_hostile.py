"""Hostile input (issues 3 and 24), mostly through `lab2prod validate` and `lab2prod score`: one exact
error line (exit 2), exact quarantine rows, no hang, nothing overwritten, the same verdict from both.

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


@pytest.mark.readiness("data 4")
def test_unknown_extra_columns_are_dropped_with_a_warning(validate, write):
    path = write(
        "t.csv",
        "id,age,income,home,y,color\n" + "".join(line + ",red\n" for line in GOOD.splitlines()),
    )
    code, out, _, quarantine = validate(path)
    assert code == 0 and quarantine.empty
    assert f"warning: {path}: unknown column(s) 'color' not in the contract: dropped" in out


@pytest.mark.readiness("data 4")
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


@pytest.mark.readiness("data 1")
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


def _score_error(capsys, *argv) -> str:
    """Run `lab2prod score` with a model it never needs to load (the refusal comes first); return
    the one error line."""
    code = main(["score", *argv, "--model", "models:/never-loaded/1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    return captured.err.strip()


def test_a_fifo_input_is_refused_before_it_is_opened(validate, tmp_path):
    import os
    import threading

    fifo = tmp_path / "feed.csv"
    os.mkfifo(fifo)
    stop = threading.Event()

    def unblock() -> None:  # were the FIFO opened, the test would fail instead of hanging
        if stop.wait(10):
            return
        while not stop.is_set():
            with open(fifo, "wb"):  # waits for a reader, then gives it an end of file
                pass

    guard = threading.Thread(target=unblock, daemon=True)
    guard.start()
    try:
        assert _error(validate, fifo) == (
            f"error: {fifo}: is a named pipe (FIFO), not a regular file: save the data to a file "
            "and pass that"
        )
    finally:
        stop.set()
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # frees a guard waiting for a reader
        guard.join()


def test_a_device_is_refused_as_input(validate):
    assert _error(validate, "/dev/null") == (
        "error: /dev/null: is a character device, not a regular file: save the data to a file "
        "and pass that"
    )


def test_a_symlink_loop_input_is_refused_in_one_line(validate, tmp_path, contract_file, capsys):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    expected = f"error: {loop}: is a loop of symbolic links: point the link at a file"
    assert _error(validate, loop) == expected
    out = tmp_path / "pred.csv"
    assert (
        _score_error(
            capsys, "--input", str(loop), "--output", str(out), "--contract", str(contract_file)
        )
        == expected
    )
    dangling = tmp_path / "gone.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    assert _error(validate, dangling) == (
        f"error: {dangling}: is a symbolic link to {tmp_path / 'nowhere.csv'}, which does not exist"
    )


def test_an_output_under_a_regular_file_is_refused(
    validate, write, tmp_path, contract_file, capsys
):
    path = write("t.csv", HEADER + GOOD)
    blocker = write("blocker", "a file, not a folder")
    out = blocker / "pred.csv"
    assert _score_error(
        capsys, "--input", str(path), "--output", str(out), "--contract", str(contract_file)
    ) == (
        f"error: {out}: cannot write the predictions (--output) there: {blocker} is a file, not a "
        "folder: choose another output path"
    )
    code = main(
        [
            "validate",
            "--input",
            str(path),
            "--contract",
            str(contract_file),
            "--quarantine",
            str(blocker / "q.csv"),
        ]
    )
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err
    code = main(
        [
            "contract",
            "infer",
            "--input",
            str(path),
            "--target",
            "y",
            "--output",
            str(blocker / "sub" / "c.yaml"),
        ]
    )
    assert code == 2 and capsys.readouterr().err == (
        f"error: {blocker / 'sub'}: cannot be a folder: {blocker} is a file, not a folder: "
        "choose another output path\n"
    )
    assert blocker.read_text() == "a file, not a folder"


def test_scoring_never_writes_its_quarantine_or_summary_over_its_input(
    write, tmp_path, contract_file, capsys
):
    text = HEADER.replace(",y", "") + "a,30,1,owner\n"
    for name, written in (
        ("x.quarantine.csv", "the quarantine written beside --output"),
        ("x.summary.json", "the summary written beside --output"),
        ("x.csv", "the predictions (--output)"),
    ):
        src = write(name, text)
        assert _score_error(
            capsys,
            "--input",
            str(src),
            "--output",
            str(tmp_path / "x.csv"),
            "--contract",
            str(contract_file),
        ) == (
            f"error: {src}: {written} would overwrite the input {src}: choose another output path"
        )
        assert src.read_text() == text
        src.unlink()


def test_validate_never_writes_its_quarantine_over_its_input(validate, write):
    path = write("t.csv", HEADER + GOOD + "e,150,1,owner,good\n")
    before = path.read_text()
    code, out, err, _ = validate(path, "--quarantine", str(path))
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {path}: the quarantine (--quarantine) would overwrite the input {path}: "
        "choose another output path"
    )
    assert path.read_text() == before


def test_a_csv_renamed_xlsx_says_what_the_file_is(validate, write, tmp_path):
    path = write("t.xlsx", HEADER + GOOD)
    assert _error(validate, path) == (
        f"error: {path}: is not an Excel workbook (.xlsx) but delimited text (CSV), first line "
        "'id,age,income,home,y': rename it to .csv"
    )
    workbook = tmp_path / "w.xlsx"
    pd.DataFrame({"id": ["a"]}).to_excel(workbook, index=False)
    renamed = workbook.rename(tmp_path / "w.csv")
    assert _error(validate, renamed) == (
        f"error: {renamed}: is an Excel workbook or another zip archive, not text: rename it to .xlsx"
    )


def test_a_quoted_line_break_in_a_header_cell_is_one_name(write, contract_dict):
    from lab2prod.data.contract import contract_from_dict
    from lab2prod.data.validate import validate_file

    contract_dict["columns"]["annual income"] = contract_dict["columns"].pop("income")
    contract = contract_from_dict(contract_dict)
    # a header cell wrapped onto two lines, as a spreadsheet exports it: the data start on line 3
    path = write("t.csv", 'id,age,"annual\nincome",home,y\n' + GOOD + "e,x,1,owner,good\n")
    result = validate_file(path, contract).result
    assert result.clean["annual income"].fillna(-1).tolist() == [100.5, -1, 80.0, 120.0]
    assert result.clean["home"].tolist()[:2] == ["owner", "rent"]
    assert result.quarantine[["line", "reason"]].values.tolist() == [
        [7, "age: 'x' is not a number"]
    ]


def _rows() -> pd.DataFrame:
    return pd.read_csv(__import__("io").StringIO(HEADER + GOOD), dtype=str, keep_default_na=False)


def test_nested_parquet_columns_the_contract_does_not_use_are_dropped(validate, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_rows(), preserve_index=False)
    table = table.append_column("tags", pa.array([["x"], [], None, ["y", "z"]]))
    table = table.append_column("address", pa.array([{"city": "Lyon"}] * 4))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    code, out, err, _ = validate(path)
    assert code == 0, err
    assert "4 rows in, 4 pass, 0 quarantined" in out
    assert "unknown column(s) 'tags', 'address' not in the contract: dropped" in out


def test_the_sheet_option_reads_the_named_sheet_and_a_missing_column_names_the_sheets(
    validate, tmp_path
):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"note": ["exported 2024"]}).to_excel(book, sheet_name="About", index=False)
        _rows().to_excel(book, sheet_name="Data", index=False)
    assert _error(validate, path) == (
        f"error: {path}: missing column 'age', 'home', 'id', 'income', 'y': add it or fix the "
        "header (sheet 'About' was read; the workbook also has 'Data': choose one with --sheet, "
        "or options.sheet in a catalog)"
    )
    for sheet in ("Data", "1"):
        code, out, err, _ = validate(path, "--sheet", sheet)
        assert code == 0 and "4 rows in, 4 pass, 0 quarantined" in out, err
    assert _error(validate, path, "--sheet", "Summary") == (
        f"error: {path}: no sheet 'Summary': the workbook's sheets are 'About', 'Data': choose one "
        "with --sheet (a name, or a position from 0), or options.sheet in a catalog"
    )
    csv = tmp_path / "t.csv"
    csv.write_text(HEADER + GOOD)
    assert _error(validate, csv, "--sheet", "Data") == (
        f"error: {csv}: option 'sheet' does not apply to .csv files"
    )


@pytest.fixture
def toy_model(contract):
    """A logistic regression fitted on 40 rows of the toy contract, as scoring takes it (no MLflow)."""
    import numpy as np

    from lab2prod.data.conditioning import condition
    from lab2prod.modeling.estimators import build_estimator
    from lab2prod.modeling.features import model_columns, model_frame, target_vector
    from lab2prod.scoring.score import ModelRef

    rng = np.random.default_rng(0)
    text = pd.DataFrame(
        {
            "_line": np.arange(2, 42),
            "id": [f"t{i}" for i in range(40)],
            "age": rng.integers(18, 90, 40).astype(str),
            "income": rng.uniform(0, 100, 40).round(1).astype(str),
            "home": rng.choice(["owner", "rent"], 40),
            "y": ["good", "bad"] * 20,
        }
    )
    typed = condition(text, contract).clean
    columns = model_columns(contract)
    model = build_estimator("linear", "classification", columns["numeric"], columns["categorical"])
    model.fit(model_frame(typed, contract), target_vector(typed, contract))
    return ModelRef(model=model, uri="models:/toy/1", name="toy", version="1", run_id="r1")


def _verdicts(path, contract, contract_file, model, tmp_path, capsys, chunk_sizes):
    """Return validate's (exit code, quarantined lines) and score's for each chunk size."""
    from lab2prod.errors import Lab2ProdError
    from lab2prod.scoring.score import ScoreOptions, score_file

    code = main(
        ["validate", "--input", str(path), "--contract", str(contract_file), "--mode", "score"]
    )
    err = capsys.readouterr().err.strip()
    verdicts = {"validate": (code, err.partition(f"{path}: ")[2])}
    for rows in chunk_sizes:
        try:
            result = score_file(
                path,
                tmp_path / f"p{rows}.csv",
                model,
                contract,
                options=ScoreOptions(chunk_rows=rows, workers=0),
            )
            verdicts[rows] = (0, "")
            lines = pd.read_csv(result.quarantine)["line"].tolist()
            verdicts[rows] += (tuple(lines),)
        except Lab2ProdError as exc:
            verdicts[rows] = (2, str(exc).partition(f"{path}: ")[2])
    return verdicts


def test_validate_and_score_agree_on_a_json_key_first_seen_after_55000_lines(
    contract, contract_file, toy_model, tmp_path, capsys
):
    import json

    lines = [{"id": f"r{i}", "age": "30", "home": "owner"} for i in range(55_003)]
    for i in (55_000, 55_001):
        lines[i]["income"] = "12.5"
    path = tmp_path / "late.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    verdicts = _verdicts(path, contract, contract_file, toy_model, tmp_path, capsys, [50_000])
    assert verdicts["validate"][0] == 0 and verdicts[50_000] == (0, "", ())
    assert pd.read_csv(tmp_path / "p50000.csv")["id"].size == 55_003


def test_validate_and_score_agree_whatever_the_chunk_size(
    contract, contract_file, toy_model, write, tmp_path, capsys
):
    import json

    # a required value missing on the first three rows only: a chunk of them is all empty
    path = write(
        "t.csv",
        "id,age,income,home\na,,1,owner\nb,,2,rent\nc,,3,rent\n"
        + "".join(f"r{i},{30 + i},1,owner\n" for i in range(7)),
    )
    verdicts = _verdicts(path, contract, contract_file, toy_model, tmp_path, capsys, [2, 1000])
    assert verdicts["validate"][0] == 0
    assert {v for k, v in verdicts.items() if k != "validate"} == {(0, "", (2, 3, 4))}
    # an optional key present on one line only, and a key on no line at all
    records = [{"id": f"r{i}", "age": "30", "home": "rent"} for i in range(6)]
    records[4]["income"] = "5"
    late = tmp_path / "late.jsonl"
    late.write_text("".join(json.dumps(r) + "\n" for r in records))
    verdicts = _verdicts(late, contract, contract_file, toy_model, tmp_path, capsys, [2, 1000])
    assert verdicts["validate"][0] == 0
    assert {v for k, v in verdicts.items() if k != "validate"} == {(0, "", ())}
    never = tmp_path / "never.jsonl"
    never.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "home"}) + "\n" for r in records)
    )
    verdicts = _verdicts(never, contract, contract_file, toy_model, tmp_path, capsys, [2])
    assert verdicts["validate"] == (2, "missing column 'home': add it or fix the header")
    assert {v for k, v in verdicts.items() if k != "validate"} == {
        (2, "missing column 'home': add it or fix the header")
    }


def test_a_catalog_source_that_is_a_fifo_is_refused_before_it_is_opened(tmp_path):
    import os

    from lab2prod.data.catalog import SourceSpec
    from lab2prod.data.sources import extract
    from lab2prod.errors import SourceError

    fifo = tmp_path / "orders.csv"
    os.mkfifo(fifo)
    with pytest.raises(
        SourceError, match=r"orders.csv: is a named pipe \(FIFO\), not a regular file"
    ):
        extract(SourceSpec(name="orders", format="csv", path=fifo))

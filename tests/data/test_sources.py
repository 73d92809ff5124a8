"""Source adapters: every format gives text cells with line numbers, and every failure one line."""

from __future__ import annotations

import os
import sqlite3

import pandas as pd
import pytest

from lab2prod.data import sources
from lab2prod.data.catalog import SourceSpec
from lab2prod.errors import SourceError
from lab2prod.settings import load_catalog


def _cells(frame) -> dict:
    """The rows of a Frame as lists, a missing cell as None (readers hand over `str` or object columns)."""
    return frame.rows.astype(object).where(frame.rows.notna(), None).to_dict("list")


def test_read_csv_keeps_text_cells_missing_markers_and_lines(write):
    frame = sources.read_csv(write("a.csv", "id,x\n a ,007\nb,NA\n\nc,\n,\n"), "a")
    # the empty line 4 holds no record; line 6 is a record of missing values (the contract decides)
    assert _cells(frame) == {
        "_line": [2, 3, 5, 6],
        "id": ["a", "b", "c", None],
        "x": ["007", None, None, None],
    }
    assert frame.rejected == []


def test_fast_and_line_by_line_readers_agree(write):
    plain = "id;x;when\r\n a ;1.234,5;2024-01-31\r\nb;NA;\r\nc;-0,25;2024-02-01\r\n"
    fast = sources.read_csv(write("plain.csv", plain), "s", delimiter=";", decimal=",")
    slow = sources.read_csv(
        write("quoted.csv", plain.replace("b;", '"b";')), "s", delimiter=";", decimal=","
    )
    pd.testing.assert_frame_equal(fast.rows, slow.rows)
    assert _cells(fast) == {
        "_line": [2, 3, 4],
        "id": ["a", "b", "c"],
        "x": ["1234.5", None, "-0.25"],
        "when": ["2024-01-31", None, "2024-02-01"],
    }


def test_a_file_of_many_blocks_reads_whole_as_in_chunks(write):
    """Past the 4 MB the reader takes at a time, read whole or in chunks: the same cells and lines."""
    rows = 300_000  # about 6 MB
    body = "".join(f"r{i:07d},{'NA' if i == 150_000 else i % 97},k{i % 5}\n" for i in range(rows))
    path = write("big.csv", "id,n,k\n" + body + "late,NA,y\n\nragged\n pad ,1,z\n")
    whole = sources.read_csv(path, "big")
    chunks = list(sources.iter_csv(path, "big", chunk_rows=70_000))
    pd.testing.assert_frame_equal(
        whole.rows, pd.concat([c.rows for c in chunks], ignore_index=True), check_index_type=False
    )
    assert [r["line"] for c in chunks for r in c.rejected] == [rows + 4]
    assert [(r["line"], r["reason"]) for r in whole.rejected] == [
        (rows + 4, "truncated: expected 3 fields, found 1")
    ]
    cells = _cells(whole)
    # a missing marker in a block without any space is missing too (Arrow's nulls while parsing)
    assert cells["n"][150_000] is None and cells["_line"][150_000] == 150_002
    assert cells["_line"][-2:] == [rows + 2, rows + 5]  # the empty line and the ragged row skipped
    assert cells["id"][-2:] == ["late", "pad"] and cells["n"][-2:] == [None, "1"]


def test_read_csv_options_delimiter_decimal_encoding(write):
    path = write("a.csv", "id\tx\n\u00e9\t1.234,5\nb\t-0,25\n".encode("latin-1"))
    frame = sources.read_csv(path, "a", delimiter="\t", decimal=",", encoding="latin-1")
    assert frame.rows["id"].tolist() == ["\u00e9", "b"]
    assert frame.rows["x"].tolist() == ["1234.5", "-0.25"]


def test_read_csv_rejects_ragged_rows_with_their_lines(write):
    frame = sources.read_csv(write("a.csv", "id,x\na,1\nb\nc,3,4\n"), "src")
    assert frame.rows["id"].tolist() == ["a"]
    assert [(r["source"], r["line"], r["reason"]) for r in frame.rejected] == [
        ("src", 3, "truncated: expected 2 fields, found 1"),
        ("src", 4, "too many fields: expected 2 fields, found 3"),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("  \n\n", "file is empty"),
        ("id,x\n", "has a header but no data rows"),
        ("id,,x\na,1,2\n", "header has an empty column name at position 2: name every column"),
        ("id,x, x\na,1,2\n", "header repeats column 'x'"),
        ("id|x\na|1\n", r"header reads as one column but contains '\|'"),
    ],
)
def test_read_csv_refuses_unusable_files(write, content, message):
    with pytest.raises(SourceError, match=message):
        sources.read_csv(write("a.csv", content), "a")


def test_read_jsonl_rejects_bad_lines_and_unions_keys(write):
    path = write(
        "a.jsonl", '{"id": "a", "x": 1.5}\nnot json\n[1, 2]\n\n{"id": "b", "y": null, "x": "NA"}\n'
    )
    frame = sources.read_jsonl(path, "feed")
    assert _cells(frame) == {
        "_line": [1, 5],
        "id": ["a", "b"],
        "x": ["1.5", None],
        "y": [None, None],
    }
    assert [(r["line"], r["reason"].split(" (")[0]) for r in frame.rejected] == [
        (2, "not valid JSON"),
        (3, "not a JSON object"),
    ]


def test_read_jsonl_accepts_a_bom_and_crlf(write):
    frame = sources.read_jsonl(write("a.jsonl", b'\xef\xbb\xbf{"id": "a"}\r\n{"id": "b"}\r\n'), "a")
    assert _cells(frame) == {"_line": [1, 2], "id": ["a", "b"]} and frame.rejected == []


def test_read_jsonl_refuses_empty_and_bad_bytes(write):
    with pytest.raises(SourceError, match="file is empty: expected one JSON object per line"):
        sources.read_jsonl(write("a.jsonl", "\n"), "a")
    with pytest.raises(
        SourceError, match=r"b.jsonl: line 1: byte 0xff is not valid utf-8: re-export as UTF-8"
    ):
        sources.read_jsonl(write("b.jsonl", b'{"id": "\xff"}\n'), "b")


def test_read_parquet_and_a_damaged_file(tmp_path, write):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"id": ["a", "b"], "x": [1.5, None]}).to_parquet(path)
    frame = sources.read_parquet(path, "a")
    assert _cells(frame) == {"_line": [1, 2], "id": ["a", "b"], "x": ["1.5", None]}
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        sources.read_parquet(write("bad.parquet", b"PAR1 garbage"), "bad")


def test_read_excel_sheet_rows_and_a_missing_sheet(tmp_path):
    path = tmp_path / "a.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"id": ["a", "b"], "x": [1, None]}).to_excel(
            xl, sheet_name="loans", index=False
        )
    frame = sources.read_excel(path, "a", sheet="loans")
    assert _cells(frame) == {"_line": [2, 3], "id": ["a", "b"], "x": ["1", None]}
    with pytest.raises(SourceError, match="no sheet 'nope': the workbook's sheets are 'loans'"):
        sources.read_excel(path, "a", sheet="nope")


@pytest.mark.readiness("data 5")
def test_query_sql_on_sqlite_and_a_failing_query_hides_the_password(tmp_path):
    db = tmp_path / "o.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (id TEXT, s TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [("a", "good"), ("b", "bad")])
    assert sources.query_sql(f"sqlite:///{db}", "SELECT * FROM t ORDER BY id").to_dict("list") == {
        "id": ["a", "b"],
        "s": ["good", "bad"],
    }
    with pytest.raises(
        SourceError, match=r"query failed \(OperationalError: no such table: missing\)"
    ) as info:
        sources.query_sql(f"sqlite:///{db}", "SELECT * FROM missing")
    with pytest.raises(SourceError) as info:
        sources.query_sql("postgresql+psycopg2://u:hunter2@127.0.0.1:1/db", "SELECT 1")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_a_one_letter_password_is_masked_in_its_field_only():
    # a real driver error (psycopg, nothing listens on port 9): the words around it stay whole
    with pytest.raises(SourceError) as info:
        sources.query_sql("postgresql+psycopg://u:p@127.0.0.1:9/db", "SELECT 1")
    message = str(info.value)
    assert message.startswith("postgresql+psycopg://u:***@127.0.0.1:9/db: query failed")
    assert "port 9 failed" in message and "***ort" not in message
    assert sources.mask_credentials(
        "at postgresql://u:p@h:5432/db (host=h port=5432 password=p user=u) password='p q' up"
    ) == ("at postgresql://u:***@h:5432/db (host=h port=5432 password=*** user=u) password=*** up")
    assert (
        sources.mask_credentials("no credentials: port 9, p@ss") == "no credentials: port 9, p@ss"
    )


def test_user_adapter_by_name(tmp_path, monkeypatch):
    (tmp_path / "my_feed.py").write_text(
        "import pandas as pd\n"
        "def load(n):\n    return pd.DataFrame({'id': [f'k{i}' for i in range(n)]})\n"
        "def wrong():\n    return [1]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sources.call_adapter("my_feed:load", {"n": 2})["id"].tolist() == ["k0", "k1"]
    with pytest.raises(SourceError, match="returned list, expected a pandas DataFrame"):
        sources.call_adapter("my_feed:wrong", {})
    with pytest.raises(
        SourceError, match="'my_feed:nope' cannot be imported: give it as 'module:function'"
    ):
        sources.call_adapter("my_feed:nope", {})


def test_extract_explains_incomplete_specs(tmp_path):
    with pytest.raises(SourceError, match="a sql source needs 'url'"):
        sources.extract(SourceSpec(name="s", format="sql", url="sqlite:///x"))
    with pytest.raises(SourceError, match="a python source needs 'function: module:function'"):
        sources.extract(SourceSpec(name="p", format="python"))
    with pytest.raises(SourceError, match="file .*nope.csv not found: check 'path' in the catalog"):
        sources.extract(SourceSpec(name="f", format="csv", path=tmp_path / "nope.csv"))
    with pytest.raises(SourceError, match="unknown format 'xml'"):
        sources.read_landed(SourceSpec(name="x", format="xml"), tmp_path / "x")


def test_catalog_options_reach_the_csv_adapter(write):
    write("a.csv", "id;x\na;1,5\n")
    catalog = load_catalog(
        write(
            "catalog.yaml",
            "sources:\n  - {name: a, format: csv, path: a.csv, "
            "options: {delimiter: ';', decimal: ','}}\n",
        )
    )
    spec = catalog.sources[0]
    assert sources.read_landed(spec, sources.extract(spec)).rows["x"].tolist() == ["1.5"]


PG_URL = os.environ.get("LAB2PROD_TEST_PG_URL")


@pytest.mark.skipif(
    not PG_URL,
    reason="LAB2PROD_TEST_PG_URL is not set: .ci/run starts PostgreSQL on 127.0.0.1 and sets it",
)
def test_sql_source_on_a_real_postgresql_server(tmp_path, monkeypatch):
    """A catalog SQL source whose URL (with credentials) comes from an environment variable."""
    import sqlalchemy as sa

    from lab2prod.data.contract import contract_from_dict
    from lab2prod.data.ingest import ingest

    engine = sa.create_engine(PG_URL)
    with engine.begin() as con:
        con.execute(sa.text("DROP TABLE IF EXISTS lab2prod_outcomes"))
        con.execute(
            sa.text("CREATE TABLE lab2prod_outcomes (id TEXT PRIMARY KEY, amount NUMERIC, y TEXT)")
        )
        con.execute(
            sa.text(
                "INSERT INTO lab2prod_outcomes VALUES ('a', 1.5, 'good'), ('b', 2, 'bad'), ('c', -1, 'bad')"
            )
        )
    engine.dispose()
    monkeypatch.setenv("LAB2PROD_OUTCOMES_URL", PG_URL)
    (tmp_path / "catalog.yaml").write_text(
        "sources:\n  - name: outcomes\n    format: sql\n    url_env: LAB2PROD_OUTCOMES_URL\n"
        "    query: SELECT id, amount, y FROM lab2prod_outcomes ORDER BY id\n"
    )
    contract = contract_from_dict(
        {
            "dataset": "pg",
            "target": {"name": "y", "labels": ["bad", "good"]},
            "id_column": "id",
            "max_quarantine_fraction": 0.5,
            "columns": {
                "id": {"type": "string"},
                "amount": {"type": "float", "min": 0},
                "y": {"type": "category"},
            },
        }
    )
    result = ingest(load_catalog(tmp_path / "catalog.yaml"), contract, tmp_path / "lake")
    assert (result.rows_in, result.rows_normalized, result.rows_quarantined) == (3, 2, 1)
    assert pd.read_csv(result.quarantine)["reason"].tolist() == [
        "amount: -1 is below the minimum 0"
    ]
    landed = sorted((tmp_path / "lake/raw/outcomes").rglob("*.csv"))
    assert len(landed) == 1 and landed[0].read_text().startswith("id,amount,y\n")

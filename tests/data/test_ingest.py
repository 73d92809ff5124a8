"""Ingest: land, join by key, condition, write; rows in = normalized + quarantined for every source."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pandas as pd
import pytest

from lab2prod import settings
from lab2prod.data import lake
from lab2prod.data.ingest import ingest
from lab2prod.errors import ConfigError

PROJECT_CATALOG = "data/sources/credit/catalog.yaml"


def _toy_sources(tmp_path):
    """Three sources of the toy contract in three formats, with one problem of each kind."""
    (tmp_path / "apps.csv").write_text(
        "id,age,home\n"
        "a,30,owner\n"  # 2 complete
        "b,45,rent\n"  # 3 complete
        "c,52\n"  # 4 truncated on read
        "d,23,rent\n"  # 5 no bureau record
        "e,17,owner\n"  # 6 age below minimum
        "a,31,rent\n"  # 7 duplicate key
        "f,40,rent\n"
    )  # 8 complete
    (tmp_path / "bureau.jsonl").write_text(
        '{"id": "a", "income": 10}\n{"id": "b", "income": null}\n{"id": "c", "income": 3}\n'
        '{"id": "e", "income": 1}\n{"id": "zz", "income": 5}\n{"id": "f", "income": 2}\nnot json\n'
    )
    with sqlite3.connect(tmp_path / "out.sqlite") as con:
        con.execute("CREATE TABLE o (id TEXT, y TEXT)")
        con.executemany(
            "INSERT INTO o VALUES (?, ?)",
            [(k, y) for k, y in zip("abcdef", ["good", "bad", "good", "bad", "good", "bad"])],
        )
    (tmp_path / "catalog.yaml").write_text(
        "key: id\nsources:\n"
        "  - {name: apps, format: csv, path: apps.csv}\n"
        "  - {name: bureau, format: jsonl, path: bureau.jsonl}\n"
        "  - {name: outcomes, format: sql, url: 'sqlite:///out.sqlite', query: 'SELECT id, y FROM o'}\n"
    )
    return settings.load_catalog(tmp_path / "catalog.yaml")


def test_ingest_joins_three_formats_and_accounts_for_every_row(tmp_path, contract):
    result = ingest(_toy_sources(tmp_path), contract, tmp_path / "lake", dt.date(2026, 1, 31))
    quarantine = pd.read_csv(result.quarantine)
    assert list(quarantine[["source", "line", "reason"]].itertuples(index=False, name=None)) == [
        ("apps", 4, "truncated: expected 3 fields, found 2"),
        ("bureau", 7, "not valid JSON (Expecting value)"),
        ("apps", 7, "id: duplicate key in apps"),
        (
            "bureau",
            3,
            "id: no apps row for this key",
        ),  # c was rejected on read: its partners are orphans
        ("bureau", 5, "id: no apps row for this key"),
        ("outcomes", 4, "id: no apps row for this key"),
        ("apps+outcomes", 5, "id: no bureau record for this key"),
        ("apps+bureau+outcomes", 6, "age: 17 is below the minimum 18"),
    ]
    assert quarantine["record"].fillna("").tolist()[-2:] == ["d,23,rent,,bad", "e,17,owner,1,good"]
    assert pd.read_csv(result.normalized)["id"].tolist() == ["a", "b", "f"]
    assert result.accounting == {
        "apps": {"rows_in": 7, "rows_normalized": 3, "rows_quarantined": 4},
        "bureau": {"rows_in": 7, "rows_normalized": 3, "rows_quarantined": 4},
        "outcomes": {"rows_in": 6, "rows_normalized": 3, "rows_quarantined": 3},
    }
    assert (result.rows_in, result.rows_normalized, result.rows_quarantined) == (7, 3, 4)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["outputs"]["accounting"] == result.accounting
    assert [s["landed"] for s in manifest["sources"]] == [
        "raw/apps/2026-01-31/apps.csv",
        "raw/bureau/2026-01-31/bureau.jsonl",
        "raw/outcomes/2026-01-31/outcomes.csv",
    ]
    assert manifest["sources"][0]["sha256"] == lake.sha256_file(tmp_path / "apps.csv")


def test_bundled_demo_rows_in_equal_normalized_plus_quarantined(tmp_path, credit_contract):
    from tests.conftest import PROJECT

    result = ingest(
        settings.load_catalog(PROJECT / PROJECT_CATALOG), credit_contract, tmp_path / "lake"
    )
    assert set(result.accounting) == {"applications", "bureau", "outcomes"}
    for name, n in result.accounting.items():
        assert n["rows_in"] == 4454 == n["rows_normalized"] + n["rows_quarantined"], name
    assert len(pd.read_csv(result.normalized)) == result.rows_normalized


def test_raw_zone_is_immutable_across_ingests(tmp_path, contract):
    catalog = _toy_sources(tmp_path)
    day = dt.date(2026, 1, 31)
    first = ingest(catalog, contract, tmp_path / "lake", day)
    landed = tmp_path / "lake/raw/apps/2026-01-31/apps.csv"
    original = landed.read_bytes()
    (tmp_path / "apps.csv").write_text((tmp_path / "apps.csv").read_text() + "g,50,owner\n")
    second = ingest(catalog, contract, tmp_path / "lake", day)
    assert landed.read_bytes() == original
    assert len(list(landed.parent.iterdir())) == 2
    assert first.manifest != second.manifest


def test_user_adapter_excel_and_parquet_sources(tmp_path, monkeypatch, contract):
    (tmp_path / "feed_adapter.py").write_text(
        "import pandas as pd\n"
        "def load(prefix):\n"
        "    return pd.DataFrame({'id': [prefix + k for k in 'abc'], 'y': ['good', 'bad', 'good']})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pd.ExcelWriter(tmp_path / "apps.xlsx") as xl:
        pd.DataFrame(
            {"id": ["ka", "kb", "kc"], "age": [30, 40, 50], "home": ["owner", None, "rent"]}
        ).to_excel(xl, sheet_name="apps", index=False)
    pd.DataFrame({"id": ["ka", "kb", "kc"], "income": [1.5, None, 3.0]}).to_parquet(
        tmp_path / "bureau.parquet"
    )
    (tmp_path / "catalog.yaml").write_text(
        "key: id\nsources:\n"
        "  - {name: apps, format: excel, path: apps.xlsx, options: {sheet: apps}}\n"
        "  - {name: bureau, format: parquet, path: bureau.parquet}\n"
        "  - {name: outcomes, format: python, function: 'feed_adapter:load', options: {prefix: k}}\n"
    )
    result = ingest(settings.load_catalog(tmp_path / "catalog.yaml"), contract, tmp_path / "lake")
    clean = pd.read_csv(result.normalized)
    assert clean.to_dict("list") == {
        "id": ["ka", "kb", "kc"],
        "age": [30, 40, 50],
        "income": [1.5, None, 3.0],
        "home": ["owner", None, "rent"],
        "y": ["good", "bad", "good"],
    } or clean.fillna("-").to_dict("list") == {
        "id": ["ka", "kb", "kc"],
        "age": [30, 40, 50],
        "income": [1.5, "-", 3.0],
        "home": ["owner", "-", "rent"],
        "y": ["good", "bad", "good"],
    }
    assert result.accounting["outcomes"] == {
        "rows_in": 3,
        "rows_normalized": 3,
        "rows_quarantined": 0,
    }


def test_sources_without_the_key_or_sharing_a_column_stop(tmp_path, contract):
    (tmp_path / "a.csv").write_text("id,age\na,30\n")
    (tmp_path / "b.csv").write_text("key,y\na,good\n")
    (tmp_path / "c.csv").write_text("id,age\na,30\n")
    for other, message in (
        ("b.csv", "source 'b' has no key column 'id'"),
        ("c.csv", "column 'age' comes from two sources"),
    ):
        (tmp_path / "catalog.yaml").write_text(
            f"key: id\nsources:\n  - {{name: a, format: csv, path: a.csv}}\n  - {{name: b, format: csv, path: {other}}}\n"
        )
        with pytest.raises(ConfigError, match=message):
            ingest(settings.load_catalog(tmp_path / "catalog.yaml"), contract, tmp_path / "lake")

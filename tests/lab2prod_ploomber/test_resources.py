"""The files Ploomber hashes for ingest: those of the catalog in use (src/lab2prod_ploomber/resources.py)."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from lab2prod_ploomber.resources import existing_files, ingest_resources
from tests.conftest import PROJECT


def test_the_bundled_catalog_names_its_three_sources_contract_and_itself():
    found = ingest_resources(
        "data/sources/credit/catalog.yaml", "data/contracts/credit.yaml", root=str(PROJECT)
    )
    assert found == {
        "catalog": str(PROJECT / "data/sources/credit/catalog.yaml"),
        "contract": str(PROJECT / "data/contracts/credit.yaml"),
        "source_applications": str(PROJECT / "data/sources/credit/applications.csv"),
        "source_bureau": str(PROJECT / "data/sources/credit/bureau.jsonl"),
        "source_outcomes": str(PROJECT / "data/sources/credit/outcomes.sqlite"),
    }


def test_one_data_file_is_its_own_resource(tmp_path):
    (tmp_path / "my.csv").write_text("x,y\n1,a\n")
    assert ingest_resources("my.csv", "ignored.yaml", root=str(tmp_path)) == {
        "data": str(tmp_path / "my.csv")
    }
    # missing: nothing to hash; ingest stops on it with its own one-line message
    assert ingest_resources("gone.csv", root=str(tmp_path)) == {}


def test_a_server_query_is_hashed_by_its_result_and_missing_sources_are_left_out(tmp_path):
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (k TEXT, v INTEGER)")
        con.execute("INSERT INTO t VALUES ('a', 1)")
    catalog = {
        "key": "k",
        "sources": [
            {"name": "orders", "format": "csv", "path": "orders.csv"},
            {"name": "gone", "format": "jsonl", "path": "gone.jsonl"},
            {
                "name": "file_db",
                "format": "sql",
                "url": "sqlite:///shop.sqlite",
                "query": "SELECT 1",
            },
            # no file behind this URL (an in-memory database stands for a server here): its result is hashed
            {"name": "server", "format": "sql", "url": "sqlite://", "query": "SELECT 1 AS one"},
            {
                "name": "down",
                "format": "sql",
                "url": "sqlite:////nowhere/x.db",
                "query": "SELECT 1",
            },
            {"name": "code", "format": "python", "function": "lab2prod.data.sources:call_adapter"},
        ],
    }
    (tmp_path / "orders.csv").write_text("k,x\na,1\n")
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    found = ingest_resources("catalog.yaml", "", root=str(tmp_path), products="products")
    digest = tmp_path / "products/source_digests/server.sha256"
    assert set(found) == {
        "catalog",
        "source_orders",
        "source_file_db",
        "source_server",
        "source_code",
    }
    assert found["source_file_db"] == str(db) and found["source_server"] == str(digest)
    assert found["source_code"].endswith("lab2prod/data/sources.py")
    first = digest.read_text()
    ingest_resources("catalog.yaml", "", root=str(tmp_path), products="products")
    assert digest.read_text() == first and len(first.strip()) == 64  # same result, same digest


def test_a_broken_catalog_leaves_the_message_to_ingest(tmp_path):
    (tmp_path / "catalog.yaml").write_text("sources: []\n")
    assert ingest_resources("catalog.yaml", root=str(tmp_path)) == {
        "catalog": str(tmp_path / "catalog.yaml")
    }


def test_the_scoring_batch_is_hashed_only_once_it_exists(tmp_path):
    (tmp_path / "contract.yaml").write_text("columns: {}\n")
    # before a training build the batch (the lake's normalized table) is not there yet
    assert existing_files(str(tmp_path), batch="lake/credit.csv", contract="contract.yaml") == {
        "contract": str(tmp_path / "contract.yaml")
    }
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "credit.csv").write_text("x\n1\n")
    absolute = str(tmp_path / "lake" / "credit.csv")
    assert existing_files("/elsewhere", batch=absolute) == {"batch": absolute}
    with pytest.raises(ValueError, match="name at least one file to hash"):
        existing_files(str(tmp_path))

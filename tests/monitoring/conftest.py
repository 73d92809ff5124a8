"""Fixtures of the monitoring tests: the bundled credit data, ingested once into a temporary lake."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def credit_lake(tmp_path_factory):
    """Return (contract, normalized frame, lake folder) of the bundled credit data."""
    from lab2prod import settings
    from lab2prod.data.contract import read_normalized
    from lab2prod.data.ingest import ingest

    contract = settings.load_contract(PROJECT / "data/contracts/credit.yaml")
    catalog = settings.load_catalog(PROJECT / "data/sources/credit/catalog.yaml")
    lake_dir = tmp_path_factory.mktemp("lake")
    result = ingest(catalog, contract, lake_dir)
    return contract, read_normalized(str(result.normalized), contract), lake_dir


@pytest.fixture(scope="session")
def credit_halves(credit_lake):
    """Return (contract, reference, batch): two disjoint seeded halves of the same data."""
    contract, frame, _ = credit_lake
    reference = frame.sample(frac=0.5, random_state=0)
    batch = frame.drop(reference.index)
    return contract, reference.reset_index(drop=True), batch.reset_index(drop=True)

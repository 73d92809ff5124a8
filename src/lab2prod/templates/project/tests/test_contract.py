"""The committed table meets the committed contract (the same check as the pipeline's ingest)."""

from pathlib import Path

import pytest

from lab2prod import settings
from lab2prod.data.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
ENV = settings.read_yaml(ROOT / "env.yaml")


def _sources() -> list[Path]:
    catalog = settings.load_catalog(ROOT / ENV["data"])
    return [source.path for source in catalog.sources if source.path is not None]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_the_table_meets_its_contract(path):
    contract = settings.load_contract(ROOT / ENV["contract"])
    report = validate_file(path, contract)
    assert report.rows_quarantined <= contract.max_quarantine_fraction * report.result.rows_in


def test_the_contract_names_the_target_of_the_table():
    contract = settings.load_contract(ROOT / ENV["contract"])
    assert contract.dataset == ENV["dataset"]
    assert contract.target in {rule.name for rule in contract.columns}

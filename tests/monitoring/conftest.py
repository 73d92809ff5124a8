"""Fixtures of the monitoring tests: the bundled credit data, ingested once into a temporary lake."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def credit_lake(tmp_path_factory):
    """Return (contract, normalized frame, lake folder) of the bundled credit data."""
    lake_dir = tmp_path_factory.mktemp("lake")
    return (*ingested_credit(lake_dir), lake_dir)


def ingested_credit(lake_dir: Path):
    """Return (contract, normalized frame) of the bundled credit data, ingested into `lake_dir`.

    A plain function, so that a lane's maker can run it in a process of its own (test_front_door.py).
    """
    from lab2prod import settings
    from lab2prod.data.conditioning import read_normalized
    from lab2prod.data.ingest import ingest

    contract = settings.load_contract(PROJECT / "data/contracts/credit.yaml")
    catalog = settings.load_catalog(PROJECT / "data/sources/credit/catalog.yaml")
    result = ingest(catalog, contract, lake_dir)
    return contract, read_normalized(str(result.normalized), contract)


def halves(contract, frame):
    """Return (contract, reference, batch): two disjoint seeded halves of `frame`."""
    reference = frame.sample(frac=0.5, random_state=0)
    batch = frame.drop(reference.index)
    return contract, reference.reset_index(drop=True), batch.reset_index(drop=True)


@pytest.fixture(scope="session")
def credit_halves(credit_lake):
    """Return (contract, reference, batch): two disjoint seeded halves of the same data."""
    contract, frame, _ = credit_lake
    return halves(contract, frame)


@pytest.fixture(scope="session")
def inferred_halves(credit_halves):
    """Return (inferred contract, reference, batch): the contract inferred from the reference's text.

    As bring-your-own-data does: its features' observed ranges and categories are ``expect:`` (what
    training saw), not hard rules.
    """
    import io

    import pandas as pd

    from lab2prod.data.inference import infer_contract

    _, reference, batch = credit_halves
    text = pd.read_csv(io.StringIO(reference.to_csv(index=False)), dtype=str)
    contract = infer_contract(text, "credit", "Status", id_column="applicant_id")
    return contract, reference, batch


def fit_on(frame, contract, seed: int = 42):
    """Return (trained, train part, held-out part): the default family fitted on 75% of `frame`, as a retraining splits its window."""
    from lab2prod.modeling.split import split_frame
    from lab2prod.modeling.training import train_model

    parts = split_frame(
        frame, contract.target, contract.task, test_size=0.25, valid_size=0.0, seed=seed
    )
    trained = train_model(parts["train"], contract, "linear", {}, seed=seed, valid=parts["test"])
    return trained, parts["train"], parts["test"]

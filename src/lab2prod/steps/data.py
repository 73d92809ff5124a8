"""The data steps of the training pipeline: ingest, validate, split.

Each takes the project and finds its inputs through its Lake, as Ploomber's products are declared
where the Lake puts them; the notebooks of the same names call them.

Each of the three notebooks imports this module before its step runs: validate imports the quality
checks (matplotlib) and split the splitter (scikit-learn with SciPy) when they run, so that ingest,
the first task of every build, pays for neither (docs/explanation/layout.md, "Imports").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab2prod import settings
from lab2prod.data import ingest as ingesting
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.contract import Contract
from lab2prod.data.ingest import IngestResult
from lab2prod.data.lake import atomic_write_csv, atomic_write_json, sha256_file
from lab2prod.project import Project


@dataclass(frozen=True)
class Ingested:
    """One ingest: what it wrote and counted, and the contract it held the rows to."""

    result: IngestResult
    contract: Contract

    def lines(self) -> list[str]:
        """Return what a person checks after an ingest: rows in and out, repeats, warnings."""
        result, contract = self.result, self.contract
        return [
            f"contract: {contract.origin} -> {result.contract}",
            f"rows in {result.rows_in}: normalized {result.rows_normalized}, "
            f"quarantined {result.rows_quarantined}",
            f"repeats: {result.repeats['repeated_rows']} exact (duplicates: {contract.duplicates}), "
            f"{result.repeats['repeated_ids']} ids (duplicate_ids: {contract.duplicate_ids})",
            *(f"warning: {warning}" for warning in result.warnings),
        ]


def ingest(project: Project) -> Ingested:
    """Land the project's sources (a catalog, or one data file) in its lake and write the normalized zone."""
    catalog, contract = ingesting.prepare(
        *settings.load_ingest_source(project.path(project.data), project.contract_path()),
        project.need("dataset"),
        target=project.target,
        task=project.task,
        date_column=project.date_column,
        date_format=project.date_format,
        id_column=project.id_column,
    )
    result = ingesting.ingest(catalog, contract, project.lake.lake)
    atomic_write_json(project.lake.summary("ingest"), result.summary())
    return Ingested(result, contract)


@dataclass(frozen=True)
class Validated:
    """The normalized table checked against the whole contract: its facts and its profile."""

    facts: dict[str, Any]
    profile: pd.DataFrame


def validate(project: Project) -> Validated:
    """Check the normalized zone against the contract ingest wrote and write the Lake's data quality page."""
    from lab2prod.data import quality  # matplotlib: only when validating (module docstring)

    contract = settings.load_contract(project.contract_path())
    lake = project.lake
    normalized = lake.normalized(contract.dataset)
    frame = read_normalized(normalized, contract)
    quarantine = pd.read_csv(lake.quarantine(contract.dataset), dtype=str, keep_default_na=False)
    facts = quality.check_normalized(frame, contract, quarantine, origin=contract.dataset)
    facts.update(quality.repeats(frame, contract, quarantine))
    facts["sha256"] = sha256_file(normalized)
    facts["manifest"] = str(lake.latest_manifest(contract.dataset))
    report = quality.data_quality_report(
        frame, contract, quarantine, lake.data_quality_page(), sha256=facts["sha256"]
    )
    facts["report"] = str(report)
    atomic_write_json(lake.summary("validate"), facts)
    return Validated(facts, quality.profile(frame, contract))


@dataclass(frozen=True)
class Split:
    """The three parts' row counts and what the split did beyond the plain cut."""

    rows: dict[str, int]
    notes: list[str] = field(default_factory=list)


def split(project: Project) -> Split:
    """Split the normalized table into train, valid and test (a seeded sample first when `sample_rows` is set)."""
    # scikit-learn: only when splitting (module docstring)
    from lab2prod.modeling.split import split_frame

    contract = settings.load_contract(project.contract_path())
    frame = read_normalized(project.lake.normalized(contract.dataset), contract)
    if project.sample_rows and project.sample_rows < len(frame):
        frame = frame.sample(n=int(project.sample_rows), random_state=project.seed).sort_index()
    notes: list[str] = []
    parts = split_frame(
        frame,
        contract.target,
        contract.task,
        test_size=project.test_size,
        valid_size=project.valid_size,
        seed=project.seed,
        date_column=project.date_column or None,
        notes=notes,
    )
    for name, part in parts.items():
        atomic_write_csv(project.lake.split(contract.dataset, name), part)
    return Split({name: len(part) for name, part in parts.items()}, notes)

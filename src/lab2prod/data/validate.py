"""Validate one file against a contract: read it with the adapter its suffix names, condition it, summarize."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab2prod.data import lake
from lab2prod.data.contract import Conditioned, Contract, condition
from lab2prod.data.sources import Frame, read_csv, read_excel, read_jsonl, read_parquet
from lab2prod.errors import SourceError

READERS = {".csv": read_csv, ".txt": read_csv, ".jsonl": read_jsonl, ".parquet": read_parquet, ".xlsx": read_excel}


def read_any(path: Path) -> Frame:
    """Read a file with the adapter its suffix names (.csv, .jsonl, .parquet, .xlsx)."""
    if not Path(path).is_file():
        raise SourceError(f"{path}: file not found")
    reader = READERS.get(Path(path).suffix.lower())
    if reader is None:
        raise SourceError(f"{path}: unknown suffix {Path(path).suffix!r}: use .csv, .jsonl, .parquet or .xlsx")
    return reader(Path(path), Path(path).stem)


@dataclass
class ValidationReport:
    """The outcome of validating one file."""

    path: Path
    result: Conditioned

    @property
    def rows_quarantined(self) -> int:
        """Return how many rows were set aside."""
        return len(self.result.quarantine)

    def describe(self) -> str:
        """Return a short human summary: rows in, passed, quarantined by reason, warnings."""
        r = self.result
        lines = [f"{self.path}: {r.rows_in} rows in, {len(r.clean)} pass, {self.rows_quarantined} quarantined"]
        if self.rows_quarantined:
            reasons = r.quarantine["reason"].str.split("; ").explode().str.split(":").str[0].value_counts()
            lines += [f"  quarantined for {name}: {count}" for name, count in reasons.items()]
        lines += [f"  warning: {w}" for w in r.warnings]
        return "\n".join(lines)


def validate_file(path: Path, contract: Contract, mode: str = "train", quarantine_output: Path | None = None) -> ValidationReport:
    """Read `path`, condition it by `contract`, optionally write its quarantine, and return the report."""
    frame = read_any(path)
    result = condition(frame.rows.assign(_source=frame.name), contract, mode=mode, origin=str(path))
    if frame.rejected:
        rejected = pd.DataFrame(frame.rejected)[["source", "line", "reason", "record"]]
        result.quarantine = pd.concat([rejected, result.quarantine], ignore_index=True)
        result.rows_in += len(frame.rejected)
    if quarantine_output is not None:
        lake.atomic_write_csv(Path(quarantine_output), result.quarantine)
    return ValidationReport(path=Path(path), result=result)

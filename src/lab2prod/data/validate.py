"""Validate one file against a contract: read it with the adapter its suffix names, condition it, summarize."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.data import lake
from lab2prod.data.conditioning import QUARANTINE_COLUMNS, Conditioned, check_header, condition
from lab2prod.data.contract import Contract
from lab2prod.data.files import check_outputs
from lab2prod.data.sources import Frame, check_file, file_format, read_file, read_header, sheet_hint
from lab2prod.errors import MissingColumnError, SourceError


def read_any(path: Path, **options: Any) -> Frame:
    """Read a whole file with the adapter its suffix names (`sources.read_file`).

    The suffixes: .csv, .csv.gz, .jsonl, .parquet, .xlsx. Options the adapter does not take are
    refused.
    """
    return read_file(Path(path), **options)


def quarantine_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Return quarantine parts stacked with the standard columns and integer line numbers."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    out = pd.concat([p[QUARANTINE_COLUMNS] for p in parts], ignore_index=True)
    return out.astype({"line": "int64"})


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
        lines = [
            f"{self.path}: {r.rows_in} rows in, {len(r.clean)} pass, {self.rows_quarantined} quarantined"
        ]
        if self.rows_quarantined:
            reasons = (
                r.quarantine["reason"].str.split("; ").explode().map(reason_kind).value_counts()
            )
            lines += [f"  quarantined for {name}: {count}" for name, count in reasons.items()]
        if r.repeated_rows or r.repeated_ids:
            lines.append(
                f"  repeats: {r.repeated_rows} row(s) repeat an earlier row exactly, "
                f"{r.repeated_ids} repeat a different row's id (the contract's duplicates and duplicate_ids)"
            )
        if r.outside_expectations:
            shown = ", ".join(f"{k} {v}" for k, v in r.outside_expectations.items())
            lines.append(f"  outside what training saw (drift for the monitor, kept): {shown}")
        lines += [f"  warning: {w}" for w in r.warnings]
        return "\n".join(lines)


def reason_kind(reason: str) -> str:
    """Return what a quarantine reason is about: its column, or its kind (truncated, duplicate row...)."""
    return re.split(r"[:(]", reason, maxsplit=1)[0].strip()


def check_columns(path: Path, contract: Contract, mode: str = "train", **options: Any) -> None:
    """Raise the one-line error `condition` would for a header no row can pass, before any row is read.

    CSV and Parquet are judged from their header, Excel from the sheet's first row (the message then
    names the workbook's other sheets). JSON lines, whose keys vary by line, are judged over the
    whole file.
    """
    names = read_header(path, **options)
    if names is None:
        return
    try:
        check_header(names, contract, mode, str(path))
    except MissingColumnError as exc:
        if file_format(path) != "excel":
            raise
        hint = sheet_hint(Path(path), options.get("sheet") or 0)
        raise MissingColumnError(f"{exc}{hint}") from None


def validate_file(
    path: Path,
    contract: Contract,
    mode: str = "train",
    quarantine_output: Path | None = None,
    **options: Any,
) -> ValidationReport:
    """Read `path`, condition it by `contract`, optionally write its quarantine, and return the report.

    A CSV's header is checked first: one that no row can pass is refused before any row is read.
    """
    if quarantine_output is not None:
        check_outputs(
            {Path(quarantine_output): "the quarantine (--quarantine)"}, [check_file(path)]
        )
    check_columns(path, contract, mode, **options)
    frame = read_any(path, **options)
    if frame.rows.empty:
        raise SourceError(
            f"{path}: no row could be read ({frame.rejected[0]['reason']} on line "
            f"{frame.rejected[0]['line']}): check the delimiter and the export"
        )
    result = condition(frame.rows.assign(_source=frame.name), contract, mode=mode, origin=str(path))
    rejected = pd.DataFrame(frame.rejected, columns=QUARANTINE_COLUMNS)
    result.quarantine = quarantine_frame([rejected, result.quarantine])
    result.rows_in += len(frame.rejected)
    if quarantine_output is not None:
        lake.atomic_write_csv(Path(quarantine_output), result.quarantine)
    return ValidationReport(path=Path(path), result=result)

"""Ingest: land every declared source in the raw zone, join them by key, condition by contract, write the lake.

Rows in = rows normalized + rows quarantined, for every ingest: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.data import lake
from lab2prod.data.contract import QUARANTINE_COLUMNS, SOURCE, Contract, condition
from lab2prod.data.sources import LINE, Frame, extract, read_landed
from lab2prod.errors import ConfigError
from lab2prod.settings import Catalog


@dataclass
class IngestResult:
    """What one ingest produced and how many rows went where."""

    normalized: Path
    quarantine: Path
    manifest: Path
    rows_in: int
    rows_normalized: int
    rows_quarantined: int
    warnings: list[str]

    def summary(self) -> dict[str, Any]:
        """Return the counts and paths as a JSON-ready mapping."""
        return {"normalized": str(self.normalized), "quarantine": str(self.quarantine), "manifest": str(self.manifest),
                "rows_in": self.rows_in, "rows_normalized": self.rows_normalized,
                "rows_quarantined": self.rows_quarantined, "warnings": self.warnings}


def _land(spec, lake_dir: Path, day: dt.date) -> tuple[Path, str]:
    handed = extract(spec)
    if isinstance(handed, Path):
        return lake.land_raw(handed, lake_dir, spec.name, day)
    with tempfile.TemporaryDirectory() as tmp:
        # a table has no bytes of its own: land the exact result as CSV
        path = Path(tmp) / f"{spec.name}.csv"
        handed.to_csv(path, index=False, lineterminator="\n")
        return lake.land_raw(path, lake_dir, spec.name, day)


def _rejects(frame: Frame) -> list[dict[str, Any]]:
    return [{k: r[k] for k in QUARANTINE_COLUMNS} for r in frame.rejected]


def _quarantine_rows(rows: pd.DataFrame, source: str, reason: str) -> list[dict[str, Any]]:
    payload = rows.drop(columns=[c for c in (LINE, SOURCE) if c in rows.columns])
    return [
        {"source": source, "line": int(line), "reason": reason,
         "record": ",".join("" if v is None else str(v) for v in values)}
        for line, values in zip(rows[LINE], payload.itertuples(index=False, name=None))
    ]


def join_sources(frames: list[Frame], key: str | None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Return the sources joined on `key` (the first is the spine) and the rows that found no partner."""
    spine = frames[0].rows.assign(**{SOURCE: frames[0].name})
    rejected: list[dict[str, Any]] = []
    if len(frames) == 1:
        return spine, rejected
    for frame in frames:
        if key not in frame.rows.columns:
            raise ConfigError(f"source {frame.name!r} has no key column {key!r}: add it or fix 'key' in the catalog")
    seen_columns = set(spine.columns)
    dupes = spine[key].duplicated(keep="first") & spine[key].notna()
    rejected += _quarantine_rows(spine[dupes], frames[0].name, f"{key}: duplicate key in {frames[0].name}")
    missing_key = spine[key].isna()
    rejected += _quarantine_rows(spine[missing_key], frames[0].name, f"{key}: missing key")
    joined = spine[~dupes & ~missing_key]
    for frame in frames[1:]:
        rows = frame.rows
        overlap = (set(rows.columns) & seen_columns) - {key, LINE}
        if overlap:
            raise ConfigError(f"column {sorted(overlap)[0]!r} comes from two sources ({frame.name} and another): rename one")
        seen_columns |= set(rows.columns)
        dupes = rows[key].duplicated(keep="first") | rows[key].isna()
        rejected += _quarantine_rows(rows[dupes], frame.name, f"{key}: missing or duplicate key in {frame.name}")
        rows = rows[~dupes]
        orphans = ~rows[key].isin(joined[key])
        rejected += _quarantine_rows(rows[orphans], frame.name, f"{key}: no {frames[0].name} row for this key")
        partner = rows[~orphans].rename(columns={LINE: f"_line_{frame.name}"})
        lonely = ~joined[key].isin(partner[key])
        rejected += _quarantine_rows(joined[lonely], frames[0].name, f"{key}: no {frame.name} record for this key")
        joined = joined[~lonely].merge(partner, on=key, how="inner", validate="one_to_one")
        joined = joined.drop(columns=[f"_line_{frame.name}"])
    return joined.reset_index(drop=True), rejected


def ingest(catalog: Catalog, contract: Contract, lake_dir: str | Path, day: dt.date | None = None) -> IngestResult:
    """Land, join and condition every source of `catalog`; write normalized, quarantine and a manifest."""
    lake_dir = Path(lake_dir)
    day = day or dt.date.today()
    frames, entries, rejected = [], [], []
    for spec in catalog.sources:
        landed, digest = _land(spec, lake_dir, day)
        frame = read_landed(spec, landed)
        frames.append(frame)
        rejected += [dict(r, source=spec.name) for r in _rejects(frame)]
        entries.append({
            "source": spec.name, "format": spec.format, "landed": str(landed.relative_to(lake_dir)),
            "sha256": digest, "rows_read": len(frame.rows), "rows_rejected_on_read": len(frame.rejected),
        })
    joined, orphans = join_sources(frames, catalog.key)
    rejected += orphans
    result = condition(joined, contract, mode="train", origin=contract.dataset)
    quarantine = pd.concat([pd.DataFrame(rejected, columns=QUARANTINE_COLUMNS), result.quarantine], ignore_index=True)
    rows_in = len(frames[0].rows) + len(frames[0].rejected)
    normalized = lake.atomic_write_csv(lake.normalized_path(lake_dir, contract.dataset), result.clean)
    quarantined = lake.atomic_write_csv(lake.quarantine_path(lake_dir, contract.dataset), quarantine)
    outputs = {
        "normalized": {"path": str(normalized.relative_to(lake_dir)), "rows": len(result.clean),
                       "sha256": lake.sha256_file(normalized)},
        "quarantine": {"path": str(quarantined.relative_to(lake_dir)), "rows": len(quarantine)},
    }
    manifest = lake.write_manifest(lake_dir, contract.dataset, entries, outputs)
    return IngestResult(normalized=normalized, quarantine=quarantined, manifest=manifest, rows_in=rows_in,
                        rows_normalized=len(result.clean), rows_quarantined=len(quarantine), warnings=result.warnings)

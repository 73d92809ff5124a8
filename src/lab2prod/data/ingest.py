"""Ingest: land every declared source in the raw zone, join them by key, condition by contract, write the lake.

Rows in = rows normalized + rows quarantined, for every source of every ingest: nothing is lost
(checked on each ingest and recorded in the manifest).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab2prod.data import lake
from lab2prod.data.catalog import Catalog, single_file_catalog
from lab2prod.data.conditioning import QUARANTINE_COLUMNS, condition, wrong_rows
from lab2prod.data.contract import SOURCE, Contract, contract_to_dict
from lab2prod.data.inference import infer_contract
from lab2prod.data.sources import LINE, Frame, extract, read_landed
from lab2prod.data.validate import quarantine_frame
from lab2prod.errors import ConfigError, IngestError


@dataclass
class IngestResult:
    """What one ingest produced and how many rows went where."""

    normalized: Path
    quarantine: Path
    manifest: Path
    contract: Path
    rows_in: int
    rows_normalized: int
    rows_quarantined: int
    warnings: list[str]
    accounting: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_quarantined_total: int = 0
    repeats: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Return the counts and paths as a JSON-ready mapping."""
        return {
            "normalized": str(self.normalized),
            "quarantine": str(self.quarantine),
            "manifest": str(self.manifest),
            "contract": str(self.contract),
            "rows_in": self.rows_in,
            "rows_normalized": self.rows_normalized,
            "rows_quarantined": self.rows_quarantined,
            "rows_quarantined_total": self.rows_quarantined_total,
            "accounting": self.accounting,
            "repeats": self.repeats,
            "warnings": self.warnings,
        }


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
        {
            "source": source,
            "line": int(line),
            "reason": reason,
            "record": ",".join("" if v is None or v != v else str(v) for v in values),
        }
        for line, values in zip(rows[LINE], payload.itertuples(index=False, name=None))
    ]


def _label(names: list[str]) -> str:
    return "+".join(names)


def join_sources(frames: list[Frame], key: str | None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Return the sources joined on `key` (the first is the spine) and the rows that could not be joined.

    Each joined row's `_source` names every source it holds (``applications+bureau``), so a
    quarantined record is counted once for each source it came from. Rows of a secondary source
    with a missing or repeated key, or whose key is not in the spine, are quarantined on their own;
    a spine row lacking a partner is quarantined together with the partners it has.
    """
    first = frames[0]
    if len(frames) == 1:
        # one category, not a million copies of the same text
        source = pd.Categorical.from_codes(np.zeros(len(first.rows), dtype="int8"), [first.name])
        return first.rows.assign(**{SOURCE: source}), []
    for frame in frames:
        if key not in frame.rows.columns:
            raise ConfigError(
                f"source {frame.name!r} has no key column {key!r}: add it or fix 'key' in the catalog"
            )
    rejected: list[dict[str, Any]] = []
    spine = first.rows
    bad_key = spine[key].isna() | spine[key].duplicated(keep="first")
    rejected += _quarantine_rows(spine[spine[key].isna()], first.name, f"{key}: missing key")
    rejected += _quarantine_rows(
        spine[bad_key & spine[key].notna()], first.name, f"{key}: duplicate key in {first.name}"
    )
    joined = spine[~bad_key].assign(**{SOURCE: first.name})
    spine_keys = set(joined[key])
    seen_columns = set(spine.columns)
    partners = []
    for frame in frames[1:]:
        rows = frame.rows
        overlap = (set(rows.columns) & seen_columns) - {key, LINE}
        if overlap:
            raise ConfigError(
                f"column {sorted(overlap)[0]!r} comes from two sources ({frame.name} and another): rename one"
            )
        seen_columns |= set(rows.columns)
        rejected += _quarantine_rows(
            rows[rows[key].isna()], frame.name, f"{key}: missing key in {frame.name}"
        )
        repeated = rows[key].duplicated(keep="first") & rows[key].notna()
        rejected += _quarantine_rows(
            rows[repeated], frame.name, f"{key}: duplicate key in {frame.name}"
        )
        rows = rows[rows[key].notna() & ~repeated]
        orphans = ~rows[key].isin(spine_keys)
        rejected += _quarantine_rows(
            rows[orphans], frame.name, f"{key}: no {first.name} row for this key"
        )
        partners.append((frame.name, rows[~orphans].drop(columns=[LINE])))
    for name, rows in partners:
        joined = joined.merge(
            rows.assign(**{f"_has_{name}": True}), on=key, how="left", validate="one_to_one"
        )
    has = pd.DataFrame(
        {name: joined[f"_has_{name}"].notna().to_numpy() for name, _ in partners},
        index=joined.index,
    )
    complete = has.all(axis=1)
    for i in joined.index[~complete]:
        present = [first.name] + [n for n in has.columns if has.at[i, n]]
        lacking = [n for n in has.columns if not has.at[i, n]]
        row = joined.loc[[i]].drop(columns=[f"_has_{n}" for n, _ in partners])
        rejected += _quarantine_rows(
            row, _label(present), f"{key}: no {' or '.join(lacking)} record for this key"
        )
    everyone = _label([f.name for f in frames])
    joined = (
        joined[complete]
        .drop(columns=[f"_has_{n}" for n, _ in partners])
        .assign(**{SOURCE: everyone})
    )
    return joined.reset_index(drop=True), rejected


def account(
    frames: list[Frame], rows_normalized: int, quarantine: pd.DataFrame
) -> dict[str, dict[str, int]]:
    """Return, per source, rows in (read + rejected on read), rows in the normalized zone and rows quarantined.

    A normalized row holds one row of every source; a quarantine row counts for each source its
    `source` names. For every source, rows in = normalized + quarantined.
    """
    counts = (
        quarantine["source"].astype(str).str.split("+").explode().value_counts()
        if len(quarantine)
        else {}
    )
    return {
        f.name: {
            "rows_in": len(f.rows) + len(f.rejected),
            "rows_normalized": rows_normalized,
            "rows_quarantined": int(counts.get(f.name, 0)),
        }
        for f in frames
    }


def prepare(
    data: Catalog | Path,
    contract: Contract | None,
    dataset: str,
    target: str | None = None,
    task: str | None = None,
    date_column: str | None = None,
    id_column: str | None = None,
    date_format: str | None = None,
) -> tuple[Catalog, Contract]:
    """Return what to ingest and the contract to hold it to.

    `data` is either a source catalog, held to the committed `contract`, or the path of one data
    file (bring your own data: CSV, JSON lines, Parquet, Excel) whose contract is inferred from it
    with `target`, `task` (guessed when empty), `date_column` (its format `date_format`, found from
    the column when empty) and `id_column`.
    `lab2prod.settings.load_ingest_source` reads both from the paths a notebook is given.
    """
    if isinstance(data, Catalog):
        if contract is None:
            raise ConfigError(
                f"{data.location}: a catalog needs a contract: set 'contract' in env.yaml"
            )
        if contract.dataset != dataset:
            raise ConfigError(
                f"{contract.origin}: contract is for dataset {contract.dataset!r} but the build's dataset is "
                f"{dataset!r}: set --env--dataset {contract.dataset} or use the matching contract"
            )
        return data, contract
    data = Path(data)
    if not target:
        raise ConfigError(
            f"{data}: bringing your own data needs its target column: add --env--target COLUMN"
        )
    catalog = single_file_catalog(data, key=None)
    spec = catalog.sources[0]
    frame = read_landed(spec, extract(spec))
    the_contract = infer_contract(
        frame.rows,
        dataset=dataset,
        target=target,
        task=task or None,  # guessed from the target, as `lab2prod contract infer` does
        id_column=id_column or None,
        date_columns=(date_column,) if date_column else (),
        date_format=date_format or None,
    )
    return catalog, replace(the_contract, origin=f"inferred from {data.name}")


def write_contract(contract: Contract, lake_dir: str | Path) -> Path:
    """Write the contract an ingest applied to ``contracts/<dataset>.yaml`` in the lake: every later step reads it."""
    return lake.atomic_write_yaml(
        lake.contract_path(lake_dir, contract.dataset), contract_to_dict(contract)
    )


def ingest(
    catalog: Catalog, contract: Contract, lake_dir: str | Path, day: dt.date | None = None
) -> IngestResult:
    """Land, join and condition every source of `catalog`; write normalized, quarantine and a manifest.

    All or nothing: when a write fails (a full disk), every file this ingest wrote, raw
    landings included, is put back as it was, and the error names the file in one line.
    """
    with lake.all_or_nothing():
        return _ingest(catalog, contract, lake_dir, day)


def _ingest(
    catalog: Catalog, contract: Contract, lake_dir: str | Path, day: dt.date | None
) -> IngestResult:
    lake_dir = Path(lake_dir)
    day = day or dt.date.today()
    frames, entries, rejected = [], [], []
    for spec in catalog.sources:
        landed, digest = _land(spec, lake_dir, day)
        frame = read_landed(spec, landed)
        frames.append(frame)
        rejected += [dict(r, source=spec.name) for r in _rejects(frame)]
        entries.append(
            {
                "source": spec.name,
                "format": spec.format,
                "landed": str(landed.relative_to(lake_dir)),
                "sha256": digest,
                "rows_read": len(frame.rows),
                "rows_rejected_on_read": len(frame.rejected),
            }
        )
    joined, orphans = join_sources(frames, catalog.key)
    rejected += orphans
    result = condition(joined, contract, mode="train", origin=contract.dataset)
    quarantine = quarantine_frame(
        [pd.DataFrame(rejected, columns=QUARANTINE_COLUMNS), result.quarantine]
    )
    accounting = account(frames, len(result.clean), quarantine)
    for name, n in accounting.items():
        if n["rows_in"] != n["rows_normalized"] + n["rows_quarantined"]:
            raise IngestError(
                f"source {name!r}: {n['rows_in']} rows in but {n['rows_normalized']} normalized + "
                f"{n['rows_quarantined']} quarantined: report this as a lab2prod bug"
            )
    first = accounting[frames[0].name]
    del frames, frame, joined  # the text cells: only the typed rows are written from here
    normalized = lake.atomic_write_csv(
        lake.normalized_path(lake_dir, contract.dataset), result.clean
    )
    quarantined = lake.atomic_write_csv(
        lake.quarantine_path(lake_dir, contract.dataset), quarantine
    )
    repeats = {
        "duplicates": contract.duplicates,
        "repeated_rows": result.repeated_rows,
        "duplicate_ids": contract.duplicate_ids,
        "repeated_ids": result.repeated_ids,
        "rows_wrong": wrong_rows(quarantine),
    }
    outputs = {
        "repeats": repeats,
        "normalized": {
            "path": str(normalized.relative_to(lake_dir)),
            "rows": len(result.clean),
            "sha256": lake.sha256_file(normalized),
        },
        "quarantine": {"path": str(quarantined.relative_to(lake_dir)), "rows": len(quarantine)},
        "accounting": accounting,
    }
    outputs["contract"] = {
        "path": str(write_contract(contract, lake_dir).relative_to(lake_dir)),
        "origin": contract.origin,
    }
    manifest = lake.write_manifest(lake_dir, contract.dataset, entries, outputs)
    return IngestResult(
        normalized=normalized,
        quarantine=quarantined,
        manifest=manifest,
        rows_in=first["rows_in"],
        contract=lake.contract_path(lake_dir, contract.dataset),
        rows_normalized=first["rows_normalized"],
        rows_quarantined=first["rows_quarantined"],
        # a column the model does not use is said, never left out silently
        warnings=result.warnings + contract.left_out_lines(),
        accounting=accounting,
        rows_quarantined_total=len(quarantine),
        repeats=repeats,
    )

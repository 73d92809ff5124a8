"""The labelled rows monitoring keeps for retraining: where they go, how they are read back and counted.

Labelled rows accumulate where the Lake keeps them (`Lake.labelled_batch`: features and target of
every batch whose delayed labels came back); retraining trains on the newest of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab2prod.data.conditioning import read_normalized
from lab2prod.data.contract import Contract
from lab2prod.data.lake import Lake, atomic_write_csv, stamp_now
from lab2prod.errors import Lab2ProdError


def store_labelled(
    lake: Lake, batch_id: str, rows: pd.DataFrame, contract: Contract
) -> Path | None:
    """Keep a batch's labelled rows (id, features, target) in the lake for retraining; None when features are absent."""
    wanted = [c for c in (contract.id_column, *contract.features, contract.target) if c]
    if any(c not in rows.columns for c in wanted):
        return None
    return atomic_write_csv(lake.labelled_batch(stamp_now(), batch_id), rows[wanted])


def read_labelled(lake: Lake, contract: Contract) -> list[pd.DataFrame]:
    """Return the labelled batches of the lake, oldest first."""
    files = sorted(lake.labelled().glob("*.csv"))
    return [read_normalized(str(f), contract) for f in files]


@dataclass
class LabelledBatch:
    """One labelled batch of the lake and whether it falls in the training window, with why."""

    name: str
    rows: int
    counted: bool
    why: str
    frame: pd.DataFrame | None = field(default=None, repr=False)


def labelled_inventory(lake: Lake, contract: Contract, window_rows: int) -> list[LabelledBatch]:
    """Return every labelled batch of the lake, oldest first, each counted or not for a window of the newest rows.

    A file that cannot be read with the contract, lacks a feature or holds no row is not counted
    (and says why); of the usable ones, the newest whole batches up to `window_rows` rows count,
    as `newest_window` takes them.
    """
    batches = []
    for path in sorted(lake.labelled().glob("*.csv")):
        try:
            frame = read_normalized(str(path), contract)
        except (Lab2ProdError, ValueError, OSError) as exc:
            batches.append(LabelledBatch(path.name, 0, False, f"unreadable: {exc}"))
            continue
        wanted = [c for c in (*contract.features, contract.target) if c]
        absent = [c for c in wanted if c not in frame.columns]
        if absent or frame.empty:
            why = f"lacks {', '.join(absent)}" if absent else "holds no row"
            batches.append(LabelledBatch(path.name, len(frame), False, why))
            continue
        batches.append(LabelledBatch(path.name, len(frame), True, "", frame))
    taken = 0
    for batch in reversed(batches):
        if not batch.counted:
            continue
        if taken >= window_rows:
            batch.counted, batch.why = False, f"older than the newest {window_rows:,} rows"
            continue
        used = min(batch.rows, window_rows - taken)
        batch.why = (
            f"in the newest {window_rows:,} rows"
            if used == batch.rows
            else f"its newest {used:,} rows complete the newest {window_rows:,}"
        )
        taken += batch.rows
    return batches


def describe_inventory(batches: list[LabelledBatch], folder: str | Path, due: bool) -> list[str]:
    """Return the lines that name each labelled batch found and why it counts (or would count) or not."""
    if not batches:
        return [f"no labelled batch in {folder}: monitor batches with --labels before retraining"]
    verb = "counted" if due else "would count"
    lines = [f"{len(batches)} labelled batch(es) in {folder}:"]
    for batch in batches:
        state = verb if batch.counted else "not counted"
        lines.append(f"  {batch.name}: {batch.rows:,} rows, {state} ({batch.why})")
    return lines


def keep_labelled(
    lake: Lake, batch_id: str, batch: pd.DataFrame, labels: pd.DataFrame, contract: Contract
) -> str:
    """Store the batch's labelled rows for retraining; return one line saying where, or why they were not kept."""
    key, target = contract.id_column, contract.target
    absent = [c for c in (key, *contract.features) if c and c not in batch]
    if absent or key not in labels or target not in labels:
        lacking = (
            f"the batch lacks {', '.join(absent)}"
            if absent
            else f"the labels lack {key!r} or {target!r}"
        )
        return f"labels not kept for retraining: {lacking}"
    keyed = labels[[key, target]].assign(**{key: labels[key].astype(str)})
    rows = batch.drop(columns=[target], errors="ignore").assign(**{key: batch[key].astype(str)})
    rows = rows.merge(keyed, on=key, how="inner")
    if rows.empty:
        return f"labels not kept for retraining: none of their {key!r} values is in the batch"
    path = store_labelled(lake, batch_id, rows, contract)
    return f"{len(rows)} labelled rows kept for retraining: {path}"

"""One chunk of a scoring batch: conditioned by the contract, predicted, its repeated ids set aside.

`score_chunk` is what every engine runs on each piece of a batch: `scoring.score`'s loop (in this
process or in a pool process) and any other (Dask partitions). It needs no file and no MLflow: a
frame of text cells, a fitted model and the contract. An empty frame gives empty predictions with
the same columns.

Repeated ids: the first occurrence of an id in a batch is scored; every later row with that id is
quarantined with the line of the first ("duplicate id ... (first on line N)"). Inside a chunk
`score_chunk` does it; across chunks, `SeenIds` and `drop_seen` (the caller keeps one `SeenIds`
per batch).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lab2prod.data.cells import LINE, cell_text
from lab2prod.data.conditioning import (
    QUARANTINE_COLUMNS,
    check_header,
    condition,
    empty_column_error,
    empty_column_warning,
    numbered_from_zero,
)
from lab2prod.data.contract import SOURCE, Contract, column_key
from lab2prod.data.line_ids import add_line_ids, with_line_ids
from lab2prod.errors import ContractError
from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.scoring.writing import LINEAGE_COLUMNS, output_schema


@dataclass
class ScoredChunk:
    """One chunk scored: the predictions of its clean rows, its quarantine, and what was seen."""

    predictions: pd.DataFrame  # the id, then probability and label (classification) or value
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS
    lines: np.ndarray  # the line of each prediction row
    warnings: list[str]
    rows_in: int
    repeated_ids: int = 0  # of the quarantined rows: a later occurrence of an id in the chunk
    repeats: pd.DataFrame | None = None  # those rows' line, id and the line of the id's first


def prediction_columns(contract: Contract) -> list[str]:
    """Return the columns of the predictions of a chunk (before the lineage columns)."""
    try:
        return list(_prediction_names(contract))
    except TypeError:  # a contract holding lists (unhashable)
        return [f.name for f in output_schema(contract)][: -len(LINEAGE_COLUMNS)]


@functools.lru_cache(maxsize=16)
def _prediction_names(contract: Contract) -> tuple[str, ...]:
    return tuple(f.name for f in output_schema(contract))[: -len(LINEAGE_COLUMNS)]


@functools.lru_cache(maxsize=16)
def _piece_contract(contract: Contract) -> Contract:
    """Return `contract` without a quarantine limit: a chunk is judged by the batch's limit, not its own."""
    return dataclasses.replace(contract, max_quarantine_fraction=1.0)


def _empty_predictions(contract: Contract) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype=object if name in (contract.id_column, "label") else "float64")
            for name in prediction_columns(contract)
        }
    )


def score_chunk(
    frame: pd.DataFrame,
    model: Any,
    contract: Contract,
    threshold: float = 0.5,
    origin: str = "input",
) -> ScoredChunk:
    """Return the predictions and the quarantine of one frame of text cells, scored with `contract`.

    The frame is conditioned by the contract (mode score) and its clean rows predicted; an empty
    frame gives empty ones. `frame` holds the contract's columns as text (as `data.sources` reads
    them), optionally `_line` (else rows count from line 2) and `_source`. Within the frame, a later
    row repeating an id is quarantined with the line of the first. Raises ContractError for what no
    row-level quarantine can fix (a missing column, for example); the batch's quarantine limit is
    the caller's.
    """

    contract = with_line_ids(contract)
    id_name = contract.id_column
    frame = numbered_from_zero(frame)
    if LINE not in frame.columns:  # on a copy: the caller's frame stays as it is
        frame = frame.copy(deep=False)
        frame.insert(0, LINE, np.arange(2, len(frame) + 2, dtype="int64"))
    frame = add_line_ids(frame, contract)
    repeated = _repeated_in_frame(frame, contract, origin)
    rows = frame[~repeated] if repeated is not None else frame
    if not len(rows):
        quarantine, repeats = _repeat_quarantine(frame, repeated, contract, origin)
        return ScoredChunk(
            _empty_predictions(contract),
            quarantine,
            np.empty(0, "int64"),
            [],
            len(frame),
            len(quarantine),
            repeats,
        )
    try:
        per_chunk = _piece_contract(contract)
    except TypeError:  # a contract holding lists (unhashable)
        per_chunk = dataclasses.replace(contract, max_quarantine_fraction=1.0)
    conditioned = condition(rows, per_chunk, mode="score", origin=origin, whole=False)
    clean = conditioned.clean
    lines = rows[LINE].to_numpy(dtype="int64")
    if len(conditioned.quarantine):
        lines = lines[~np.isin(lines, conditioned.quarantine["line"].to_numpy())]
    scores = (
        np.asarray(
            predict(model, model_frame(conditioned.columns, contract), contract.task),
            dtype="float64",
        )
        if len(clean)
        else np.empty(0, "float64")
    )
    index = pd.RangeIndex(len(clean))  # one index object: the columns built on it need no aligning
    predictions = (
        {id_name: _as_objects(conditioned.columns[id_name].to_numpy(dtype=object), index)}
        if len(clean)
        else {}
    )
    if scores.ndim == 2:  # multiclass: one probability column per class, then the most probable
        names = np.array([str(label) for label in contract.labels], dtype=object)
        predictions |= dict(zip(prediction_columns(contract)[1:-1], scores.T, strict=True))
        predictions |= {"label": _as_objects(names[scores.argmax(axis=1)], index)}
    elif contract.task == "classification":
        names = np.array([_negative_label(contract), str(contract.positive_label)], dtype=object)
        labels = names[(scores >= threshold).astype(int)]
        predictions |= {"probability": scores, "label": _as_objects(labels, index)}
    else:
        predictions |= {"value": scores}
    # the mapping holds prediction_columns(contract) in their order: no reindexing by `columns=`;
    # each column is a block as it is (no copy into 2-D blocks)
    out = (
        pd.DataFrame(predictions, index=index, copy=False)
        if len(clean)
        else _empty_predictions(contract)
    )
    joined, repeats = conditioned.quarantine, None
    if repeated is not None:
        again, repeats = _repeat_quarantine(frame, repeated, contract, origin)
        if len(again):
            joined = (
                pd.concat([joined, again], ignore_index=True).sort_values("line", kind="stable")
                if len(joined)
                else again
            )
    count = 0 if repeated is None else int(repeated.sum())
    return ScoredChunk(out, joined, lines, conditioned.warnings, len(frame), count, repeats)


def _as_objects(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Return an object array of str as a column on `index` that stays object (as `_empty_predictions`' do).

    pandas would store it as Arrow text, a conversion each chunk pays and every reader of the rows
    one by one (a JSON answer's records, the files' writer) pays again. On the frame's own index
    object, the frame takes the column without aligning it.
    """
    return pd.Series(values, index=index, dtype=object, copy=False)


def _negative_label(contract: Contract) -> str:
    others = [label for label in (contract.labels or ()) if label != contract.positive_label]
    return others[0] if others else f"not {contract.positive_label}"


def _id_cells(frame: pd.DataFrame, contract: Contract) -> pd.Series | None:
    """Return the frame's id column as stripped text (its header matched as the contract does)."""
    wanted = " ".join(str(contract.id_column).split()).lower()
    for name in frame.columns:
        if " ".join(str(name).split()).lower() == wanted:
            return frame[name]
    return None


def _repeated_in_frame(frame: pd.DataFrame, contract: Contract, origin: str) -> np.ndarray | None:
    """Return a mask of the rows whose id appeared on an earlier row of the frame (None: no repeat)."""
    ids = _id_cells(frame, contract)
    if ids is None:
        return None  # condition() names the missing column
    if ids.is_unique:  # the usual case: one hash pass, no masks
        return None
    repeated = (ids.duplicated(keep="first") & ids.notna()).to_numpy()
    return repeated if repeated.any() else None


def _repeat_quarantine(
    frame: pd.DataFrame, repeated: np.ndarray | None, contract: Contract, origin: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Return the quarantine rows of the frame's repeated ids, and their (line, id, first) table."""
    if repeated is None:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS), None
    ids = _id_cells(frame, contract)
    first_line = frame[LINE].groupby(ids.to_numpy(), sort=False).transform("first")
    later = frame[repeated]
    repeats = pd.DataFrame(
        {
            "line": later[LINE].to_numpy(dtype="int64"),
            "id": ids[repeated].to_numpy(dtype=object),
            "first": first_line[repeated].to_numpy(dtype="int64"),
        }
    )
    rows = repeated_id_rows(later, repeats["id"], repeats["first"], contract, origin)
    _stop_if_asked(rows, contract, origin)
    return rows, repeats


def _stop_if_asked(rows: pd.DataFrame, contract: Contract, origin: str) -> None:
    """Raise on the first repeated id when the contract says `duplicate_ids: stop`."""
    if len(rows) and getattr(contract, "duplicate_ids", "quarantine") == "stop":
        first = rows.sort_values("line").iloc[0]
        raise ContractError(
            f"{origin}: line {first['line']}: {first['reason']}: fix the row or relax the contract"
        )


def repeat_reasons(ids, first, contract: Contract) -> np.ndarray:
    """Return the quarantine reason of each later row of an id first seen on line `first`."""
    return (
        pd.Series(np.asarray(ids, dtype=object))
        .map(repr)
        .radd(f"{contract.id_column}: duplicate id ")
        + " (first on line "
        + pd.Series(np.asarray(first)).astype("int64").astype(str)
        + ")"
    ).to_numpy(dtype=object)


def repeated_id_rows(
    rows: pd.DataFrame, ids: np.ndarray, first: np.ndarray, contract: Contract, origin: str
) -> pd.DataFrame:
    """Return quarantine rows for `rows`, each an id already seen on line `first` (vectorized)."""
    cells = [c for c in rows.columns if c not in (LINE, SOURCE)]
    text = [_record_text(rows[c]) for c in cells]
    record = pc.binary_join_element_wise(*text, ",", null_handling="replace", null_replacement="")
    source = rows[SOURCE].to_numpy(dtype=object) if SOURCE in rows.columns else origin
    reason = repeat_reasons(ids, first, contract)
    return pd.DataFrame(
        {
            "source": source,
            "line": rows[LINE].to_numpy(dtype="int64"),
            "reason": reason,
            "record": pc.utf8_slice_codeunits(record, 0, 500).to_numpy(zero_copy_only=False),
        },
        columns=QUARANTINE_COLUMNS,
    )


def _record_text(cells: pd.Series) -> pa.Array:
    """Return a column's cells as Arrow text for a quarantine record: numbers (a request's JSON) as their text."""
    if cells.dtype.kind in "iuf":
        return pa.array([cell_text(v) for v in cells.to_numpy(dtype=object)], pa.string())
    return pa.array(cells.astype(object).where(cells.notna(), None), pa.string())


# ---------------------------------------------------------------------------- across chunks


class SeenIds:
    """The ids met so far in a batch (scored or quarantined), as sorted runs of 64-bit hashes with their lines.

    A lookup searches a few runs; runs merge when the newer grows to half the older's size, so a
    batch of n rows costs O(n log n), up to `MERGED` ids a run: a merge copies both runs, and
    past that size the copy would cost more memory (16 bytes an id) than a few more runs cost
    lookups. Two different ids share a 64-bit hash about once in 10^6 batches of 5M rows.
    """

    MERGED = 1 << 20

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def first_lines(self, hashes: np.ndarray) -> np.ndarray:
        """Return, for each hash, the line where it was first met, or -1 when it is new."""
        found = np.full(len(hashes), -1, dtype="int64")
        if not self.runs:
            return found
        order = np.argsort(hashes)  # sorted queries walk each run in order: a third of the time
        wanted = hashes[order]
        for run_hashes, run_lines in self.runs:
            at = np.minimum(np.searchsorted(run_hashes, wanted), len(run_hashes) - 1)
            hit = run_hashes[at] == wanted
            found[order[hit]] = run_lines[at[hit]]
        return found

    def add(self, hashes: np.ndarray, lines: np.ndarray) -> None:
        """Remember `hashes` as met first on `lines` (an empty chunk adds nothing)."""
        if not len(hashes):
            return
        order = np.argsort(hashes)
        self.runs.append((hashes[order], lines[order]))
        while (
            len(self.runs) > 1
            and 2 * len(self.runs[-1][0]) >= len(self.runs[-2][0])
            and len(self.runs[-1][0]) + len(self.runs[-2][0]) <= self.MERGED
        ):
            (old_h, old_l), (new_h, new_l) = self.runs[-2], self.runs.pop()
            at = np.searchsorted(old_h, new_h)
            self.runs[-1] = (np.insert(old_h, at, new_h), np.insert(old_l, at, new_l))


def drop_seen(
    chunk: ScoredChunk, rows: pd.DataFrame, seen: SeenIds, contract: Contract, origin: str
) -> ScoredChunk:
    """Quarantine the rows of `chunk` whose id an earlier chunk met; remember the ids it meets first.

    `rows` are the chunk's text cells as `score_chunk` took them. Every id is met on its first row,
    scored or quarantined (a bad value), as inside one chunk; a missing id is never met. A row of
    the chunk first with an id an earlier chunk met is quarantined as its repeat, whatever else
    it breaks, and a repeat inside the chunk of such an id names the batch's first line.
    """
    # no id cells: lines as ids (they never repeat), or a missing column (condition() names it)
    cells = _id_cells(rows, contract) if contract.id_column else None
    if cells is None or not len(rows):
        return chunk
    first_here = (~cells.duplicated(keep="first") & cells.notna()).to_numpy()
    ids = cells[first_here].to_numpy(dtype=object)
    lines = rows[LINE].to_numpy(dtype="int64")[first_here]
    hashes = pd.util.hash_array(ids, categorize=False)
    earlier = seen.first_lines(hashes)
    again = earlier >= 0
    seen.add(hashes[~again], lines[~again])
    if not again.any():
        return chunk
    return _moved_to_quarantine(
        chunk,
        rows,
        pd.DataFrame({"id": ids[again], "line": lines[again], "first": earlier[again]}),
        contract,
        origin,
    )


def _moved_to_quarantine(
    chunk: ScoredChunk, rows: pd.DataFrame, met: pd.DataFrame, contract: Contract, origin: str
) -> ScoredChunk:
    """Return `chunk` with the rows on `met`'s lines (ids met before on `first`) quarantined as repeats."""
    quarantine = chunk.quarantine
    if chunk.repeats is not None and len(chunk.repeats):
        first = chunk.repeats["id"].map(dict(zip(met["id"], met["first"], strict=True)))
        hit = first.notna().to_numpy()
        if hit.any():
            reasons = pd.Series(quarantine["reason"].to_numpy(), index=quarantine["line"])
            moved = chunk.repeats[hit]
            reasons.loc[moved["line"].to_numpy()] = repeat_reasons(
                moved["id"], first[hit], contract
            )
            quarantine = quarantine.assign(reason=reasons.to_numpy())
    # a row first in the chunk may have been quarantined for a value: as a repeat, it is only that
    was_wrong = quarantine["line"].isin(met["line"]).to_numpy()
    text = rows.set_index(LINE).loc[met["line"].to_numpy()].reset_index()
    extra = repeated_id_rows(text, met["id"].to_numpy(), met["first"].to_numpy(), contract, origin)
    _stop_if_asked(extra, contract, origin)
    quarantine = pd.concat([quarantine[~was_wrong], extra], ignore_index=True)
    scored = ~np.isin(chunk.lines, met["line"].to_numpy())
    return dataclasses.replace(
        chunk,
        predictions=chunk.predictions[scored].reset_index(drop=True),
        lines=chunk.lines[scored],
        quarantine=quarantine.sort_values("line", kind="stable").reset_index(drop=True),
        repeated_ids=chunk.repeated_ids + len(met),
    )


class BatchColumns:
    """The columns of a batch read in chunks, judged over the whole batch as `lab2prod validate` does.

    The judgement is the same whatever the chunk size. A chunk of JSON lines holds only the keys its
    lines hold: a contract column absent from a chunk is a column of missing cells there
    (`complete`). Over the whole batch (`check`), a column that never appeared is missing, and one
    that never held a value is empty: the errors and warning `condition` gives for the whole file.
    """

    def __init__(self, contract: Contract):
        self.contract = contract
        self.wanted = {
            column_key(c.name): c
            for c in contract.columns
            if c.name != contract.target  # scoring: the target may be absent
        }
        self.names: dict[str, None] = {}  # every name met, in order
        self.filled: set[str] = set()  # the contract columns that held a value somewhere

    def complete(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Return `rows` with every contract column it lacks as missing cells; note what it holds."""
        found = {}
        for name in rows.columns:
            if name in (LINE, SOURCE):
                continue
            self.names.setdefault(name)
            rule = self.wanted.get(column_key(name))
            if rule is not None:
                found[rule.name] = name
                if rule.name not in self.filled and rows[name].notna().any():
                    self.filled.add(rule.name)
        absent = [rule.name for rule in self.wanted.values() if rule.name not in found]
        if not absent:
            return rows
        empty = pd.Series(np.nan, index=rows.index, dtype=pd.StringDtype(na_value=np.nan))
        return rows.assign(**dict.fromkeys(absent, empty))

    def check(self, origin: str) -> list[str]:
        """Raise what `condition` raises for the whole batch's columns; return its warnings."""
        check_header(list(self.names), self.contract, "score", origin)
        warnings = []
        for rule in self.wanted.values():
            if rule.name in self.filled:
                continue
            if not rule.nullable:
                raise empty_column_error(origin, rule.name)
            warnings.append(empty_column_warning(origin, rule.name))
        return warnings

"""Scoring on a Dask cluster: `lab2prod score --engine dask [--scheduler ADDRESS]`.

The input is cut into the same pieces as in-process scoring (a CSV into byte ranges of whole
lines, a Parquet file into runs of `chunk_rows` rows; a folder of Parquet partitions file after
file, lines numbered across them). Each worker reads its own pieces from the shared file system
and puts them through the in-process per-chunk path, unchanged: the contract, the model's own
pipeline, predict (`score._condition_chunk`, `score._with_scores`). The model travels to each
worker once (`Client.scatter(..., broadcast=True)`), never with a piece: dask-ml's
ParallelPostFit re-sends it with every partition (dask-ml #842) and fails on empty ones (#911).
An empty partition yields no piece and passes through.

This process keeps what must see the batch in order: duplicate ids across pieces, the counts,
the contract's quarantine limit and the atomic writes. So the predictions and the quarantine are
the same to the byte as `--engine local` on the same rows.

What scales with workers: reading, conditioning and predicting, the bulk of the time, spread
over every worker's cores. What does not: the scan for line breaks and the SHA-256 of the input
(one pass, here) and writing the output (here, in order).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lab2prod.data.contract import Contract
from lab2prod.errors import ConfigError, ContractError, SourceError
from lab2prod.modeling.features import is_multiclass
from lab2prod.scoring.model import ModelFetch, ModelRef, import_model_libraries
from lab2prod.scoring.score import (
    DEFAULT_CHUNK_ROWS,
    QUARANTINE_SCHEMA,
    Lineage,
    Progress,
    ScoreResult,
    _AtomicWriter,
    _Chunk,
    _ChunkResult,
    _condition_chunk,
    _Conditioner,
    _drop_repeated_ids,
    _InputScan,
    _predict_chunk,
    _Scorer,
    _SeenIds,
    _with_scores,
    _WriteBehind,
    output_schema,
    quarantine_path_for,
    utc_now,
)

CONNECT_TIMEOUT = "10s"


@dataclass(frozen=True)
class _ParquetPiece:
    """Rows [offset, offset + rows) of one Parquet file, numbered from `first_line`: any worker reads it alone."""

    path: Path
    offset: int
    rows: int
    first_line: int

    def read(self) -> _Chunk:
        """Read the row groups that hold the piece's rows and cut them to the piece."""
        source = pq.ParquetFile(self.path)
        meta = source.metadata
        groups, start, first = [], 0, None
        for i in range(meta.num_row_groups):
            n = meta.row_group(i).num_rows
            if start + n > self.offset and start < self.offset + self.rows:
                groups.append(i)
                first = start if first is None else first
            start += n
        table = source.read_row_groups(groups).slice(self.offset - first, self.rows)
        lines = np.arange(self.first_line, self.first_line + self.rows, dtype="int64")
        return _Chunk(table=table, lines=lines, ragged=[], markers=True)


def parquet_parts(path: Path) -> list[Path]:
    """Return the Parquet files of `path` (one file, or a folder's *.parquet files in name order)."""
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.suffix.lower() == ".parquet")
        if not parts:
            raise SourceError(f"{path}: a folder without .parquet files: nothing to score")
        return parts
    return [path]


def _parquet_pieces(parts: list[Path], chunk_rows: int) -> Iterator[_ParquetPiece]:
    first_line = 1
    for part in parts:
        try:
            rows = pq.ParquetFile(part).metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(
                f"{part}: not a readable Parquet file ({' '.join(str(exc).split())[:200]}): re-export it"
            ) from None
        for offset in range(0, rows, chunk_rows):  # an empty partition gives no piece
            yield _ParquetPiece(part, offset, min(chunk_rows, rows - offset), first_line + offset)
        first_line += rows


def _sha256_of(parts: list[Path]) -> str:
    """The SHA-256 of the files' bytes one after the other (of one file: what the local engine records)."""
    digest = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as fh:
            while block := fh.read(1 << 23):
                digest.update(block)
    return digest.hexdigest()


def _score_piece(piece: Any, conditioner: _Conditioner, scorer: _Scorer) -> _ChunkResult:
    """On a worker: read one piece, condition it by the contract, ask the model (in-process scoring's steps)."""
    return _with_scores(scorer, _condition_chunk(conditioner, piece.read()))


def _client(scheduler: str | None, workers: int | None):
    """Return (client, cluster): a client of the scheduler at `scheduler`, else of a LocalCluster started for the run."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"Dask scheduler {scheduler} is unreachable ({' '.join(str(exc).split())[:160]}): "
                "start it (dask scheduler) or pass the address it prints, e.g. tcp://127.0.0.1:8786"
            ) from None
    with warnings.catch_warnings():
        # its HTTP server (no dashboard) moves off port 8787 when another cluster has it: no news
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # scheduler, workers and their HTTP servers: loopback only
            protocol="tcp://",
            dashboard_address=None,
        )
    return Client(cluster), cluster


def _in_order(
    client, pieces, conditioner, scorer, ahead: int
) -> Iterator[tuple[Any, _ChunkResult]]:
    """Yield each piece with its scored chunk, in input order, keeping at most `ahead` pieces in flight."""
    pending: deque = deque()
    for piece in pieces:
        pending.append((piece, client.submit(_score_piece, piece, conditioner, scorer, pure=False)))
        if len(pending) >= ahead:
            first, future = pending.popleft()
            yield first, future.result()
            future.release()
    while pending:
        first, future = pending.popleft()
        yield first, future.result()
        future.release()


def score_with_dask(
    input: str | os.PathLike,
    output: str | os.PathLike,
    model: str | ModelRef | ModelFetch,
    contract: Contract,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    threshold: float | None = None,
    scored_at: str | None = None,
    progress: Progress | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    delimiter: str = ",",
    tracking_uri: str | None = None,
) -> ScoreResult:
    """Score a CSV file, a Parquet file or a folder of Parquet partitions on Dask; write like `score.score_file`.

    `scheduler`: the address of a running Dask scheduler, used as it is; None starts a LocalCluster
    of `workers` processes (default: one per core) on 127.0.0.1 for the run. Raises a Lab2ProdError
    (and leaves no output) in the cases `score_file` does.
    """
    started = time.perf_counter()
    input, output = Path(input), Path(output)
    if not input.exists():
        raise SourceError(f"{input}: file not found")
    suffix = ".parquet" if input.is_dir() else input.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise SourceError(f"{input}: unknown input suffix {input.suffix!r}: use .csv or .parquet")
    if output.suffix.lower() not in (".csv", ".parquet"):
        raise SourceError(
            f"{output}: unknown output suffix {output.suffix!r}: use .csv or .parquet"
        )
    if not contract.id_column:
        raise ContractError(
            f"{contract.origin}: no id_column: scoring needs one to tie each prediction to its row"
        )
    if chunk_rows < 1:
        raise SourceError(f"chunk_rows must be at least 1, not {chunk_rows}")
    conditioner = _Conditioner(
        contract=contract,
        per_chunk=dataclasses.replace(contract, max_quarantine_fraction=1.0),
        origin=str(input),
        source=input.name,
    )
    if suffix == ".csv":
        scan = _InputScan(input, chunk_rows, delimiter)
        pieces, digest = scan.ranges(), scan.digest
    else:
        parts = parquet_parts(input)
        pieces, digest = _parquet_pieces(parts, chunk_rows), lambda: _sha256_of(parts)
    if isinstance(model, ModelRef):
        ref = model
    else:
        fetch = model if isinstance(model, ModelFetch) else ModelFetch(model, tracking_uri)
        try:
            import_model_libraries()
            ref = fetch.result()
        finally:
            fetch.close()
    if threshold is None:
        threshold = ref.threshold if ref.threshold is not None else 0.5
    scored_at = scored_at or utc_now()
    result = ScoreResult(
        input=input,
        output=output,
        quarantine=quarantine_path_for(output),
        input_sha256=digest(),
        scored_at=scored_at,
        model_uri=ref.uri,
        model_name=ref.name,
        model_version=ref.version,
        run_id=ref.run_id,
        threshold=threshold
        if contract.task == "classification" and not is_multiclass(contract)
        else None,
    )
    scorer = _Scorer(
        model=ref.model,
        contract=contract,
        threshold=float(threshold),
        lineage=Lineage(
            {
                "model_name": ref.name,
                "model_version": ref.version,
                "run_id": ref.run_id,
                "input_sha256": result.input_sha256,
                "scored_at": scored_at,
            }
        ),
        schema=output_schema(contract),
    )
    client, cluster = _client(scheduler, workers)
    writers: list[_AtomicWriter] = []
    behind = None
    try:
        # sent to every worker once; the tasks carry only a reference to it
        shared_scorer = client.scatter(dataclasses.replace(scorer), broadcast=True)
        shared_conditioner = client.scatter(conditioner, broadcast=True)
        ahead = 2 * max(1, len(client.scheduler_info(n_workers=-1).get("workers", {}))) + 2
        predictions = _AtomicWriter(output, scorer.schema)
        writers.append(predictions)
        quarantined = _AtomicWriter(result.quarantine, QUARANTINE_SCHEMA)
        writers.append(quarantined)
        behind = _WriteBehind()
        found_warnings: dict[str, None] = {}
        first_bad: str | None = None
        last_report = started
        seen = _SeenIds()
        for piece, conditioned in _in_order(
            client, pieces, shared_conditioner, shared_scorer, ahead
        ):
            scored = _predict_chunk(scorer, conditioned)
            _drop_repeated_ids(scored, piece, seen, contract, input.name)
            result.rows_in += scored.rows_in
            result.rows_scored += scored.rows_scored
            found_warnings.update(dict.fromkeys(scored.warnings))
            if scored.predictions is not None:
                behind.write(predictions, scored.predictions)
            for table in scored.quarantined:
                behind.write(quarantined, table)
                result.rows_quarantined += table.num_rows
                if first_bad is None and table.num_rows:
                    first_bad = f"line {table['line'][0].as_py()}, {table['reason'][0].as_py()}"
            now = time.perf_counter()
            if progress is not None and now - last_report >= 1.0:
                progress(result.rows_in, result.rows_quarantined, now - started)
                last_report = now
        if result.rows_in == 0:
            raise ContractError(f"{input}: no rows to score: the input has a header but no data")
        limit = contract.max_quarantine_fraction
        if result.rows_quarantined / result.rows_in > limit:
            raise ContractError(
                f"{input}: {result.rows_quarantined} of {result.rows_in} rows "
                f"({result.rows_quarantined / result.rows_in:.1%}) break the contract, more than the allowed "
                f"{limit:.1%} (first: {first_bad}): fix the source or raise max_quarantine_fraction"
            )
        behind.finish()
        quarantined.commit()
        predictions.commit()
    except BaseException:
        if behind is not None:
            try:
                behind.finish()
            except BaseException:  # noqa: BLE001 (the first error is the one raised)
                pass
        for writer in writers:
            writer.abort()
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    result.warnings = list(found_warnings)
    result.seconds = time.perf_counter() - started
    if progress is not None and last_report > started:
        progress(result.rows_in, result.rows_quarantined, result.seconds)
    return result

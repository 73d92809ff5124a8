"""Scoring on a Dask cluster: `lab2prod score --engine dask [--scheduler ADDRESS]`.

The same loop as in-process scoring (`score.score_file`), with another engine: this process reads
the input in the same chunks (`data.sources`; a folder of Parquet partitions file after file, lines
numbered across them, an empty partition passing through), each chunk goes to a Dask worker that
runs the same per-chunk step (`chunk.score_chunk`: the contract, the model's own pipeline,
predict), and this process writes in input order. The model travels to each worker once
(`Client.scatter(..., broadcast=True)`), never with a chunk: dask-ml's ParallelPostFit re-sends it
with every partition (dask-ml #842) and fails on empty ones (#911).

This process keeps what must see the batch in order: duplicate ids across chunks, the counts, the
contract's quarantine limit and the atomic writes. So the predictions and the quarantine are the
same to the byte as `--engine local` on the same rows.

What scales with workers: conditioning and predicting, the bulk of the time, spread over every
worker's cores. What does not: reading and the SHA-256 of the input (here, in one pass) and writing
the output (here, in order).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lab2prod.data import sources
from lab2prod.data.cells import LINE
from lab2prod.data.contract import Contract
from lab2prod.errors import ConfigError, SourceError
from lab2prod.model_edge import ModelRef
from lab2prod.scoring.chunk import score_chunk
from lab2prod.scoring.score import (
    Progress,
    ScoreOptions,
    ScoreResult,
    score_file,
)

CONNECT_TIMEOUT = "10s"


def parquet_parts(path: Path) -> list[Path]:
    """Return the Parquet files of `path` (one file, or a folder's *.parquet files in name order)."""
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.suffix.lower() == ".parquet")
        if not parts:
            raise SourceError(f"{path}: a folder without .parquet files: nothing to score")
        return parts
    return [path]


def _partition_chunks(parts: list[Path], chunk_rows: int) -> Iterator[sources.Frame]:
    """Yield the chunks of each partition in turn, lines numbered across them; empty ones give none."""
    first_line = 0
    for part in parts:
        try:
            rows = pq.ParquetFile(part).metadata.num_rows
        except (OSError, ValueError) as exc:
            raise SourceError(
                f"{part}: not a readable Parquet file ({type(exc).__name__}): re-export it"
            ) from None
        if rows:
            for frame in sources.iter_parquet(part, part.parent.name, chunk_rows=chunk_rows):
                frame.rows[LINE] += first_line
                yield frame
        first_line += rows


def _sha256_of(parts: list[Path]) -> str:
    """Return the SHA-256 of the files' bytes one after the other (of one file: what the local engine records)."""
    digest = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as fh:
            while block := fh.read(1 << 23):
                digest.update(block)
    return digest.hexdigest()


class DaskEngine:
    """Chunks scored on a Dask cluster: the engine `score.score_file` runs with `--engine dask`."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.client, self.cluster = _client(scheduler, workers)
        found = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        self.capacity = 2 * max(1, found) + 2

    def chunks(self, input: Path, chunk_rows: int, **options: Any) -> Iterator[sources.Frame]:
        """Yield the input's chunks: a file as `data.sources` reads it, or a folder's partitions."""
        if input.is_dir():
            return _partition_chunks(parquet_parts(input), chunk_rows)
        return sources.iter_file(input, chunk_rows=chunk_rows, **options)

    def digest(self, input: Path) -> str:
        """Return the SHA-256 of the input (of a folder: of its partitions one after the other)."""
        return _sha256_of(parquet_parts(input))

    def share(self, model: Any) -> Any:
        """Send the model to every worker once; return the reference the tasks carry."""
        return self.client.scatter(model, broadcast=True)

    def submit(self, shared: Any, frame, contract, threshold, origin):
        """Score one chunk on a worker; return its future."""
        return self.client.submit(
            score_chunk, frame, shared, contract, threshold, origin, pure=False
        )

    def close(self) -> None:
        """Disconnect, and stop the cluster started for the run (idempotent)."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


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


def score_with_dask(
    input: str | os.PathLike,
    output: str | os.PathLike,
    model: str | ModelRef,
    contract: Contract,
    options: ScoreOptions | None = None,
    progress: Progress | None = None,
    scheduler: str | None = None,
    **read_options: Any,
) -> ScoreResult:
    """Score a file or a folder of Parquet partitions on Dask; write like `score.score_file`.

    `scheduler`: the address of a running Dask scheduler, used as it is; None starts a LocalCluster
    of `options.workers` processes (default: one per core) on 127.0.0.1 for the run. Raises a
    Lab2ProdError (and leaves no output) in the cases `score_file` does.
    """
    options = options or ScoreOptions()
    return score_file(
        input,
        output,
        model,
        contract,
        options,
        progress=progress,
        engine=DaskEngine(scheduler, options.workers),
        **read_options,
    )

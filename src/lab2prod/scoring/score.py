"""Streaming batch scoring: a file in, predictions with lineage out, memory flat in the number of rows.

A plain loop: read a chunk (`data.sources.iter_file`, the reader ingest uses: same formats, options,
messages and line numbers), condition it by the data contract in score mode, predict with the
model's own pipeline, write. Outputs go to temporary files in the output folder, renamed at the
end: a failed run leaves no output behind.

`scoring.chunk.score_chunk` is the step applied to each chunk (public: a process pool here, Dask
partitions elsewhere, run the same code; an empty frame passes through it).

Parallelism: `workers` processes of a standard pool (`forkserver`, else `spawn`: never a fork of
this process) score whole chunks while this one reads, scores a chunk itself when the pool is busy,
and writes in input order. The pool starts first, so the workers' imports overlap MLflow's import
and the model's resolution here. Chunk boundaries depend only on `chunk_rows`, so the output is the
same to the byte with any number of workers.

Repeated ids (`scoring.chunk`): the first occurrence of an id in a batch is scored, later rows with
that id are quarantined with the line of the first. They are not wrong data: they do not count
toward the contract's `max_quarantine_fraction`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import multiprocessing
import os
import pickle
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.data import sources
from lab2prod.data.conditioning import QUARANTINE_COLUMNS
from lab2prod.data.contract import SOURCE, Contract
from lab2prod.data.files import check_outputs
from lab2prod.data.lake import scored_quarantine_path as quarantine_path_for
from lab2prod.data.lake import sha256_file
from lab2prod.data.line_ids import with_line_ids
from lab2prod.data.validate import check_columns
from lab2prod.errors import ContractError, SourceError
from lab2prod.model_edge import ModelRef, load_model, mlflow_imported
from lab2prod.modeling.features import is_multiclass
from lab2prod.scoring.chunk import BatchColumns, ScoredChunk, SeenIds, drop_seen, score_chunk
from lab2prod.scoring.summary import summary_path_for
from lab2prod.scoring.writing import (
    LINEAGE_COLUMNS,
    QUARANTINE_SCHEMA,
    AtomicWriter,
    Lineage,
    output_schema,
    quarantine_table,
)

OUTPUT_FORMATS = (".csv", ".parquet")
# A chunk's text cells, typed frame and model frame are the memory that scales with it: at 50,000
# rows the process peaks lower than at 100,000 (benchmarks/score.py), for the same CPU time;
# below, the per-chunk costs (pandera's checks, the model's pipeline) start to show.
DEFAULT_CHUNK_ROWS = 50_000
Progress = Callable[[int, int, float], None]

__all__ = [
    "LINEAGE_COLUMNS",
    "ModelRef",
    "ScoreOptions",
    "ScoreResult",
    "ScoredChunk",
    "load_model",
    "quarantine_path_for",
    "score_chunk",
    "score_file",
]


@dataclass(frozen=True)
class ScoreOptions:
    """How a batch is scored: rows per chunk, the decision threshold, the stamp, the workers, the store."""

    chunk_rows: int = DEFAULT_CHUNK_ROWS
    threshold: float | None = None  # None: the model run's decision threshold, else 0.5
    scored_at: str | None = None  # the scored-at stamp written; None: now, universal time
    workers: int | None = None  # processes beside this one (None: default_workers(); 0: none)
    tracking_uri: str | None = None  # the MLflow store a model URI resolves in (None: MLflow's)


@dataclass
class ScoreResult:
    """What one scoring run wrote and how many rows went where."""

    input: Path
    output: Path
    quarantine: Path
    input_sha256: str
    scored_at: str
    model_uri: str = ""
    model_name: str = ""
    model_version: str = ""
    run_id: str = ""
    threshold: float | None = None
    rows_in: int = 0
    rows_scored: int = 0
    rows_quarantined: int = 0
    rows_repeated_id: int = 0  # of the quarantined: a later row with an id already scored
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Return the counts, paths (absolute) and lineage as a JSON-ready mapping.

        Absolute paths, so that `lab2prod monitor` finds the scored input from any folder.
        """
        return {
            k: (str(v.resolve()) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(self).items()
        }

    def describe(self) -> str:
        """Return one line for a person: rows in, scored, quarantined, speed."""
        rate = self.rows_in / self.seconds if self.seconds else 0.0
        repeated = f" ({self.rows_repeated_id:,} repeated ids)" if self.rows_repeated_id else ""
        text = (
            f"{self.input}: {self.rows_in:,} rows in, {self.rows_scored:,} scored -> {self.output}, "
            f"{self.rows_quarantined:,} quarantined{repeated} -> {self.quarantine} "
            f"({self.seconds:.1f} s, {rate:,.0f} rows/s)"
        )
        return "\n".join([text] + [f"  warning: {w}" for w in self.warnings])


def utc_now() -> str:
    """Return the current time in universal time as ISO-8601 to the second (the scored-at stamp of a batch)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- the loop


def default_workers(cores: int | None = None) -> int:
    """Return how many pool processes score chunks beside this one: none up to 2 cores, else cores - 1, at most 3.

    On 2 cores one worker does not pay: it imports pandas, scikit-learn and pandera again and
    unpickles every chunk, waits for this process to load the model, and adds hundreds of MB to
    the process tree, for little less wall time (benchmarks/score.py; figures in
    benchmarks/RESULTS.md).
    """
    cores = (os.cpu_count() or 1) if cores is None else cores
    return 0 if cores <= 2 else min(3, cores - 1)


class _Ready:
    """A chunk scored here, with the two methods of a future."""

    def __init__(self, chunk: ScoredChunk):
        self.chunk = chunk

    def done(self) -> bool:
        return True

    def result(self) -> ScoredChunk:
        return self.chunk


class PoolEngine:
    """Whole chunks scored in a standard process pool (forkserver, else spawn), never a fork of this process.

    The pool starts before the model loads, so the workers' imports overlap MLflow's. An engine reads
    the input (`chunks`, `digest`), ships the model once (`share`) and scores a chunk somewhere
    (`submit`, a future); `scoring.dask_engine` is the other one.
    """

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else max(0, int(workers))
        self.capacity = 2 * self.workers  # chunks in flight; beyond, this process scores one
        self._pool: ProcessPoolExecutor | None = None

    def chunks(self, input: Path, chunk_rows: int, **options: Any) -> Iterator[sources.Frame]:
        """Yield the input's chunks; with more than one, start the pool now."""
        reader = sources.iter_file(input, chunk_rows=chunk_rows, **options)
        # the first chunk now: a file no row can be read from fails before the model loads
        ahead = list(itertools.islice(reader, 2 if self.workers else 1))
        if self.workers and len(ahead) > 1:
            self._pool = _pool(self.workers)
        else:
            self.capacity = 0
        return itertools.chain(ahead, reader)

    def digest(self, input: Path) -> str:
        """Return the SHA-256 of the input's bytes."""

        return sha256_file(input)

    def share(self, model: Any) -> Any:
        """Return what carries the model to the workers: pickled once, unpickled once per worker."""

        return (uuid.uuid4().hex, pickle.dumps(model, pickle.HIGHEST_PROTOCOL))

    def submit(self, shared: Any, frame, contract, threshold, origin) -> Future:
        """Score one chunk in the pool; return its future."""
        return self._pool.submit(_score_in_worker, *shared, frame, contract, threshold, origin)

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _pool(workers: int) -> ProcessPoolExecutor:
    """Start `workers` processes that import the scoring libraries now (forkserver, else spawn)."""

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # the fork server starts empty: it never runs the caller's script (an exported notebook)
        context.set_forkserver_preload([])
    else:
        context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_warm_up)
    for _ in range(workers):  # the executor starts a process per submit: start them all now
        pool.submit(int)
    return pool


def _warm_up() -> None:
    import warnings

    warnings.simplefilter("ignore")
    import pandera.pandas  # noqa: F401
    import sklearn.pipeline  # noqa: F401


_WORKER_MODEL: tuple[str, Any] = ("", None)


def _score_in_worker(
    key: str, model: bytes, frame: pd.DataFrame, contract: Contract, threshold: float, origin: str
) -> ScoredChunk:
    """Score one chunk in a pool process; the model, sent pickled with each chunk, is unpickled once."""
    global _WORKER_MODEL

    if _WORKER_MODEL[0] != key:
        _WORKER_MODEL = (key, pickle.loads(model))
    return score_chunk(frame, _WORKER_MODEL[1], contract, threshold, origin)


def written_files(output: str | os.PathLike) -> dict[Path, str]:
    """Return every file a scoring run to `output` writes, with what it is.

    The predictions, and beside them the quarantine and the summary.
    """
    output = Path(output)
    return {
        output: "the predictions (--output)",
        quarantine_path_for(output): "the quarantine written beside --output",
        summary_path_for(output): "the summary written beside --output",
    }


def check_output(input: Path, output: Path) -> None:
    """Refuse an output that is not CSV or Parquet, that is under a regular file, or that overwrites the input.

    None of the files written (the quarantine and the summary beside the output too) may overwrite
    the input.
    """
    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise SourceError(
            f"{output}: unknown output suffix {output.suffix!r}: use .csv or .parquet"
        )
    check_outputs(written_files(output), [input])


def score_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    model_uri: str | ModelRef,
    contract: Contract,
    options: ScoreOptions | None = None,
    progress: Progress | None = None,
    engine: Any = None,
    **read_options: Any,
) -> ScoreResult:
    """Score a file chunk by chunk and write predictions (CSV or Parquet by suffix) atomically.

    The input is any format `data.sources` reads (.csv, .csv.gz, .jsonl, .parquet, .xlsx) with the
    same `read_options` (delimiter, decimal, encoding). Rows that break the contract go to
    ``<output stem>.quarantine.csv`` beside the output with their line and reasons. Raises a
    Lab2ProdError (and leaves no output) when the input cannot be used: unreadable, a column
    missing, no rows, or more rows breaking the contract than it allows. `engine` scores the chunks
    (default `PoolEngine(options.workers)`: pool processes, default `default_workers()`, 0: none);
    the output does not depend on the engine nor on its workers.
    """
    options = options or ScoreOptions()
    chunk_rows, threshold, scored_at = options.chunk_rows, options.threshold, options.scored_at
    started = time.perf_counter()
    input, output = Path(input), Path(output)
    engine = PoolEngine(options.workers) if engine is None else engine
    writers: list[AtomicWriter] = []
    hashing = ThreadPoolExecutor(1)
    try:
        check_output(input, output)
        if input.is_file():  # a folder of Parquet partitions (Dask) is checked part by part
            check_columns(input, contract, "score", **read_options)
        # the batch's columns are judged against the contract as written (no line id: the reader adds it)
        columns = BatchColumns(contract)
        # no id column: each row's line in the input is its id in the predictions and the lineage
        contract = with_line_ids(contract)
        chunks = engine.chunks(input, chunk_rows, **read_options)
        digest = hashing.submit(engine.digest, input)
        if isinstance(model_uri, ModelRef):
            ref = model_uri
        else:  # MLflow resolves and copies the model in a process of its own, beside skops' import,
            # unless this process has imported MLflow already: then there is no import to overlap
            ref = load_model(model_uri, options.tracking_uri, in_child=not mlflow_imported())
        if threshold is None:
            threshold = ref.threshold if ref.threshold is not None else 0.5
        result = ScoreResult(
            input=input,
            output=output,
            quarantine=quarantine_path_for(output),
            input_sha256=digest.result(),
            scored_at=scored_at or utc_now(),
            model_uri=ref.uri,
            model_name=ref.name,
            model_version=ref.version,
            run_id=ref.run_id,
            threshold=None
            if contract.task != "classification" or is_multiclass(contract)
            else threshold,
        )
        lineage = Lineage({k: getattr(result, k) for k in LINEAGE_COLUMNS})
        predictions = AtomicWriter(output, output_schema(contract))
        writers.append(predictions)
        quarantined = AtomicWriter(result.quarantine, QUARANTINE_SCHEMA)
        writers.append(quarantined)
        origin, seen, warnings = str(input), SeenIds(), {}
        wrong, first_bad, last_report, last_rows = 0, None, started, 0
        shared = engine.share(ref.model) if engine.capacity else None
        pending: deque[tuple[sources.Frame, pd.DataFrame, Any]] = deque()

        def write_ready(wait: bool) -> None:
            nonlocal wrong, first_bad
            while pending and (wait or pending[0][2].done()):
                frame, rows, job = pending.popleft()
                # the rows as scored: a repeat's quarantine row names the source as the others do
                chunk = drop_seen(job.result(), rows, seen, contract, origin)
                bad = pd.concat(
                    [pd.DataFrame(frame.rejected, columns=QUARANTINE_COLUMNS), chunk.quarantine]
                )
                result.rows_in += chunk.rows_in + len(frame.rejected)
                result.rows_scored += len(chunk.predictions)
                result.rows_quarantined += len(bad)
                result.rows_repeated_id += chunk.repeated_ids
                wrong += len(bad) - chunk.repeated_ids
                warnings.update(dict.fromkeys(chunk.warnings))
                if len(chunk.predictions):
                    predictions.write(lineage.table(chunk.predictions, predictions.schema))
                if len(bad):
                    quarantined.write(quarantine_table(bad))
                    if first_bad is None and len(bad) > chunk.repeated_ids:
                        first = bad[~bad["reason"].str.contains("duplicate id", regex=False)]
                        first_bad = f"line {first['line'].iloc[0]}, {first['reason'].iloc[0]}"

        for frame in chunks:
            rows = columns.complete(frame.rows).assign(**{SOURCE: frame.name})
            if sum(not job.done() for _, _, job in pending) < engine.capacity:
                job = engine.submit(shared, rows, contract, threshold, origin)
            else:  # the engine is busy: this process scores the chunk
                job = _Ready(score_chunk(rows, ref.model, contract, threshold, origin))
            pending.append((frame, rows, job))
            write_ready(wait=False)
            now = time.perf_counter()
            if progress is not None and now - last_report >= 1.0:
                progress(result.rows_in, result.rows_quarantined, now - started)
                last_report, last_rows = now, result.rows_in
        write_ready(wait=True)
        warnings.update(dict.fromkeys(columns.check(origin)))
        if result.rows_scored + result.rows_quarantined == 0:
            raise ContractError(f"{input}: no rows to score: the input has a header but no data")
        limit = contract.max_quarantine_fraction
        if wrong / result.rows_in > limit:
            raise ContractError(
                f"{input}: {wrong} of {result.rows_in} rows ({wrong / result.rows_in:.1%}) break the "
                f"contract, more than the allowed {limit:.1%} (first: {first_bad}): fix the source "
                "or raise max_quarantine_fraction"
            )
        quarantined.commit()
        predictions.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    finally:
        hashing.shutdown(wait=True, cancel_futures=True)
        engine.close()
    result.warnings = list(warnings)
    result.seconds = time.perf_counter() - started
    # the last line, unless the last report already said it (one chunk: the same line twice)
    if progress is not None and last_report > started and result.rows_in != last_rows:
        progress(result.rows_in, result.rows_quarantined, result.seconds)
    return result


def stderr_progress(rows: int, quarantined: int, seconds: float) -> None:
    """Print one progress line to stderr: rows read, quarantined, rows per second."""
    rate = rows / seconds if seconds else 0.0
    print(
        f"read {rows:,} rows ({quarantined:,} quarantined), {rate:,.0f} rows/s",
        file=sys.stderr,
        flush=True,
    )

"""Streaming batch scoring: CSV or Parquet in, predictions with lineage out, memory flat in the number of rows.

Every chunk goes through the same code as training: the data contract
(`contract.condition`, mode "score") types the rows and quarantines the bad
ones with their line and reason, `features.model_frame` builds the model's
view and `predict.predict` asks the model. Nothing here re-implements a
feature. Outputs are written to temporary files in the output folder and
renamed at the end: a failed run leaves no output behind.

How the work is shared (2 cores, `lab2prod score`):

- this process scans the input once in a thread (its SHA-256, and a CSV cut
  into byte ranges of whole lines) and forks the conditioning worker(s)
  before it imports scikit-learn;
- the workers read their own ranges and condition them while this process
  imports scikit-learn and skops and loads the model (seconds of one core);
  results travel as files in /dev/shm, not through the pool's pipe;
- once the model is loaded a predictor process is forked: it predicts
  conditioned chunks while it has fewer than two in hand; this process
  predicts the rest and writes everything, in input order, with a writer
  thread. (The predictor does not condition: with both working sets its
  memory would grow with the number of chunks.)

Chunks keep their boundaries whatever the sharing, so the output is the same
to the byte with 0, 1 or more workers.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from lab2prod.data.contract import LINE, QUARANTINE_COLUMNS, SOURCE, Contract, condition
from lab2prod.data.sources import MISSING
from lab2prod.errors import ContractError, SourceError
from lab2prod.modeling.features import is_multiclass, model_frame
from lab2prod.modeling.predict import class_probability_columns, predict
from lab2prod.scoring.model import ModelFetch, ModelRef, import_model_libraries, load_model  # noqa: F401 (re-exported)

FORMATS = (".csv", ".parquet")
DEFAULT_CHUNK_ROWS = 100_000
LINEAGE_COLUMNS = ["model_name", "model_version", "run_id", "input_sha256", "scored_at"]

Progress = Callable[[int, int, float], None]


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
        text = (
            f"{self.input}: {self.rows_in:,} rows in, {self.rows_scored:,} scored -> {self.output}, "
            f"{self.rows_quarantined:,} quarantined -> {self.quarantine} ({self.seconds:.1f} s, {rate:,.0f} rows/s)"
        )
        return "\n".join([text] + [f"  warning: {w}" for w in self.warnings])


def quarantine_path_for(output: str | os.PathLike) -> Path:
    """Return where the quarantine of `output` goes: beside it, `<stem>.quarantine.csv`."""
    output = Path(output)
    return output.with_name(f"{output.stem}.quarantine.csv")


def utc_now() -> str:
    """Return the current UTC time as an ISO-8601 string to the second (the scored-at stamp of a batch)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- reading


@dataclass
class _Chunk:
    """Rows as read (Arrow text cells and their lines) plus the ragged rows the reader set aside."""

    table: pa.Table | pa.RecordBatch
    lines: np.ndarray
    ragged: list[dict[str, Any]]
    markers: bool = False  # Parquet: missing markers still to be turned into nulls

    def frame(self) -> pd.DataFrame:
        """Return the rows as a frame of text cells with their LINE, blank lines dropped."""
        frame = _to_frame(self.table, self.lines, self.markers)
        blank = frame.drop(columns=[LINE]).isna().all(axis=1)
        return frame[~blank].reset_index(drop=True) if blank.any() else frame

    def read(self) -> _Chunk:
        """Return itself: a chunk already read (Parquet) is a piece of input like a CSV range."""
        return self


def _csv_header(path: Path, delimiter: str = ",") -> tuple[list[str], int]:
    """Return the header's column names and its length in bytes (where the data starts)."""
    with open(path, "rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise SourceError(
            f"{path}: file is empty or its first line is blank: the first line must be the header"
        )
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(
            f"{path}: line 1: the header is not valid UTF-8: re-export the file as UTF-8"
        ) from None
    names = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    clean = [n.strip() for n in names]
    if len(clean) == 1:
        for other in (",", ";", "\t", "|"):
            if other != delimiter and other in clean[0]:
                shown = "$'\\t'" if other == "\t" else repr(other)
                raise SourceError(
                    f"{path}: header reads as one column but contains {other!r}: "
                    f"pass --delimiter {shown} (delimiter={other!r})"
                )
    if any(not n for n in clean):
        raise SourceError(
            f"{path}: header has an empty column name at position {clean.index('') + 1}: name every column"
        )
    if len({n.lower() for n in clean}) != len(clean):
        raise SourceError(
            f"{path}: header repeats a column name: give every column a distinct name"
        )
    return names, len(first)


_MISSING = pa.array(sorted(MISSING), pa.string())


def _as_text(column: pa.ChunkedArray | pa.Array, markers: bool) -> pa.Array:
    """Return a column as Arrow text (Parquet may hold numbers or dictionaries); the contract types it.

    With `markers`, the adapters' missing markers ("", NA, null...) become
    nulls, as sources.read_csv does (the CSV reader does it while parsing).
    """
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    if markers:
        column = pc.if_else(
            pc.is_in(column, value_set=_MISSING), pa.scalar(None, pa.string()), column
        )
    return column


def _to_frame(
    batch: pa.RecordBatch | pa.Table, lines: np.ndarray, markers: bool = False
) -> pd.DataFrame:
    columns = {
        name: _as_text(batch.column(i), markers) for i, name in enumerate(batch.schema.names)
    }
    table = pa.table(columns)
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)
    frame.insert(0, LINE, lines)
    return frame


@dataclass(frozen=True)
class _CsvRange:
    """Whole lines of a CSV file as a byte range, from line `first_line` on: any process can read it alone.

    Cells never hold a line break (Arrow reads with newlines_in_values=False),
    so a line break always ends a row and ranges cut at line breaks read
    exactly as the whole file would, row for row and line for line.
    """

    path: Path
    start: int
    end: int
    first_line: int
    names: tuple[str, ...]
    delimiter: str

    def read(self) -> _Chunk:
        """Parse the range into a chunk: text cells, each row with its line, ragged rows set aside."""
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            data = fh.read(self.end - self.start)
        ragged: list[tuple[int, int, str]] = []

        def on_invalid(row) -> str:
            number = self.first_line + row.number - 1 if row.number is not None else -1
            ragged.append((number, row.actual_columns, row.text))
            return "skip"

        # every cell as text: the contract types columns by name, Arrow never guesses
        # use_threads=False: only then does Arrow tell the line of a ragged row
        read = pv.ReadOptions(
            column_names=list(self.names),
            block_size=max(1 << 20, len(data) + 1),
            encoding="utf8",
            use_threads=False,
        )
        parse = pv.ParseOptions(
            delimiter=self.delimiter,
            invalid_row_handler=on_invalid,
            ignore_empty_lines=False,
            newlines_in_values=False,
        )
        # the adapters' missing markers ("", NA, null...) become nulls while parsing, as sources.read_csv does
        convert = pv.ConvertOptions(
            column_types={n: pa.string() for n in self.names},
            strings_can_be_null=True,
            null_values=sorted(MISSING),
            quoted_strings_can_be_null=True,
        )
        try:
            table = pv.read_csv(
                pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise SourceError(
                f"{self.path}: cannot be read ({_arrow_message(exc)}): "
                f"re-export it as UTF-8 with one delimiter"
            ) from None
        return _numbered(table, self.first_line, ragged, len(self.names), self.path)


class _InputScan:
    """Read the input once in a thread: its SHA-256 and, for a CSV file, its data cut into ranges of whole lines.

    hashlib and numpy release the GIL on large blocks, so the scan runs beside
    whatever this process does; ranges are handed out as they are found.
    """

    def __init__(self, path: Path, chunk_rows: int, delimiter: str = ","):
        import queue

        self.path = path
        self._csv = path.suffix.lower() == ".csv"
        self._chunk_rows = chunk_rows
        self._delimiter = delimiter
        self._names: tuple[str, ...] = ()
        self._header_end = 0
        if self._csv:
            names, self._header_end = _csv_header(path, delimiter)
            self._names = tuple(n.strip() for n in names)
        self._ranges: queue.Queue = queue.Queue()
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="lab2prod-scan")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._digest = self._scan()
        except OSError as exc:
            self._error = SourceError(f"{self.path}: cannot read ({exc.strerror or exc})")
        except BaseException as exc:  # raised where the ranges or the digest are asked for
            self._error = exc
        finally:
            self._ranges.put(None)

    def _scan(self) -> str:
        # one read for both the digest (what lake.sha256_file computes) and the line breaks
        import hashlib

        digest = hashlib.sha256()
        start, first_line, counted, offset = self._header_end, 2, 0, 0
        with open(self.path, "rb") as fh:
            while block := fh.read(1 << 23):
                digest.update(block)
                if self._csv:
                    breaks = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + offset
                    breaks = breaks[breaks >= self._header_end]
                    cuts = breaks[self._chunk_rows - counted - 1 :: self._chunk_rows]
                    for cut in cuts:
                        end = int(cut) + 1
                        self._emit(start, end, first_line)
                        start, first_line = end, first_line + self._chunk_rows
                    counted = (counted + len(breaks)) % self._chunk_rows
                offset += len(block)
        if self._csv and offset > start:
            self._emit(start, offset, first_line)
        return digest.hexdigest()

    def _emit(self, start: int, end: int, first_line: int) -> None:
        self._ranges.put(_CsvRange(self.path, start, end, first_line, self._names, self._delimiter))

    def ranges(self) -> Iterator[_CsvRange]:
        """Yield the CSV ranges in order as the scan finds them."""
        while (found := self._ranges.get()) is not None:
            yield found
        self._ranges.put(None)  # a later call ends too
        if self._error is not None:
            raise self._error

    def digest(self) -> str:
        """Wait for the scan and return the file's SHA-256."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest


def _numbered(
    table: pa.Table, first_line: int, ragged: list[tuple[int, int, str]], width: int, path: Path
) -> _Chunk:
    """Give each row its physical line (the ragged rows Arrow skipped keep theirs) and set the ragged rows aside."""
    lines = np.arange(first_line, first_line + table.num_rows, dtype="int64")
    rejected = []
    for number, found, text in ragged:  # in line order, as Arrow met them
        lines[lines >= number] += 1
        what = "truncated" if found < width else "too many fields"
        rejected.append(
            {
                "source": path.name,
                "line": int(number),
                "reason": f"{what}: expected {width} fields, found {found}",
                "record": (text or "")[:500],
            }
        )
    return _Chunk(table=table, lines=lines, ragged=rejected)


def _iter_parquet(path: Path, chunk_rows: int) -> Iterator[_Chunk]:
    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path}: not a readable Parquet file ({_arrow_message(exc)}): re-export it"
        ) from None
    first = 1
    try:
        for batch in source.iter_batches(batch_size=chunk_rows):
            lines = np.arange(first, first + batch.num_rows, dtype="int64")
            first += batch.num_rows
            if batch.num_rows:
                yield _Chunk(table=batch, lines=lines, ragged=[], markers=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path}: Parquet data cannot be read ({_arrow_message(exc)}): re-export it"
        ) from None


def _arrow_message(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def input_pieces(scan: _InputScan, chunk_rows: int) -> Iterator[_CsvRange | _Chunk]:
    """Yield the input in pieces of at most `chunk_rows` rows, in order; `piece.read()` gives its chunk.

    A CSV piece is a byte range any process can read alone; a Parquet piece is
    a chunk already read.
    """
    if scan.path.suffix.lower() == ".csv":
        return scan.ranges()
    return _iter_parquet(scan.path, chunk_rows)


# ---------------------------------------------------------------------------- writing


class _AtomicWriter:
    """Stream Arrow tables to a temporary file in the target's folder; rename on commit, delete on abort."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        self.schema = schema
        if self.path.suffix.lower() == ".parquet":
            self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        else:
            self._writer = pv.CSVWriter(self.tmp, schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def commit(self) -> Path:
        self._writer.close()
        self.tmp.chmod(0o644)  # mkstemp made it private; a product is readable like any other file
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # the file goes away anyway
            pass
        self.tmp.unlink(missing_ok=True)


class _WriteBehind:
    """Write tables in a thread, in the order given: Arrow writes without the GIL while this process predicts."""

    def __init__(self, depth: int = 4):
        import queue

        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="lab2prod-write")
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            writer, table = item
            if self._error is None:
                try:
                    writer.write(table)
                except BaseException as exc:  # raised in the caller at its next write or at finish
                    self._error = exc

    def write(self, writer: _AtomicWriter, table: pa.Table) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((writer, table))

    def finish(self) -> None:
        """Wait until every table is written; raise the first error (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("record", pa.string()),
    ]
)


def output_schema(contract: Contract) -> pa.Schema:
    """Return the columns of a predictions file for the contract's task.

    Binary: `probability` (of the positive label) and `label`; multiclass: one
    `probability_<label>` per label of the contract, in its order, and `label`
    (the most probable class); regression: `value`. Then the lineage columns.
    """
    id_name = contract.id_column or "id"
    if is_multiclass(contract):
        fields = [(id_name, pa.string())]
        fields += [(name, pa.float64()) for name in class_probability_columns(contract.labels)]
        fields.append(("label", pa.string()))
    elif contract.task == "classification":
        fields = [(id_name, pa.string()), ("probability", pa.float64()), ("label", pa.string())]
    else:
        fields = [(id_name, pa.string()), ("value", pa.float64())]
    return pa.schema(fields + [(name, pa.string()) for name in LINEAGE_COLUMNS])


def _negative_label(contract: Contract) -> str:
    others = [label for label in (contract.labels or ()) if label != contract.positive_label]
    return others[0] if others else f"not {contract.positive_label}"


class Lineage:
    """The lineage columns of every output row (model name, version, run, input digest, scored-at).

    Built once and sliced for each chunk: every chunk shares the same
    memory instead of faulting in megabytes of repeated text again.
    """

    def __init__(self, values: dict[str, str]):
        self.values = {name: values[name] for name in LINEAGE_COLUMNS}
        self._columns: list[pa.Array] = []

    def columns(self, n: int) -> list[pa.Array]:
        """Return the lineage columns for `n` rows."""
        if not self._columns or len(self._columns[0]) < n:
            self._columns = [
                pa.repeat(pa.scalar(self.values[name], pa.string()), n) for name in LINEAGE_COLUMNS
            ]
        return [column.slice(0, n) for column in self._columns]


def predictions_table(
    ids: pa.Array,
    scores: np.ndarray,
    contract: Contract,
    threshold: float,
    lineage: Lineage,
    schema: pa.Schema,
) -> pa.Table:
    """Return one chunk of output rows: id, prediction (probability and label, or value) and lineage."""
    if scores.ndim == 2:  # multiclass: one probability column per class, then the most probable
        columns = [ids] + [pa.array(scores[:, j], pa.float64()) for j in range(scores.shape[1])]
        names = pa.array([str(label) for label in contract.labels], pa.string())
        columns.append(names.take(pa.array(scores.argmax(axis=1).astype("int32"))))
        return pa.Table.from_arrays(columns + lineage.columns(len(scores)), schema=schema)
    columns: list[pa.Array] = [ids, pa.array(scores, pa.float64())]
    if contract.task == "classification":
        names = pa.array([_negative_label(contract), str(contract.positive_label)], pa.string())
        columns.append(names.take(pa.array((scores >= threshold).astype("int8"))))
    return pa.Table.from_arrays(columns + lineage.columns(len(scores)), schema=schema)


# ---------------------------------------------------------------------------- scoring


def _check_paths(input: Path, output: Path) -> None:
    if not input.is_file():
        raise SourceError(f"{input}: file not found")
    for role, path in (("input", input), ("output", output)):
        if path.suffix.lower() not in FORMATS:
            raise SourceError(
                f"{path}: unknown {role} suffix {path.suffix!r}: use .csv or .parquet"
            )
    if input.resolve() == output.resolve():
        raise SourceError(f"{output}: the output would overwrite the input: choose another path")


@dataclass
class _Conditioner:
    """What conditioning a chunk needs (the contract, no model): inherited by the forked worker processes."""

    contract: Contract
    per_chunk: Contract
    origin: str
    source: str


@dataclass
class _Scorer:
    """What predicting a conditioned chunk needs: the model and the lineage of every output row."""

    model: Any
    contract: Contract
    threshold: float
    lineage: Lineage
    schema: pa.Schema


@dataclass
class _ChunkResult:
    """One chunk on its way: conditioned by the contract, then scored, then its output rows.

    A worker fills the model's view of the clean rows (`features`) and the
    quarantine; whoever predicts fills `scores` and drops the features; this
    process builds `predictions` and writes them.
    """

    features: pd.DataFrame | None  # features.model_frame of the clean rows; None when none is clean
    ids: pa.Array | None
    quarantined: list[pa.Table]
    warnings: list[str]
    rows_in: int
    rows_scored: int
    id_hashes: np.ndarray | None = (
        None  # of the clean rows, in output order: duplicates across chunks
    )
    id_lines: np.ndarray | None = None
    id_order: np.ndarray | None = None  # sorts id_hashes
    scores: np.ndarray | None = None  # the model's answers, once asked
    predictions: pa.Table | None = None  # the output rows: id, prediction, lineage


class _SeenIds:
    """The ids scored so far in a batch, kept as sorted runs of 64-bit hashes with their lines (16 bytes a row).

    `condition` catches a repeated id inside one chunk; this catches one
    repeated in a later chunk. Runs merge when the newer one grows to half the
    older one's size, so a batch of n rows costs O(n log n) and a lookup
    searches a few runs. Two different ids share a 64-bit hash about once in
    10^6 batches of 5M rows.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def first_lines(self, hashes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """Return, for each hash, the line where it was first scored, or -1 when it is new.

        `order` sorts `hashes` (a worker computes it); sorted queries walk
        each run in one direction, several times faster.
        """
        found = np.full(len(hashes), -1, dtype="int64")
        order = np.argsort(hashes) if order is None else order
        wanted = hashes[order]
        for run_hashes, run_lines in self.runs:
            at = np.minimum(np.searchsorted(run_hashes, wanted), len(run_hashes) - 1)
            hit = run_hashes[at] == wanted
            found[order[hit]] = run_lines[at[hit]]
        return found

    def add(self, hashes: np.ndarray, lines: np.ndarray, order: np.ndarray | None = None) -> None:
        """Remember `hashes` as scored on `lines`; `order`, when given, sorts `hashes`."""
        order = np.argsort(hashes) if order is None else order
        self.runs.append((hashes[order], lines[order]))
        while len(self.runs) > 1 and 2 * len(self.runs[-1][0]) >= len(self.runs[-2][0]):
            (old_h, old_l), (new_h, new_l) = self.runs[-2], self.runs.pop()
            at = np.searchsorted(old_h, new_h)
            self.runs[-1] = (np.insert(old_h, at, new_h), np.insert(old_l, at, new_l))


def _drop_repeated_ids(
    scored: _ChunkResult, piece: _CsvRange | _Chunk, seen: _SeenIds, contract: Contract, source: str
) -> None:
    """Move rows whose id was scored in an earlier chunk from the predictions to the quarantine (in place).

    Rare: only then is the piece read again here, for the text of those rows.
    """
    if scored.predictions is None or scored.id_hashes is None:
        return
    first = seen.first_lines(scored.id_hashes, scored.id_order)
    repeated = first >= 0
    if not repeated.any():
        seen.add(scored.id_hashes, scored.id_lines, scored.id_order)
        return
    # a hash repeated inside this chunk was already quarantined by `condition`: add each scored row once
    seen.add(scored.id_hashes[~repeated], scored.id_lines[~repeated])
    ids = scored.predictions.column(0).to_numpy(zero_copy_only=False)
    lines = scored.id_lines[repeated]
    chunk = piece.read()
    positions = np.searchsorted(chunk.lines, lines)
    text = chunk.table.take(pa.array(positions))
    records = [
        ",".join("" if v is None else str(v) for v in row.values()) for row in text.to_pylist()
    ]
    name = contract.id_column
    scored.quarantined.append(
        _quarantine_table(
            pd.DataFrame(
                {
                    "source": source,
                    "line": lines,
                    "reason": [
                        f"{name}: duplicate id {i!r} (first on line {f})"
                        for i, f in zip(ids[repeated], first[repeated])
                    ],
                    "record": records,
                }
            )
        )
    )
    scored.predictions = scored.predictions.filter(pa.array(~repeated))
    scored.rows_scored -= int(repeated.sum())


def _condition_chunk(conditioner: _Conditioner, chunk: _Chunk) -> _ChunkResult:
    """Condition one chunk by the contract and build the model's view of its clean rows (no model needed)."""
    rows = chunk.frame()
    bad = (
        [_quarantine_table(pd.DataFrame(chunk.ragged, columns=QUARANTINE_COLUMNS))]
        if chunk.ragged
        else []
    )
    if not len(rows):
        return _ChunkResult(None, None, bad, [], len(chunk.ragged), 0)
    conditioned = condition(
        rows.assign(**{SOURCE: conditioner.source}),
        conditioner.per_chunk,
        mode="score",
        origin=conditioner.origin,
    )
    if len(conditioned.quarantine):
        bad.append(_quarantine_table(conditioned.quarantine))
    clean = conditioned.clean
    result = _ChunkResult(
        None, None, bad, conditioned.warnings, len(rows) + len(chunk.ragged), len(clean)
    )
    if len(clean):
        contract = conditioner.contract
        result.features = model_frame(clean, contract)
        id_values = clean[contract.id_column].to_numpy(dtype=object)
        result.ids = pa.array(id_values, pa.string())
        result.id_hashes = pd.util.hash_array(
            id_values, categorize=False
        )  # ids mostly distinct: factorizing costs 4x
        result.id_order = np.argsort(result.id_hashes)
        lines = rows[LINE].to_numpy()
        if len(conditioned.quarantine):
            lines = lines[~np.isin(lines, conditioned.quarantine["line"].to_numpy())]
        result.id_lines = lines
    return result


def _predict_chunk(scorer: _Scorer, chunk: _ChunkResult) -> _ChunkResult:
    """Ask the model about a conditioned chunk (unless already asked) and build its output rows (id, prediction, lineage)."""
    chunk = _with_scores(scorer, chunk)
    if chunk.scores is not None:
        chunk.predictions = predictions_table(
            chunk.ids,
            chunk.scores,
            scorer.contract,
            scorer.threshold,
            scorer.lineage,
            scorer.schema,
        )
    return chunk


def _with_scores(scorer: _Scorer, chunk: _ChunkResult) -> _ChunkResult:
    """Ask the model about the chunk's clean rows; keep the scores, drop the features (they are large)."""
    if chunk.features is not None:
        chunk.scores = np.asarray(
            predict(scorer.model, chunk.features, scorer.contract.task), dtype="float64"
        )
        chunk.features = None
    return chunk


_WORKER: _Conditioner | None = (
    None  # set in the parent just before the fork; the children inherit it
)
_PREDICTOR: _Scorer | None = None  # likewise, for the process that shares the predicting


def _worker_init() -> None:
    import warnings

    warnings.simplefilter("ignore")


def _worker_condition(piece: _CsvRange | _Chunk, parcel: str) -> str:
    """Read and condition one piece in a worker; leave the result in the file `parcel` and return its path.

    The result goes through a file, not the pool's pipe: the parent may still
    be importing scikit-learn, and receiving megabytes through a pipe would
    take its GIL away from that import hundreds of times a chunk.
    """
    return _save_parcel(_condition_chunk(_WORKER, piece.read()), parcel)


def _predictor_score(parcel: str) -> str:
    """Ask the model about a conditioned parcel in the predictor process; leave the scores in it, features out."""
    return _save_parcel(_with_scores(_PREDICTOR, _load_parcel(parcel)), parcel)


def _save_parcel(chunk: _ChunkResult, parcel: str) -> str:
    import pickle

    try:
        with open(parcel, "wb") as fh:
            pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        raise SourceError(
            f"{Path(parcel).parent}: cannot keep a chunk's results there "
            f"({exc.strerror or exc}): free some space, or point TMPDIR elsewhere"
        ) from None
    return parcel


def _load_parcel(parcel: str | Path) -> _ChunkResult:
    """Return the chunk a process left in `parcel`, and remove the file."""
    import pickle

    with open(parcel, "rb") as fh:
        chunk = pickle.load(fh)
    os.unlink(parcel)
    return chunk


def _parcel_folder(needed: int) -> Path:
    """Return a new private folder for the workers' results: in memory (/dev/shm) when it has `needed` bytes free twice.

    A container's /dev/shm is often 64 MB: then the results go to the temporary folder (the page cache).
    """
    shm = Path("/dev/shm")
    base = None
    if shm.is_dir() and os.access(shm, os.W_OK):
        stats = os.statvfs(shm)
        if stats.f_bavail * stats.f_frsize >= 2 * needed:
            base = shm
    return Path(tempfile.mkdtemp(prefix="lab2prod-score-", dir=base))


class _Conditioning:
    """Read and condition the input's pieces in worker processes, in order, from the start: before the model loads.

    A thread hands the pieces to the pool while this process imports
    scikit-learn and loads the model (seconds of one core); the other cores
    read and condition meanwhile. At most `window` pieces are in flight, so
    memory stays flat in the number of rows.
    """

    def __init__(
        self, pieces: Iterator[_CsvRange | _Chunk], pool, window: int, chunk_rows: int, width: int
    ):
        import queue

        self._jobs: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(window)
        self._stop = threading.Event()
        self._done = object()
        self._pieces = pieces
        self._pool = pool
        self.folder = _parcel_folder(
            window * chunk_rows * 16 * max(width, 1)
        )  # about 8 bytes a cell, doubled
        self._thread = threading.Thread(target=self._submit, daemon=True, name="lab2prod-condition")
        self._thread.start()

    def _submit(self) -> None:
        try:
            for number, piece in enumerate(self._pieces):
                while not self._slots.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                parcel = str(self.folder / f"{number:09d}.pickle")
                self._jobs.put((piece, self._pool.apply_async(_worker_condition, (piece, parcel))))
            self._jobs.put((self._done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._jobs.put((self._done, exc))

    def __iter__(self) -> Iterator[tuple[_CsvRange | _Chunk, str]]:
        """Yield each piece with the path of its conditioned parcel, in input order."""
        while True:
            piece, job = self._jobs.get()
            if piece is self._done:
                if job is not None:
                    raise job
                return
            parcel = job.get()
            self._slots.release()
            yield piece, parcel

    def close(self) -> None:
        """Stop handing out pieces, wait for the thread and remove the folder of results (idempotent)."""
        import shutil

        self._stop.set()
        self._thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)


_ALLOCATOR_TUNED = False


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for the next chunk instead of handing it back to the kernel (once per process).

    Every chunk allocates and frees arrays of the same sizes. By default glibc
    unmaps them and the next chunk faults them back in page by page: 450,000
    page faults and about 1 s of system time per 1M rows. Afterwards up to
    256 MB of freed memory stay with the process (and its forked workers),
    so memory remains flat in the number of rows. Does nothing off glibc.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or not sys.platform.startswith("linux"):
        return
    _ALLOCATOR_TUNED = True
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: keep its defaults
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)  # arrays up to 32 MB come from the heap and are reused
    mallopt(m_trim_threshold, 256 << 20)  # give memory back only beyond 256 MB free
    mallopt(m_top_pad, 64 << 20)  # grow the heap in 64 MB steps


def default_workers() -> int:
    """Return how many processes read and condition chunks beside this one: one per core but one, at most 4.

    This process predicts and writes: on 2 cores, one worker conditions
    (about 0.3 s of a core per 100,000 rows) while this one predicts (about
    0.25 s), and the worker starts while this one is still loading the model.
    """
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def score_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    model_uri: str | ModelRef | ModelFetch,
    contract: Contract,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    threshold: float | None = None,
    scored_at: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    tracking_uri: str | None = None,
    delimiter: str = ",",
) -> ScoreResult:
    """Score a CSV or Parquet file chunk by chunk and write predictions (CSV or Parquet by suffix) atomically.

    Rows that break the contract go to ``<output stem>.quarantine.csv`` beside
    the output with their line and reasons. Raises a Lab2ProdError (and leaves
    no output) when the input cannot be used: unreadable, a column missing, no
    rows, or more quarantined rows than the contract allows.

    `workers` processes (default: `default_workers()`, 1 on 2 cores; 0: none)
    forked at the start read and condition chunks by the contract, beginning
    while this one imports scikit-learn and loads the model; this one and a
    predictor process then predict, and this one writes. Chunks keep their
    order and boundaries, so the output is the same to the byte with any
    number of workers. A model given by URI is found by
    `ModelFetch` (`tracking_uri`, default MLflow's); a caller can start the
    fetch earlier, before importing pandas, and pass it instead of the URI
    (`lab2prod score` does; the caller closes it).
    """
    global _WORKER, _PREDICTOR
    import multiprocessing

    started = time.perf_counter()
    input, output = Path(input), Path(output)
    _check_paths(input, output)
    if not contract.id_column:
        raise ContractError(
            f"{contract.origin}: no id_column: scoring needs one to tie each prediction to its row"
        )
    if chunk_rows < 1:
        raise SourceError(f"chunk_rows must be at least 1, not {chunk_rows}")
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise SourceError(
            f"delimiter must be one character other than a quote or a line break, not {delimiter!r}"
        )
    workers = default_workers() if workers is None else max(0, int(workers))
    keep_freed_memory()
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 0
    if isinstance(model_uri, ModelRef):
        fetch = None
    elif isinstance(model_uri, ModelFetch):
        fetch = model_uri
    else:  # fork before any thread starts; the fetch and the imports below take seconds each, side by side
        fetch = ModelFetch(model_uri, tracking_uri)
    conditioner = _Conditioner(
        contract=contract,
        # the contract's quarantine limit holds for the whole batch, not for each chunk (the last one may be tiny)
        per_chunk=dataclasses.replace(contract, max_quarantine_fraction=1.0),
        origin=str(input),
        source=input.name,
    )
    writers: list[_AtomicWriter] = []
    pool = predictor = conditioning = behind = None
    try:
        if workers:  # forked before any thread starts and before scikit-learn is imported: workers only condition
            _WORKER = conditioner
            pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init)
            _WORKER = None
        scan = _InputScan(input, chunk_rows, delimiter)
        pieces = input_pieces(scan, chunk_rows)
        if pool is not None:  # the workers read and condition while this process loads the model
            conditioning = _Conditioning(
                pieces, pool, max(16, 4 * workers), chunk_rows, len(contract.columns)
            )
        if fetch is not None:
            import_model_libraries()
            ref = fetch.result()
        else:
            ref = model_uri
        if threshold is None:
            threshold = ref.threshold if ref.threshold is not None else 0.5
        scored_at = scored_at or utc_now()
        result = ScoreResult(
            input=input,
            output=output,
            quarantine=quarantine_path_for(output),
            input_sha256=scan.digest(),
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
        predictions = _AtomicWriter(output, scorer.schema)
        writers.append(predictions)
        quarantined = _AtomicWriter(result.quarantine, QUARANTINE_SCHEMA)
        writers.append(quarantined)
        behind = _WriteBehind()
        warnings: dict[str, None] = {}
        first_bad: str | None = None
        last_report = started
        seen = _SeenIds()
        if conditioning is None:
            conditioned_pieces = (
                (piece, _condition_chunk(conditioner, piece.read())) for piece in pieces
            )
        else:  # forked now the model is loaded (and the scan has ended): it shares the predicting
            _PREDICTOR = scorer
            predictor = multiprocessing.get_context("fork").Pool(1, initializer=_worker_init)
            _PREDICTOR = None
            conditioned_pieces = _shared_predicting(conditioning, scorer, predictor)
        for piece, conditioned in conditioned_pieces:
            scored = _predict_chunk(scorer, conditioned)
            _drop_repeated_ids(scored, piece, seen, contract, input.name)
            result.rows_in += scored.rows_in
            result.rows_scored += scored.rows_scored
            warnings.update(dict.fromkeys(scored.warnings))
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
            except BaseException:  # the first error is the one raised
                pass
        for writer in writers:
            writer.abort()
        if fetch is not None:
            fetch.close()
        raise
    finally:
        _WORKER = _PREDICTOR = None
        if conditioning is not None:
            conditioning.close()
        for processes in (pool, predictor):
            if processes is not None:
                processes.terminate()
                processes.join()
    result.warnings = list(warnings)
    result.seconds = time.perf_counter() - started
    if progress is not None and last_report > started:
        progress(result.rows_in, result.rows_quarantined, result.seconds)
    return result


def _shared_predicting(
    parcels: Iterator[tuple[Any, str]], scorer: _Scorer, predictor, busy: int = 2
) -> Iterator[tuple[Any, _ChunkResult]]:
    """Yield each piece with its conditioned parcel, in order, predicted here or by the `predictor` process.

    Once the workers have conditioned what they could while the model
    loaded, predicting is the longest step and two processes share it: a
    parcel goes to the predictor while it has fewer than `busy` in hand,
    else this process predicts it (between writing the results).
    """
    pending: deque = (
        deque()
    )  # (piece, the predictor's job or None, the parcel predicted here or None), in order
    for piece, parcel in parcels:
        if sum(1 for _, job, _ in pending if job is not None and not job.ready()) < busy:
            pending.append((piece, predictor.apply_async(_predictor_score, (parcel,)), None))
        else:
            pending.append((piece, None, _with_scores(scorer, _load_parcel(parcel))))
        while pending and (pending[0][1] is None or pending[0][1].ready()):
            yield _ready(pending.popleft())
    while pending:
        yield _ready(pending.popleft())


def _ready(entry: tuple[Any, Any, _ChunkResult | None]) -> tuple[Any, _ChunkResult]:
    piece, job, conditioned = entry
    return piece, (conditioned if job is None else _load_parcel(job.get()))


def _quarantine_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(
        frame[QUARANTINE_COLUMNS]
        .astype({"line": "int64"})
        .astype({"source": object, "reason": object, "record": object}),
        schema=QUARANTINE_SCHEMA,
        preserve_index=False,
    )


def stderr_progress(rows: int, quarantined: int, seconds: float) -> None:
    """Print one progress line to stderr: rows read, quarantined, rows per second."""
    rate = rows / seconds if seconds else 0.0
    print(
        f"scored {rows:,} rows ({quarantined:,} quarantined), {rate:,.0f} rows/s",
        file=sys.stderr,
        flush=True,
    )

"""The lake on disk: zones, immutable raw landing, manifests, digests and atomic writes.

Zones under the lake folder:

* ``raw/<source>/<ingest-date>/``  exactly what arrived; never overwritten
* ``normalized/<dataset>.csv``     the contract: UTF-8, one header, ISO dates,
                                   empty field = missing, ``.`` decimal point
* ``quarantine/<dataset>.csv``     every rejected row with source, line and reason
* ``splits/<dataset>/``            train.csv, valid.csv, test.csv
* ``manifests/``                   one JSON per ingest: files, rows, SHA-256
* ``requests/<day>/``              the REST server's request log, when on (`serving.request_log`)
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import yaml

from lab2prod.data.files import make_folder
from lab2prod.errors import SourceError, StorageError

CHUNK = 1 << 20


def zone(lake_dir: str | os.PathLike, name: str) -> Path:
    """Return the folder of zone `name` in the lake (it is not created)."""
    return Path(lake_dir) / name


def normalized_path(lake_dir: str | os.PathLike, dataset: str) -> Path:
    """Return the normalized CSV of `dataset`: the contract that training and scoring read."""
    return zone(lake_dir, "normalized") / f"{dataset}.csv"


def quarantine_path(lake_dir: str | os.PathLike, dataset: str) -> Path:
    """Return the quarantine CSV of `dataset` (source, line, reason, record)."""
    return zone(lake_dir, "quarantine") / f"{dataset}.csv"


def split_path(lake_dir: str | os.PathLike, dataset: str, part: str) -> Path:
    """Return the CSV of split `part` (train, valid, test) of `dataset`."""
    return zone(lake_dir, "splits") / dataset / f"{part}.csv"


def requests_path(lake_dir: str | os.PathLike, day: str | None = None) -> Path:
    """Return the folder of the REST server's request log, or of one day (universal time) (YYYY-MM-DD) of it."""
    folder = zone(lake_dir, "requests")
    return folder / day if day else folder


def history_path(lake_dir: str | os.PathLike) -> Path:
    """Return the monitoring history of the lake: one row per monitored batch or retraining."""
    return zone(lake_dir, "monitoring") / "history.csv"


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# the files an `all_or_nothing` block has written so far: (target, hard link to its old bytes or None)
_JOURNAL: contextvars.ContextVar[list[tuple[Path, Path | None]] | None] = contextvars.ContextVar(
    "lake_journal", default=None
)


@contextlib.contextmanager
def all_or_nothing():
    """Keep every atomic write of the block, or none: a failure puts back each file as it was.

    Each write still lands atomically; before it replaces a file, a hard link keeps the old
    bytes (no copy, no space), so undoing is a rename that cannot fail for want of space.
    Files and folders the block created are removed again.
    """
    journal: list[tuple[Path, Path | None]] = []
    token = _JOURNAL.set(journal)
    try:
        yield
    except BaseException:
        for target, backup in reversed(journal):
            if backup is not None:
                os.replace(backup, target)
            elif target.is_dir():
                with contextlib.suppress(OSError):
                    target.rmdir()  # only when empty
            else:
                target.unlink(missing_ok=True)
        raise
    else:
        for _, backup in journal:
            if backup is not None:
                backup.unlink(missing_ok=True)
    finally:
        _JOURNAL.reset(token)


def _atomic(path: Path, write: Callable[[Path], None], mode: int | None = None) -> Path:
    path = Path(path)
    journal = _JOURNAL.get()
    if journal is not None:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        journal.extend((p, None) for p in reversed(missing))
    tmp = None
    try:
        make_folder(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        if mode is not None:
            os.chmod(tmp, mode)
        if journal is not None:
            backup = None
            if path.exists():
                backup = Path(f"{tmp}.old")
                os.link(path, backup)
            journal.append((path, backup))
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise StorageError(
            f"{path}: cannot write ({exc.strerror or exc}): free disk space "
            "(or fix the folder's permissions) and run again"
        ) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` as UTF-8 to `path` through a temporary file and a rename; return the path."""
    return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, data: Any) -> Path:
    """Write `data` as indented, key-sorted JSON to `path` atomically; return the path."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Write `data` as readable YAML (keys in their order, Unicode kept) to `path` atomically."""

    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a frame as normalized CSV (UTF-8, `\\n`, no index, ISO dates, empty = missing) atomically.

    The bytes are those of pandas' ``to_csv`` with these options; Arrow renders the usual column
    types several times faster (`csv_bytes`), pandas writes any other frame.
    """
    rendered = _csv_render(frame)
    if rendered is not None:

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                _write_rendered(fh, *rendered)

        return _atomic(path, write)
    return _atomic(
        path,
        lambda tmp: frame.to_csv(
            tmp, index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S", encoding="utf-8"
        ),
    )


_NEEDS_QUOTES = '[,"\r\n]'  # what makes pandas (the csv module's minimal quoting) quote a cell


def _float_cells(values: pd.Series) -> Any:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(numbers)
    size = np.abs(numbers[finite])
    if ((size < 1e-4) & (size > 0)).any() or (size >= 1e16).any():
        return None  # exponent notation differs: pandas writes this column
    # pandas writes a whole float as 1.0, Arrow as 1 (Python's repr turns to exponents from 1e16)
    whole = finite & (np.mod(numbers, 1, where=finite, out=np.ones_like(numbers)) == 0)
    missing = np.isnan(numbers)
    if (whole | missing).all() and not (np.signbit(numbers) & (numbers == 0)).any():
        # every value whole (the usual money and count columns): the integer's digits and ".0"
        digits = pa.array(np.where(missing, 0, numbers).astype("int64"), mask=missing)
        return pc.binary_join_element_wise(pc.cast(digits, pa.string()), ".0", "")
    text = pc.cast(pa.array(numbers, from_pandas=True), pa.string())
    if not whole.any():
        return text
    return pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)


def _csv_cells(values: pd.Series) -> tuple[Any, bool] | None:
    """Return a column's cells as Arrow text written as pandas' to_csv writes them (nulls for missing
    cells) and whether a cell was quoted; None for a dtype this does not render (pandas then writes
    the whole frame)."""

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_float_dtype(dtype):
        text = _float_cells(values)
        return None if text is None else (text, False)
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values, from_pandas=True), pa.string()), False
    if pd.api.types.is_datetime64_dtype(dtype):
        stamps = pa.array(values, from_pandas=True).cast(pa.timestamp("s"), safe=False)
        return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S"), False
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
        text = pa.array(values, from_pandas=True)  # pandas' `str` cells as they are (large_string)
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
            try:
                text = pa.array(values, type=pa.string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return None  # not all text
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        # none of the four bytes anywhere in the column's characters (the usual case): nothing to quote
        chars = text.buffers()[2]
        data = memoryview(chars).tobytes() if chars is not None else b""
        if not any(ch in data for ch in (b",", b'"', b"\r", b"\n")):
            return text, False
        quoted = pc.fill_null(pc.match_substring_regex(text, _NEEDS_QUOTES), False)
        if not pc.any(quoted).as_py():
            return text, False
        quote, empty = pa.scalar('"', text.type), pa.scalar("", text.type)
        escaped = pc.binary_join_element_wise(
            quote, pc.replace_substring(text, '"', '""'), quote, empty
        )
        return pc.if_else(quoted, escaped, text), True
    return None


def _csv_field(name: Any) -> str:
    name = str(name)
    return '"' + name.replace('"', '""') + '"' if any(ch in name for ch in ',"\r\n') else name


def csv_bytes(frame: pd.DataFrame) -> bytes | None:
    """Return the CSV text of a frame as `atomic_write_csv` writes it, rendered by Arrow column by column;
    None when a column's dtype is one Arrow does not render here."""

    rendered = _csv_render(frame)
    if rendered is None:
        return None
    sink = io.BytesIO()
    _write_rendered(sink, *rendered)
    return sink.getvalue()


# past this many rows the columns render on threads, side by side (Arrow's kernels release the GIL)
THREADED_ROWS = 100_000


def _csv_render(frame: pd.DataFrame) -> tuple[bytes, list[Any], bool] | None:
    """Return the header line, each column's cells as Arrow text and whether a cell was quoted; None
    when pandas writes the frame."""

    if frame.columns.duplicated().any() or frame.shape[1] < 2:
        return None  # pandas quotes an empty cell of a one-column frame
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    if len(frame) > THREADED_ROWS:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            rendered = list(pool.map(_csv_cells, columns))
    else:
        rendered = [_csv_cells(c) for c in columns]
    if any(r is None for r in rendered):
        return None
    header = (",".join(_csv_field(c) for c in frame.columns) + "\n").encode("utf-8")
    return header, [text for text, _ in rendered], any(quoted for _, quoted in rendered)


def _write_rendered(fh: Any, header: bytes, cells: list[Any], quoted: bool) -> None:
    """Write the header and the rows of rendered cells to the binary file `fh`."""

    fh.write(header)
    if not len(cells[0]):
        return
    if not quoted:
        # no cell holds a delimiter, a quote or a line break: Arrow's writer joins the cells as they are
        table = pa.table({f"c{i}": text for i, text in enumerate(cells)})
        options = pv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16)
        pv.write_csv(table, fh, write_options=options)
        return
    size = sum(c.nbytes for c in cells) + 2 * len(cells[0]) * len(cells)
    large = size >= 1 << 31 or any(pa.types.is_large_string(c.type) for c in cells)
    wide = pa.large_string() if large else pa.string()  # 32-bit offsets hold up to 2 GB
    empty = pa.scalar("", wide)
    cells = [pc.fill_null(c if c.type == wide else c.cast(wide), empty) for c in cells]
    # the line break, on the last cell
    cells[-1] = pc.binary_join_element_wise(cells[-1], pa.scalar("\n", wide), empty)
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", wide))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    kind = np.int64 if wide == pa.large_string() else np.int32
    offsets = np.frombuffer(lines.buffers()[1], dtype=kind)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    fh.write(memoryview(lines.buffers()[2])[first:last])  # Arrow's buffer as it is (no copy)


def atomic_copy(src: Path, dst: Path) -> Path:
    """Copy file `src` to `dst` atomically, keeping its bytes exactly; return `dst`."""
    return _atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


def land_raw(
    src: Path, lake_dir: Path, source: str, ingest_date: dt.date | None = None
) -> tuple[Path, str]:
    """Keep an exact copy of `src` in ``raw/<source>/<date>/`` and return (its path, its SHA-256).

    An identical file already landed that day is reused; a different one never
    replaces it but lands beside it under a name carrying its digest.
    """
    ingest_date = ingest_date or dt.date.today()
    digest = sha256_file(src)
    folder = zone(lake_dir, "raw") / source / ingest_date.isoformat()
    target = folder / Path(src).name
    if target.exists() and sha256_file(target) != digest:
        target = folder / f"{Path(src).stem}.{digest[:12]}{Path(src).suffix}"
    if not target.exists():
        _atomic(target, lambda tmp: shutil.copyfile(src, tmp), mode=0o444)
    return target, digest


def write_manifest(
    lake_dir: Path, dataset: str, entries: list[dict[str, Any]], outputs: dict[str, Any]
) -> Path:
    """Record one ingest (landed files, their rows and digests, and the products) in ``manifests/``."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    manifest = {"dataset": dataset, "ingested_at": stamp, "sources": entries, "outputs": outputs}
    return atomic_write_json(zone(lake_dir, "manifests") / f"{dataset}-{stamp}.json", manifest)


def contract_path(lake_dir: str | os.PathLike, dataset: str) -> Path:
    """Return the effective contract of `dataset` that ingest writes and every later step reads."""
    return zone(lake_dir, "contracts") / f"{dataset}.yaml"


def latest_manifest(lake_dir: str | os.PathLike, dataset: str) -> Path:
    """Return the newest ingest manifest of `dataset`; raise a SourceError when there is none."""

    found = sorted(zone(lake_dir, "manifests").glob(f"{dataset}-*.json"))
    if not found:
        raise SourceError(
            f"no ingest manifest for {dataset!r} in {zone(lake_dir, 'manifests')}: run the ingest step first"
        )
    return found[-1]


# the steps of both pipelines whose notebooks Ploomber keeps, by the name of their task
NOTEBOOK_STEPS = ("ingest", "validate", "split", "start", "train", "select", "evaluate")
NOTEBOOK_STEPS += ("register", "report", "score", "monitor", "score_summary")


@dataclass(frozen=True)
class Lake:
    """Every path of a project's lake, step products and reports, made from its three folders.

    `pipeline.yaml` and `pipeline.score.yaml` declare the same paths as their tasks' products
    (tests/data/test_lake.py checks each one), so a step finds its inputs here whether Ploomber
    runs it or a person runs its notebook alone.
    """

    root: Path  # the project folder: relative folders below are taken from it
    lake: Path
    products: Path
    reports: Path

    @classmethod
    def of(
        cls,
        root: str | os.PathLike,
        lake: str | os.PathLike = "data/lake",
        products: str | os.PathLike = "products",
        reports: str | os.PathLike = "reports",
    ) -> Lake:
        """Return the Lake of the project at `root`, its folders taken relative to it unless absolute."""
        root = Path(root)
        return cls(root, *(root / folder for folder in (lake, products, reports)))

    def path(self, path: str | os.PathLike) -> Path:
        """Return `path` taken relative to the project folder unless it is absolute."""
        return self.root / path

    # ---- the lake's zones
    def normalized(self, dataset: str) -> Path:
        """Return the normalized table of `dataset` (ingest writes it, every later step reads it)."""
        return normalized_path(self.lake, dataset)

    def quarantine(self, dataset: str) -> Path:
        """Return the quarantine table of `dataset` (the rows ingest rejected)."""
        return quarantine_path(self.lake, dataset)

    def contract(self, dataset: str) -> Path:
        """Return the contract of `dataset` that ingest writes (committed or inferred) and every later step reads."""
        return contract_path(self.lake, dataset)

    def split(self, dataset: str, part: str) -> Path:
        """Return split `part` (train, valid, test) of `dataset`."""
        return split_path(self.lake, dataset, part)

    def latest_manifest(self, dataset: str) -> Path:
        """Return the newest ingest manifest of `dataset` (a SourceError when there is none)."""
        return latest_manifest(self.lake, dataset)

    def predictions(self, batch_name: str) -> Path:
        """Return the predictions of batch `batch_name`: `<lake>/predictions/<batch_name>/predictions.csv`."""
        return zone(self.lake, "predictions") / batch_name / "predictions.csv"

    def prediction_products(self, batch_name: str) -> dict[str, Path]:
        """Return the score step's products of `batch_name`: predictions, their quarantine and facts."""
        output = self.predictions(batch_name)
        return {
            "predictions": output,
            "quarantine": output.with_name(f"{output.stem}.quarantine.csv"),
            "facts": output.with_name(f"{output.stem}.summary.json"),
        }

    def history(self) -> Path:
        """Return the monitoring history: one row per monitored batch or retraining."""
        return history_path(self.lake)

    # ---- the products of the steps
    def summary(self, step: str) -> Path:
        """Return the JSON summary of `step` (`train-0`: one cell of the grid)."""
        return self.products / f"{step}.json"

    def train_summaries(self) -> list[Path]:
        """Return the grid cells' summaries in the order of their index (train-0, train-1 ... train-10)."""
        cells = self.products.glob("train-*.json")
        found = sorted(cells, key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return found or [self.summary("train")]

    def test_predictions(self) -> Path:
        """Return the chosen model's predictions on the test split (evaluate writes them)."""
        return self.products / "test_predictions.csv"

    def executed_notebooks(self) -> Path:
        """Return the folder of the executed notebooks, `<products>/notebooks`."""
        return self.products / "notebooks"

    def score_note(self, batch_name: str) -> Path:
        """Return the note that records batch `batch_name`'s summary page."""
        return self.summary(f"score_summary-{batch_name}")

    # ---- the reports
    def report(self, name: str) -> Path:
        """Return the page `name` in the reports folder (index.html, model_card.html, ...)."""
        return self.reports / name

    def figures(self) -> Path:
        """Return the folder of the evaluation's figures, `<reports>/figures`."""
        return self.reports / "figures"

    def score_page(self, batch_name: str) -> Path:
        """Return batch `batch_name`'s summary page, `<reports>/score-<batch_name>.html`."""
        return self.report(f"score-{batch_name}.html")

    def task_products(self, task: str, dataset: str, batch_name: str = "") -> dict[str, Path]:
        """Return the products of pipeline task `task` (`train-0`: a grid cell; scoring tasks: of `batch_name`)."""
        step = task.rsplit("-", 1)[0] if task.startswith("train-") else task
        if step not in NOTEBOOK_STEPS:
            raise ValueError(f"{task!r} is not a step of the pipelines: one of {NOTEBOOK_STEPS}")
        name = f"{step}-{batch_name}" if step in ("score", "monitor", "score_summary") else step
        suffix = task[len(step) :]
        made = {
            "nb": self.executed_notebooks() / f"{name}{suffix}.ipynb",
            "nb_html": self.reports / "notebooks" / f"{name}{suffix}.html",
        }
        made.update(self._step_products(step, dataset, batch_name, suffix))
        return made

    def _step_products(
        self, step: str, dataset: str, batch_name: str, suffix: str
    ) -> dict[str, Path]:
        if step == "ingest":
            return {
                "normalized": self.normalized(dataset),
                "quarantine": self.quarantine(dataset),
                "contract": self.contract(dataset),
                "summary": self.summary("ingest"),
            }
        if step == "split":
            return {part: self.split(dataset, part) for part in ("train", "valid", "test")}
        if step == "score":
            return self.prediction_products(batch_name)
        if step == "monitor":
            return {"status": self.report("monitoring.json")}
        if step == "score_summary":
            return {"note": self.score_note(batch_name)}
        made = {"summary": self.summary(f"{step}{suffix}")}
        if step == "evaluate":
            made["predictions"] = self.test_predictions()
        return made

"""The lake on disk: zones, immutable raw landing, manifests, digests and atomic writes.

Zones under the lake folder:

* ``raw/<source>/<ingest-date>/``  exactly what arrived; never overwritten
* ``normalized/<dataset>.csv``     the contract: UTF-8, one header, ISO dates,
                                   empty field = missing, ``.`` decimal point
* ``quarantine/<dataset>.csv``     every rejected row with source, line and reason
* ``splits/<dataset>/``            train.csv, valid.csv, test.csv
* ``manifests/``                   one JSON per ingest: files, rows, SHA-256
* ``contracts/<dataset>.yaml``     the contract ingest held the rows to; every later step reads it
* ``predictions/<batch>/``         a scored batch: predictions, their quarantine and summary
* ``requests/<day>/``              the REST server's request log, when on (`serving.request_log`)
* ``monitoring/``                  history.csv, labelled/ (rows kept for retraining), retrain/<stamp>/
                                   (one retraining's window: its rows, catalog, lake, products, reports)

The `Lake` below names every one of these paths, the step products and the reports (the pages, the
monitor's status, the executed notebooks, the readiness files); no other module spells a folder of
the lake or the name of one of its files. A file a person names instead (`lab2prod score --output
preds.csv`) has its siblings named here too: `scored_quarantine_path` and `scored_facts_path`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from lab2prod.data.csv_text import render_csv, write_rendered
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


def scored_quarantine_path(output: str | os.PathLike) -> Path:
    """Return the quarantine of the scored file `output`: beside it, `<stem>.quarantine.csv`."""
    output = Path(output)
    return output.with_name(f"{output.stem}.quarantine.csv")


def scored_facts_path(output: str | os.PathLike) -> Path:
    """Return the facts (JSON summary) of the scored file `output`: beside it, `<stem>.summary.json`."""
    output = Path(output)
    return output.with_name(f"{output.stem}.summary.json")


def link(target: str | os.PathLike, page: str | os.PathLike) -> str:
    """Return the relative link from the HTML file `page` to `target` (a URL path, `/` separated)."""
    start = Path(page).resolve().parent
    return Path(os.path.relpath(Path(target).resolve(), start)).as_posix()


def stamp_now() -> str:
    """Return the universal time now as a sortable stamp to the microsecond (`20261207T013905123456Z`)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


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
    types several times faster (`lab2prod.data.csv_text`), pandas writes any other frame.
    """
    rendered = render_csv(frame)
    if rendered is not None:

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                write_rendered(fh, *rendered)

        return _atomic(path, write)
    return _atomic(
        path,
        lambda tmp: frame.to_csv(
            tmp, index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S", encoding="utf-8"
        ),
    )


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
    stamp = stamp_now()
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


# the project's own files in its folder, which a person writes and the builds read
PIPELINE_FILE = "pipeline.yaml"
SCORE_PIPELINE_FILE = "pipeline.score.yaml"
ENV_FILE = "env.yaml"
SCORE_ENV_FILE = "env.score.yaml"

# the steps of both pipelines whose notebooks Ploomber keeps, by the name of their task
NOTEBOOK_STEPS = ("ingest", "validate", "split", "start", "train", "select", "evaluate", "check")
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

    # ---- the project's own files
    def pipeline_file(self, scoring: bool = False) -> Path:
        """Return the training pipeline's `pipeline.yaml`, or the scoring pipeline's `pipeline.score.yaml`."""
        return self.path(SCORE_PIPELINE_FILE if scoring else PIPELINE_FILE)

    def env_file(self, scoring: bool = False) -> Path:
        """Return the training pipeline's values, `env.yaml`, or the scoring pipeline's, `env.score.yaml`."""
        return self.path(SCORE_ENV_FILE if scoring else ENV_FILE)

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
            "quarantine": scored_quarantine_path(output),
            "facts": scored_facts_path(output),
        }

    # ---- monitoring and retraining
    def history(self) -> Path:
        """Return the monitoring history: one row per monitored batch or retraining."""
        return history_path(self.lake)

    def labelled(self) -> Path:
        """Return the folder of the labelled batches kept for retraining, `<lake>/monitoring/labelled`."""
        return zone(self.lake, "monitoring") / "labelled"

    def labelled_batch(self, stamp: str, batch_id: str) -> Path:
        """Return where batch `batch_id`'s labelled rows are kept, stamped so that a name sorts by age."""
        return self.labelled() / f"{stamp}-{batch_id}.csv"

    def retrain_window(self, stamp: str) -> Path:
        """Return the folder of one retraining's window, `<lake>/monitoring/retrain/<stamp>`."""
        return zone(self.lake, "monitoring") / "retrain" / stamp

    def window_source(self, stamp: str) -> dict[str, Path]:
        """Return a retraining window's rows and its one-file source catalog (`window.csv`, `catalog.yaml`)."""
        folder = self.retrain_window(stamp)
        return {"rows": folder / "window.csv", "catalog": folder / "catalog.yaml"}

    def window_lake(self, stamp: str) -> Lake:
        """Return the Lake a retraining trains in: the `lake`, `products` and `reports` of its window folder."""
        folder = self.retrain_window(stamp)
        return Lake(self.root, folder / "lake", folder / "products", folder / "reports")

    # ---- the products of the steps
    def summary(self, step: str) -> Path:
        """Return the JSON summary of `step` (`train-0`: one cell of the grid)."""
        return self.products / f"{step}.json"

    def train_summaries(self) -> list[Path]:
        """Return the grid cells' summaries in the order of their index (train-0, train-1 ... train-10)."""
        return self.grid_summaries() or [self.summary("train")]

    def grid_summaries(self) -> list[Path]:
        """Return the summaries of the grid cells there are (`train-<i>.json`), in the order of their index."""
        cells = self.products.glob("train-*.json")
        return sorted(cells, key=lambda p: int(p.stem.rsplit("-", 1)[1]))

    def test_predictions(self) -> Path:
        """Return the chosen model's predictions on the test split (evaluate writes them)."""
        return self.products / "test_predictions.csv"

    def executed_notebooks(self) -> Path:
        """Return the folder of the executed notebooks, `<products>/notebooks`."""
        return self.products / "notebooks"

    def executed_notebook(self, name: str) -> Path:
        """Return the executed notebook of task `name` (`train-0`, `score-<batch_name>`), `<products>/notebooks/<name>.ipynb`."""
        return self.executed_notebooks() / f"{name}.ipynb"

    def executed_names(self, suffix: str = "") -> list[str]:
        """Return the names of the executed notebooks whose name ends with `suffix`, sorted."""
        return sorted(p.stem for p in self.executed_notebooks().glob(f"*{suffix}.ipynb"))

    def score_note(self, batch_name: str) -> Path:
        """Return the note that records batch `batch_name`'s summary page."""
        return self.summary(f"score_summary-{batch_name}")

    # ---- the reports
    def report(self, name: str) -> Path:
        """Return the page `name` in the reports folder (index.html, model_card.html, ...)."""
        return self.reports / name

    def notebook_pages(self) -> Path:
        """Return the folder of the executed notebooks as HTML, `<reports>/notebooks`."""
        return self.reports / "notebooks"

    def notebook_page(self, name: str) -> Path:
        """Return the HTML of task `name`'s executed notebook, `<reports>/notebooks/<name>.html`."""
        return self.notebook_pages() / f"{name}.html"

    def grid_pages(self) -> list[Path]:
        """Return the HTML of the grid cells' executed notebooks there are (`train-<i>.html`), sorted by name."""
        return sorted(self.notebook_pages().glob("train-*.html"))

    def index_page(self) -> Path:
        """Return the training pipeline's report, `<reports>/index.html`."""
        return self.report("index.html")

    def model_card_page(self) -> Path:
        """Return the model card, `<reports>/model_card.html`."""
        return self.report("model_card.html")

    def data_quality_page(self) -> Path:
        """Return the data quality page the validate step writes, `<reports>/data_quality.html`."""
        return self.report("data_quality.html")

    def readiness_pages(self) -> dict[str, Path]:
        """Return the ML Test Score's page and its JSON (`html`, `json`)."""
        return {"html": self.report("readiness.html"), "json": self.report("readiness.json")}

    def monitoring_status(self) -> Path:
        """Return the monitor's latest status, `<reports>/monitoring.json` (`lab2prod retrain` reads it)."""
        return self.report("monitoring.json")

    def monitoring_page(self) -> Path:
        """Return the monitoring page, `<reports>/monitoring.html`."""
        return self.report("monitoring.html")

    def simulation_pages(self) -> dict[str, Path]:
        """Return the replay simulation's page and its JSON (`report`, `json`)."""
        return {"report": self.report("simulation.html"), "json": self.report("simulation.json")}

    def figures(self) -> Path:
        """Return the folder of the evaluation's figures, `<reports>/figures`."""
        return self.reports / "figures"

    def figure(self, name: str) -> Path:
        """Return the evaluation's figure `name` as PNG, `<reports>/figures/<name>.png`."""
        return self.figures() / f"{name}.png"

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
            "nb": self.executed_notebook(f"{name}{suffix}"),
            "nb_html": self.notebook_page(f"{name}{suffix}"),
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
            return {"status": self.monitoring_status()}
        if step == "score_summary":
            return {"note": self.score_note(batch_name)}
        made = {"summary": self.summary(f"{step}{suffix}")}
        if step == "evaluate":
            made["predictions"] = self.test_predictions()
        return made

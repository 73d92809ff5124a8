"""The request log: every row the server answered or refused, kept in the lake by day for the monitor.

Layout: ``<folder>/<YYYY-MM-DD>/requests-<host>-<pid>-<token>.jsonl`` (the day of the request in
universal time). One JSON line per row: the request's id, time, size and latency, the row's position, status
(``answered`` or ``refused``) and reason, its cells as received, the answer's columns and the
lineage of the model (run id, model URI).

Safe without locks between processes: each server process appends to a file of its own, and each
request is one ``os.write`` of whole lines to a file opened with ``O_APPEND``. Inside a process,
MLflow's server answers requests on several threads; a lock keeps the log's file (its name, the
open descriptor) one per process, taken for the write only. A server killed between two
requests loses nothing; a row torn by a kill in the middle of a write is at most the file's last
line without its newline, which the reader skips and counts. Written to the page cache, not synced:
the log survives the server's death, not the machine's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import socket
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.errors import MonitoringError

ANSWERED, REFUSED = "answered", "refused"
# the log's own columns; the rest are the request's cells and the answer's columns
LOG_COLUMNS = [
    "request_id",
    "received_at",
    "row",
    "status",
    "reason",
    "rows_in_request",
    "latency_ms",
    "run_id",
    "model_uri",
]
REQUEST_PREFIX = "requests-"


def day_of(stamp: str) -> str:
    """Return the day (universal time) (YYYY-MM-DD) of an ISO-8601 stamp written by the log."""
    return stamp[:10]


def utc_stamp() -> str:
    """Return the current universal time as ISO-8601 with microseconds and a Z."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RequestLog:
    """The append-only log of one server process (a file per process and day)."""

    def __init__(self, folder: str | os.PathLike, lineage: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.lineage = {k: str(v) for k, v in (lineage or {}).items()}
        self._pid, self._name = 0, ""
        self._day, self._fd = "", -1
        self._lock = threading.Lock()  # the request threads of one process share the file

    def path(self, day: str) -> Path:
        """Return this process's file for `day`.

        Named when first used in a process: a log made before a server forks its workers still
        gives each worker a file of its own.
        """
        if self._pid != os.getpid():
            self._fd, self._day = -1, ""  # the parent's descriptor is not this process's file
            self._pid = os.getpid()
            self._name = (
                f"{REQUEST_PREFIX}{socket.gethostname()}-{self._pid}-{secrets.token_hex(4)}"
            )
        return self.folder / day / f"{self._name}.jsonl"

    def write(
        self,
        frame: pd.DataFrame,
        statuses: list[tuple[str, str]],
        answer: pd.DataFrame | None,
        received_at: str,
        latency_ms: float,
    ) -> Path:
        """Append one request's rows: `frame` as received, each row's (status, reason), the answer's columns.

        Returns the file written to. One write of whole lines: another process's rows never
        interleave, and a kill leaves at most one torn last line.
        """
        request_id = secrets.token_hex(8)
        cells = frame.reset_index(drop=True).to_dict("records")
        outputs = answer.reset_index(drop=True).to_dict("records") if answer is not None else []
        lines = []
        for row, (record, (status, reason)) in enumerate(zip(cells, statuses, strict=True)):
            entry = {
                "request_id": request_id,
                "received_at": received_at,
                "row": row,
                "status": status,
                "reason": reason,
                "rows_in_request": len(cells),
                "latency_ms": round(latency_ms, 3),
                **self.lineage,
                **{str(k): _plain(v) for k, v in record.items()},
            }
            if row < len(outputs):
                entry |= {str(k): _plain(v) for k, v in outputs[row].items()}
            lines.append(json.dumps(entry, ensure_ascii=False, allow_nan=False, default=str))
        data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        with self._lock:
            path = self.path(day_of(received_at))
            fd = self._open(day_of(received_at), path)
            view = memoryview(data)
            while view:  # a regular file takes the whole buffer in one write; loop on a short one
                view = view[os.write(fd, view) :]
        return path

    def _open(self, day: str, path: Path) -> int:
        if day != self._day:
            self.close()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._day = day
        return self._fd

    def close(self) -> None:
        """Close the current file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._day = -1, ""


def _plain(value: Any) -> Any:
    """Return a cell as JSON can hold it: numpy scalars as Python values, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# ---------------------------------------------------------------------------- reading a day


@dataclass
class ServingStats:
    """What ops sees of a day of requests: counts and latency."""

    day: str
    requests: int = 0
    rows: int = 0
    rows_answered: int = 0
    rows_refused: int = 0
    requests_refused: int = 0
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_max: float | None = None
    files: int = 0
    torn_lines: int = 0  # a row cut by a kill in the middle of a write: skipped
    reasons: dict[str, int] = field(default_factory=dict)  # the most common refusal reasons

    def summary(self) -> dict[str, Any]:
        """Return the stats as a JSON-ready mapping."""
        return asdict(self)


def read_log_lines(folder: Path) -> tuple[list[dict[str, Any]], int, int]:
    """Return the rows of every log file in a day's folder, with the number of files and of torn lines."""
    rows: list[dict[str, Any]] = []
    torn, files = 0, sorted(folder.glob(f"{REQUEST_PREFIX}*.jsonl"))
    for path in files:
        for line in path.read_bytes().split(b"\n"):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                torn += 1
    return rows, len(files), torn


def read_request_day(
    folder: str | os.PathLike, contract: Contract
) -> tuple[pd.DataFrame, ServingStats]:
    """Return a day of requests as a monitoring batch (the answered rows, features typed) and its stats.

    The batch has the contract's id and feature columns, the answer's columns and the lineage
    (`run_id`), as a scored batch has; refused rows are counted in the stats, not monitored.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MonitoringError(
            f"request folder {folder} not found: turn request logging on (see docs/how-to/serve.md)"
        )
    rows, files, torn = read_log_lines(folder)
    if not rows:
        raise MonitoringError(
            f"request folder {folder} holds no logged request: nothing to monitor"
        )
    log = pd.DataFrame(rows)
    stats = serving_stats(log, folder.name, files, torn)
    answered = log[log["status"] == ANSWERED].reset_index(drop=True)
    if answered.empty:
        raise MonitoringError(
            f"request folder {folder}: all {len(log)} logged rows were refused: nothing answered to monitor"
        )
    return typed_features(answered, contract), stats


def serving_stats(log: pd.DataFrame, day: str, files: int = 0, torn: int = 0) -> ServingStats:
    """Return the counts and latency percentiles of logged rows (one latency per request)."""
    requests = log.drop_duplicates("request_id")
    latency = pd.to_numeric(requests["latency_ms"], errors="coerce").dropna().to_numpy()
    refused = log["status"] == REFUSED
    reasons = log.loc[refused, "reason"].astype(str).str.split(": ").str[0].value_counts().head(5)
    return ServingStats(
        day=day,
        requests=len(requests),
        rows=len(log),
        rows_answered=int((~refused).sum()),
        rows_refused=int(refused.sum()),
        requests_refused=int(log.loc[refused, "request_id"].nunique()),
        latency_ms_p50=_percentile(latency, 50),
        latency_ms_p99=_percentile(latency, 99),
        latency_ms_max=float(latency.max()) if len(latency) else None,
        files=files,
        torn_lines=torn,
        reasons={str(k): int(v) for k, v in reasons.items()},
    )


def _percentile(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def typed_features(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Return logged rows with the contract's numbers as numbers and its other columns as text."""
    typed = {}
    for rule in contract.columns:
        if rule.name not in frame.columns:
            continue
        values = frame[rule.name]
        if rule.type in ("int", "float"):
            typed[rule.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif rule.type == "date":
            typed[rule.name] = pd.to_datetime(values, errors="coerce")
        else:
            typed[rule.name] = values.astype(object).where(values.notna(), None)
    return frame.assign(**typed)

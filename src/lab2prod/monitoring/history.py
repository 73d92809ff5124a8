"""The monitoring history: an append-only CSV table in the lake, one row per monitoring event, and MLflow metrics.

``<lake>/monitoring/history.csv`` gets one row per event (``monitor``: drift and,
when labels came, realized performance; ``retrain``: a retraining decision),
keyed by model name, version and batch. Rows are only ever appended: the file
is opened with ``O_APPEND`` under an exclusive lock and each row goes out in a
single ``write``, so earlier bytes are never touched and a crash cannot leave a
rewritten table. The same headline numbers go to MLflow as metrics of a
monitoring run, so they can be charted next to the training runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.errors import MonitoringError

COLUMNS = [
    "recorded_at",
    "kind",
    "batch_id",
    "model_name",
    "model_version",
    "run_id",
    "rows",
    "drift_share",
    "dataset_drift",
    "drifted_features",
    "prediction_drift",
    "positive_rate",
    "reference_positive_rate",
    "metric",
    "realized",
    "holdout",
    "degraded",
    "status",
    "decision",
    "details",
]
KINDS = ("monitor", "retrain")


def now_utc() -> str:
    """Return the current time in universal time as an ISO string (seconds)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if value != value else repr(round(value, 6))
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def format_row(record: dict[str, Any]) -> str:
    """Return one CSV line of the history for `record` (keys outside COLUMNS refused)."""
    unknown = sorted(set(record) - set(COLUMNS))
    if unknown:
        raise MonitoringError(
            f"history record has unknown field(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}"
        )
    if record.get("kind") not in KINDS:
        raise MonitoringError(
            f"history record kind {record.get('kind')!r}; use one of {', '.join(KINDS)}"
        )
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(record.get(c)) for c in COLUMNS])
    return buffer.getvalue()


def append_record(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Append one row to the history at `path` (created with its header when absent); earlier rows are never rewritten."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"recorded_at": now_utc(), **record}
    line = format_row(record)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size == 0:
            line = ",".join(COLUMNS) + "\n" + line
        else:
            with open(path, encoding="utf-8") as fh:
                header = fh.readline().rstrip("\n")
            if header != ",".join(COLUMNS):
                raise MonitoringError(
                    f"{path}: its header is not this version's history layout; "
                    "move the file aside (it is kept, never rewritten) and monitor again"
                )
        data = line.encode("utf-8")
        if os.write(fd, data) != len(data):  # a short write would leave a torn row: say so loudly
            raise MonitoringError(f"{path}: short write while appending; check the disk")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """Return the history table (empty, with its columns, when the file does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise MonitoringError(f"{path}: not a monitoring history (lacks {', '.join(missing)})")
    for column in (
        "rows",
        "drift_share",
        "positive_rate",
        "reference_positive_rate",
        "realized",
        "holdout",
    ):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in ("dataset_drift", "prediction_drift", "degraded"):
        frame[column] = frame[column].map({"true": True, "false": False})
    return frame


def log_metrics_to_mlflow(record: dict[str, Any], experiment_id: str, step: int) -> str:
    """Log a history record's headline numbers as metrics of a new monitoring run; return the run id."""
    import mlflow

    numbers = {k: record.get(k) for k in ("drift_share", "positive_rate", "realized", "holdout")}
    metrics = {k: float(v) for k, v in numbers.items() if isinstance(v, (int, float)) and v == v}
    for flag in ("dataset_drift", "prediction_drift", "degraded"):
        if record.get(flag) is not None:
            metrics[flag] = float(bool(record[flag]))
    metrics.update(_estimate_metrics(record.get("details")))
    tags = {
        f"monitoring.{k}": _cell(record.get(k))
        for k in (
            "kind",
            "batch_id",
            "model_name",
            "model_version",
            "run_id",
            "status",
            "metric",
            "decision",
        )
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{record.get('kind')}-{record.get('batch_id')}"
    ) as run:
        mlflow.set_tags(tags)
        mlflow.log_metrics(metrics, step=step)
    return run.info.run_id


def _estimate_metrics(details: Any) -> dict[str, float]:
    """Return the estimated metrics (estimated_<m>, _low, _high) and realized value of a record's details as MLflow metrics."""
    if not isinstance(details, dict):
        return {}
    out = {}
    for name, bounds in (details.get("estimate") or {}).items():
        for end, suffix in (("value", ""), ("low", "_low"), ("high", "_high")):
            v = bounds.get(end)
            if isinstance(v, (int, float)) and v == v:
                out[f"estimated_{name}{suffix}"] = float(v)
    if isinstance(details.get("realized_value"), (int, float)):
        out["realized_value"] = float(details["realized_value"])
    return out

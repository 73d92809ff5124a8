"""The infrastructure check: load a registered model in a fresh process and score a sample of its own signature.

A model that cannot be loaded, or that fails on rows shaped like its input
example, must never become the champion. The check runs
``python -m lab2prod.release.infra_check`` in a subprocess of the same
interpreter, so nothing cached in the calling process (imported modules,
loaded models) can hide a broken artifact.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException


@dataclass(frozen=True)
class InfraCheck:
    """The outcome of the fresh-process check and its timings."""

    ok: bool
    model_uri: str
    load_seconds: float | None = None
    latency_ms_one_row: float | None = None
    latency_ms_batch: float | None = None
    batch_rows: int = 0
    error: str | None = None

    def as_tags(self) -> dict[str, str]:
        """Return the check as flat MLflow tags."""
        tags = {"infra.ok": str(self.ok).lower(), "infra.batch_rows": str(self.batch_rows)}
        for key in ("load_seconds", "latency_ms_one_row", "latency_ms_batch"):
            value = getattr(self, key)
            if value is not None:
                tags[f"infra.{key}"] = f"{value:.4f}"
        if self.error:
            tags["infra.error"] = self.error[:500]
        return tags


class StartedCheck:
    """An infrastructure check running in its fresh process (`start_infra_check`).

    `result()` waits for its answer; `stop()` ends it unread (a model the gate rejected). Used as a
    context manager, a check still running at the block's end is stopped.
    """

    def __init__(self, model_uri: str, cmd: list[str], timeout: float):
        self.model_uri, self.timeout = model_uri, timeout
        self._deadline = time.monotonic() + timeout
        self._error: str | None = None
        self._process: subprocess.Popen | None = None
        try:
            self._process = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        except OSError as exc:
            self._error = f"cannot start {cmd[0]}: {exc}"

    def result(self) -> InfraCheck:
        """Wait for the check (until its timeout, counted from its start); return its outcome."""
        if self._process is None:
            return InfraCheck(ok=False, model_uri=self.model_uri, error=self._error)
        try:
            out, err = self._process.communicate(
                timeout=max(0.0, self._deadline - time.monotonic())
            )
        except subprocess.TimeoutExpired:
            self.stop()
            return InfraCheck(
                ok=False, model_uri=self.model_uri, error=f"no answer within {self.timeout:.0f} s"
            )
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if self._process.returncode != 0 or not lines:
            last = (err.strip().splitlines() or ["no output"])[-1]
            return InfraCheck(
                ok=False,
                model_uri=self.model_uri,
                error=f"exit {self._process.returncode}: {last}",
            )
        return InfraCheck(**json.loads(lines[-1]))

    def stop(self) -> None:
        """End the check's process if it still runs, and reap it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()

    def __enter__(self) -> StartedCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_infra_check(
    model_uri: str,
    tracking_uri: str,
    rows: int = 1000,
    timeout: float = 300.0,
    python: str | None = None,
) -> StartedCheck:
    """Start the check of the model at `model_uri` in a fresh `python` process; return it running.

    The caller goes on with its own work while the fresh process imports MLflow and loads the model
    (seconds), then asks `result()`.
    """
    cmd = [
        python or sys.executable,
        "-m",
        "lab2prod.release.infra_check",
        model_uri,
        "--tracking-uri",
        tracking_uri,
        "--rows",
        str(rows),
    ]
    return StartedCheck(model_uri, cmd, timeout)


def infra_check(
    model_uri: str,
    tracking_uri: str,
    rows: int = 1000,
    timeout: float = 300.0,
    python: str | None = None,
) -> InfraCheck:
    """Return the check of the model at `model_uri`, loaded and scored in a fresh `python` process."""
    with start_infra_check(model_uri, tracking_uri, rows, timeout, python) as check:
        return check.result()


def _probe(model_uri: str, tracking_uri: str, rows: int) -> dict:
    """Load the model, score one row and a batch tiled from its input example; return the timings."""

    if rows < 1:
        raise SystemExit(f"--rows {rows}: the check scores at least 1 row")
    mlflow.set_tracking_uri(tracking_uri)
    start = time.perf_counter()
    # suppress_warnings: MLflow's comparison of the model's pip requirements with this environment
    # (a scan of every installed distribution, about a second) only warns, on stderr nobody reads
    # when the check passes; the verdict is the load and the predictions
    model = mlflow.pyfunc.load_model(model_uri, suppress_warnings=True)
    load_seconds = time.perf_counter() - start
    example = model.input_example
    if example is None:
        raise SystemExit(
            "the model was logged without an input example: no sample matches its signature"
        )
    example = pd.DataFrame(example)
    batch = pd.concat([example] * math.ceil(rows / len(example)), ignore_index=True).head(rows)
    id_name = _id_column(model)
    # tiled rows are distinct cases: the contract refuses a repeated id
    if id_name in batch.columns:
        batch[id_name] = [f"{value}-{i}" for i, value in enumerate(batch[id_name])]
    start = time.perf_counter()
    model.predict(batch.head(1))
    one = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    out = model.predict(batch)
    if isinstance(out, pd.DataFrame):  # lab2prod's named answer: its numbers (probabilities, value)
        out = out.select_dtypes("number")
    out = np.asarray(out, dtype="float64")
    many = (time.perf_counter() - start) * 1000
    if len(out) != len(batch):
        raise SystemExit(f"the model returned {len(out)} predictions for {len(batch)} rows")
    if not np.isfinite(out).all():
        raise SystemExit("the model returned non-finite predictions on its own input example")
    return asdict(
        InfraCheck(
            ok=True,
            model_uri=model_uri,
            load_seconds=load_seconds,
            latency_ms_one_row=one,
            latency_ms_batch=many,
            batch_rows=len(batch),
        )
    )


def _id_column(model) -> str | None:
    """Return the id column of lab2prod's pyfunc (its contract's), None for any other model."""

    try:
        inner = model.unwrap_python_model()
    except (MlflowException, AttributeError):
        return None
    contract = getattr(inner, "contract", None)
    return getattr(contract, "id_column", None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Load a model in this fresh process and score its input example."
    )
    parser.add_argument("model_uri")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--rows", type=int, default=1000)
    ns = parser.parse_args()
    print(json.dumps(_probe(ns.model_uri, ns.tracking_uri, ns.rows)))

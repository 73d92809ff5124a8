"""`lab2prod score` under faults: SIGKILL halfway, and a disk that fills up while it writes.

Real processes of the console command on a real batch; the full disk is a
file-size limit (RLIMIT_FSIZE) on the scoring process, so its writes fail
partway with EFBIG as they would with ENOSPC.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lane import maker

from lab2prod.scoring.score import quarantine_path_for
from lab2prod.scoring.summary import summary_path_for

from .conftest import scoring_champion

BIN = Path(sys.executable).parent
CONTRACT = Path(__file__).resolve().parents[2] / "data/contracts/credit.yaml"
STAMP = "2026-01-01T00:00:00Z"
ROWS = 100_000
# whole processes on a batch that takes seconds: minutes on 2 cores, with the builds
pytestmark = pytest.mark.integration


def write_big_batch(normalized: Path, folder: Path) -> Path:
    """Write ROWS rows resampled from `normalized` (the credit rows), unique ids, one bad cell, into `folder`; return the file."""
    frame = pd.read_csv(normalized, dtype=str, keep_default_na=False)
    frame = frame.drop(columns=["Status"])
    rng = np.random.default_rng(7)
    rows = frame.iloc[rng.integers(0, len(frame), ROWS)].reset_index(drop=True)
    rows["applicant_id"] = [f"b{i:07d}" for i in range(ROWS)]
    rows.loc[11, "Expenses"] = "lots"  # one row for the quarantine
    path = folder / "batch.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def big_batch(champion, tmp_path_factory):
    """A batch that takes seconds to score (`write_big_batch`) for the session's champion."""
    return write_big_batch(champion["normalized"], tmp_path_factory.mktemp("batch"))


def _command(src: Path, out: Path, champion: dict) -> list[str]:
    return [
        str(BIN / "lab2prod"),
        "score",
        "--input",
        str(src),
        "--output",
        str(out),
        "--model",
        champion["model_uri"],
        "--contract",
        str(CONTRACT),
        "--chunk-rows",
        "10000",
        "--scored-at",
        STAMP,
    ]


def _own_tmpdir(tmp_path: Path, environ: dict[str, str]) -> dict[str, str]:
    """`environ` for a scoring process whose temporary folders (the model copy) are this run's own.

    A SIGKILLed process cannot remove them; they are removed with `tmp_path`, and nothing in the
    machine's shared temporary folder (another checkout's runs) is ever looked at or removed.
    """
    own = tmp_path / "tmp"
    own.mkdir(exist_ok=True)
    return {**environ, "TMPDIR": str(own)}


def _outputs(out: Path) -> list[Path]:
    return [out, quarantine_path_for(out), summary_path_for(out)]


@dataclass(frozen=True)
class KillRun:
    """What make_scoring_kill ran: a whole run, a run SIGKILLed while it wrote, the same run again."""

    reference: Path  # the whole run's predictions
    out: Path  # the killed run's predictions, written again by the rerun
    whole: subprocess.CompletedProcess
    killed_returncode: int
    complete_after_kill: list[str]  # outputs that looked complete right after the kill
    left_after_kill: list[str]  # what the killed run left in its output folder
    rerun: subprocess.CompletedProcess


@maker("scoring_kill")
def make_scoring_kill(tmp_path_factory, environ) -> KillRun:
    """Score a big batch for a champion of its own, then kill a second run halfway and run it again."""
    champion, env = scoring_champion(tmp_path_factory, environ)
    tmp_path = tmp_path_factory.mktemp("scoring-kill")
    batch = write_big_batch(Path(champion["normalized"]), tmp_path)
    reference = tmp_path / "reference" / "pred.csv"
    whole = subprocess.run(
        _command(batch, reference, champion), env=env, capture_output=True, text=True, timeout=600
    )
    out = tmp_path / "killed" / "pred.csv"
    out.parent.mkdir()
    scoring = subprocess.Popen(
        _command(batch, out, champion),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_own_tmpdir(tmp_path, env),  # what the kill leaves behind stays in tmp_path
        start_new_session=True,  # its own process group: the kill reaches its workers too
    )
    deadline = time.monotonic() + 300
    try:
        # halfway: the predictions file is being written (its temporary file has bytes)
        while not any(p.stat().st_size > 0 for p in out.parent.glob(".pred.csv.*.tmp")):
            assert scoring.poll() is None, "scoring finished before it could be killed"
            assert time.monotonic() < deadline, "the predictions were never written"
            time.sleep(0.005)
    finally:
        os.killpg(scoring.pid, signal.SIGKILL)
        scoring.wait()
    complete = [p.name for p in _outputs(out) if p.exists()]
    left = sorted(p.name for p in out.parent.iterdir())
    rerun = subprocess.run(
        _command(batch, out, champion), env=env, capture_output=True, text=True, timeout=600
    )
    return KillRun(reference, out, whole, scoring.returncode, complete, left, rerun)


@pytest.fixture(scope="session")
def scoring_kill(lane, request) -> KillRun:
    """The runs of make_scoring_kill, made by the second lane."""
    return lane.get(request, "scoring_kill")


def test_killed_halfway_leaves_nothing_that_looks_complete_and_the_rerun_gives_the_same_bytes(
    scoring_kill,
):
    run = scoring_kill
    assert run.whole.returncode == 0, run.whole.stderr[-2000:]
    assert run.killed_returncode == -signal.SIGKILL
    assert run.complete_after_kill == [], "a killed run left a complete-looking output"
    left = run.left_after_kill
    assert left and all(name.startswith(".") and name.endswith(".tmp") for name in left), left
    assert run.rerun.returncode == 0, run.rerun.stderr[-2000:]
    assert run.out.read_bytes() == run.reference.read_bytes()
    assert (
        quarantine_path_for(run.out).read_bytes() == quarantine_path_for(run.reference).read_bytes()
    )


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_that_fills_up_while_scoring_gives_one_line_and_leaves_the_outputs_as_they_were(
    champion, big_batch, tmp_path
):
    out = tmp_path / "out" / "pred.csv"
    out.parent.mkdir()
    (out.parent / "earlier.csv").write_text("id\n1\n")  # what was there before the run
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    done = subprocess.run(
        _command(big_batch, out, champion),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_file_size(256 * 1024),  # a write past 256 KiB fails: the disk is full
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if not line.startswith("read ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert "File too large" in lines[0]
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before

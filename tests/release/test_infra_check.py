"""The infrastructure check's process: started, then read or stopped (stand-in interpreters, no MLflow)."""

from __future__ import annotations

import json
import time

from lab2prod.release.infra_check import infra_check, start_infra_check

ANSWER = {"ok": True, "model_uri": "models:/m/1", "load_seconds": 1.5, "batch_rows": 10}


def _interpreter(tmp_path, body: str):
    """A stand-in for `python -m lab2prod.release.infra_check ...`: a shell script that runs `body`."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_started_check_runs_beside_the_caller_and_gives_its_answer(tmp_path):
    python = _interpreter(tmp_path, f"sleep 0.5; echo 'loading'; echo '{json.dumps(ANSWER)}'")
    began = time.monotonic()
    with start_infra_check("models:/m/1", "sqlite:///x.db", python=python) as started:
        assert time.monotonic() - began < 0.5  # started, not waited for
        time.sleep(0.5)  # the caller's own work, while the check runs
        check = started.result()
    assert check.ok and check.load_seconds == 1.5 and check.batch_rows == 10
    assert time.monotonic() - began < 5


def test_a_stopped_check_ends_its_process_and_a_late_one_says_its_timeout(tmp_path):
    python = _interpreter(tmp_path, "exec sleep 60")
    began = time.monotonic()
    with start_infra_check("models:/m/1", "sqlite:///x.db", python=python) as started:
        process = started._process
    assert process.poll() is not None  # the block's end stopped it: nothing left running
    late = infra_check("models:/m/1", "sqlite:///x.db", timeout=0.5, python=python)
    assert not late.ok and late.error == "no answer within 0 s"
    assert time.monotonic() - began < 10


def test_a_check_that_fails_or_cannot_start_says_why(tmp_path):
    python = _interpreter(
        tmp_path, "echo 'Traceback ...' >&2; echo 'OSError: not found' >&2; exit 1"
    )
    failed = infra_check("models:/m/1", "sqlite:///x.db", python=python)
    assert not failed.ok and failed.error == "exit 1: OSError: not found"
    missing = infra_check("models:/m/1", "sqlite:///x.db", python=str(tmp_path / "nowhere"))
    assert not missing.ok and missing.error.startswith(f"cannot start {tmp_path / 'nowhere'}: ")

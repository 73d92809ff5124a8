"""The project's build lock: a second build says so in one line and waits; a killed holder leaves no lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lab2prod_ploomber.lock import project_lock

CHILD_BUILD = """
import sys, time
from pathlib import Path
from lab2prod_ploomber.lock import project_lock

with project_lock(sys.argv[1]):
    Path(sys.argv[2]).write_text(str(time.time()))
"""


def test_a_second_build_of_the_project_says_so_in_one_line_and_waits(tmp_path):
    lock, product = tmp_path / ".lab2prod-build.lock", tmp_path / "out.txt"
    script = tmp_path / "child_build.py"
    script.write_text(CHILD_BUILD)
    with project_lock(lock):
        child = subprocess.Popen(
            [sys.executable, str(script), str(lock), str(product)],
            stderr=subprocess.PIPE,
            text=True,
        )
        line = child.stderr.readline()  # blocks until the child reaches the lock
        assert "another build of this project holds" in line and f"pid {os.getpid()}" in line
        time.sleep(0.5)
        assert not product.exists(), "the second build ran while the first held the lock"
        released = time.time()
    assert child.wait(timeout=120) == 0
    assert float(product.read_text()) >= released
    assert child.stderr.read().strip() == ""  # one line, no traceback
    # nobody holds it now: taking it says nothing and does not wait
    with project_lock(lock):
        pass


def test_no_lock_configured_means_no_lock_file(tmp_path):
    with project_lock(None):
        assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")  # a lock path under a file cannot be made
    with (
        pytest.raises(OSError, match="File exists|Not a directory"),
        project_lock(tmp_path / "file" / "lock"),
    ):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    lock = tmp_path / ".lab2prod-build.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom lab2prod_ploomber.lock import project_lock\n"
            "with project_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
    finally:
        holder.kill()  # SIGKILL: no finally block of the holder runs
        holder.wait()
    started = time.perf_counter()
    with project_lock(lock):
        assert time.perf_counter() - started < 5

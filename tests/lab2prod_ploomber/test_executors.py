"""The Parallel executor of pipeline.yaml: tasks run side by side while the scheduler sleeps instead of spinning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ploomber import DAG
from ploomber.products import File
from ploomber.tasks import PythonCallable

from lab2prod_ploomber.executors import Parallel

# Samples the scheduling thread's state in /proc from another process (a thread of this one would
# make a spinning loop wait for the GIL, and so look asleep): R = running or waiting for a core,
# S = asleep. A loop that spins is R in every sample however loaded the machine is; one that
# sleeps is S in nearly all of them. Runs until the parent closes its stdin; prints R and samples.
SAMPLER = """
import sys, threading, time
stat = f"/proc/{sys.argv[1]}/task/{sys.argv[1]}/stat"
running = samples = 0
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.wait(0.01):
    try:
        state = open(stat).read().rpartition(")")[2].split()[0]
    except OSError:
        break
    samples += 1
    running += state == "R"
print(running, samples)
"""


def _meet_then_write(product, other):
    """Say this task started, wait (at most 60 s) until the other task has started too, then record the times."""
    product = Path(str(product))
    product.with_suffix(".started").touch()
    start, deadline = time.time(), time.time() + 60
    while not product.with_name(f"{other}.started").exists():
        if time.time() > deadline:
            raise RuntimeError(f"task {other} never started while {product.stem} ran")
        time.sleep(0.05)
    time.sleep(1.0)  # both running: the scheduler has nothing to do but wait
    product.write_text(f"{start} {time.time()}")


def test_two_tasks_run_side_by_side_while_the_scheduler_sleeps(tmp_path):
    # behaviour, not speed: each task waits for the other to start (a serial executor would fail it),
    # and the scheduler's thread is asleep while they run (Ploomber's own Parallel spins there)
    dag = DAG(executor=Parallel(processes=2))
    for name, other in (("a", "b"), ("b", "a")):
        PythonCallable(
            _meet_then_write,
            File(tmp_path / f"{name}.txt"),
            dag,
            name=name,
            params={"other": other},
        )
    dag.render(show_progress=False)
    sampler = subprocess.Popen(
        [sys.executable, "-c", SAMPLER, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        report = dag.build(show_progress=False)
    finally:
        running, samples = map(int, sampler.communicate("", timeout=60)[0].split())
    assert sorted(zip(report["name"], report["Ran?"])) == [("a", True), ("b", True)]
    (a_start, a_end), (b_start, b_end) = (
        [float(t) for t in (tmp_path / f"{n}.txt").read_text().split()] for n in ("a", "b")
    )
    assert a_start < b_end and b_start < a_end, "the two tasks did not run side by side"
    assert samples >= 20, f"only {samples} samples of the scheduler's state"
    assert running / samples < 0.5, (
        f"the scheduler was running in {running} of {samples} samples while the tasks waited"
    )


def _write_omp_threads(product):
    import os

    Path(str(product)).write_text(os.environ.get("OMP_NUM_THREADS", "unset"))


def test_each_task_gets_its_share_of_the_cores_unless_the_user_set_it(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    for preset, expected in ((None, "2"), ("3", "3")):
        if preset is None:
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OMP_NUM_THREADS", preset)
        folder = tmp_path / str(preset)
        folder.mkdir()
        dag = DAG(executor=Parallel(processes=2))
        PythonCallable(_write_omp_threads, File(folder / "threads.txt"), dag, name="threads")
        dag.build(show_progress=False)
        assert (
            folder / "threads.txt"
        ).read_text() == expected  # 4 cores / 2 processes, or the user's value
        import os

        assert (
            os.environ.get("OMP_NUM_THREADS") == preset
        )  # the parent's environment is left as it was


def _fail(product):
    raise ValueError("the source table is empty")


def _log_something(product):
    import logging

    logging.getLogger("lab2prod.test").warning("a record from the task process")
    Path(str(product)).write_text("ok")


def test_a_build_logs_to_its_file_and_a_failed_one_keeps_its_log(tmp_path, capsys):
    import pytest
    from ploomber.exceptions import DAGBuildError

    log = tmp_path / "logs" / "build.log"
    dag = DAG(executor=Parallel(processes=2, log=str(log)))
    PythonCallable(_log_something, File(tmp_path / "ok.txt"), dag, name="fine")
    dag.build(show_progress=False)
    text = log.read_text()
    assert text.startswith("build started") and "a record from the task process" in text
    assert not list(log.parent.glob("failed-*.log"))

    dag = DAG(executor=Parallel(processes=2, log=str(log)))
    PythonCallable(_fail, File(tmp_path / "never.txt"), dag, name="broken")
    with pytest.raises(DAGBuildError, match="broken"):
        dag.build(show_progress=False)
    (kept,) = log.parent.glob("failed-*.log")
    assert "build FAILED" in kept.read_text() and "the source table is empty" in kept.read_text()
    assert "a record from the task process" not in log.read_text()  # a fresh log per build
    assert f"its full log is {kept}" in capsys.readouterr().err


def test_notebook_tasks_get_the_ipc_kernel_manager(tmp_path):
    from ploomber.tasks import NotebookRunner

    from lab2prod_ploomber.executors import KERNEL_MANAGER

    source = tmp_path / "nb.py"
    source.write_text("# + tags=['parameters']\nproduct = None\n\n# +\nx = 1\n")
    dag = DAG(executor=Parallel(processes=1))
    NotebookRunner(source, File(tmp_path / "out.ipynb"), dag, name="nb", kernelspec_name="python3")
    dag.build(show_progress=False)
    assert dag["nb"].executor_params["kernel_manager_class"] == KERNEL_MANAGER
    assert (tmp_path / "out.ipynb").exists()

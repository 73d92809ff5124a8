"""The Parallel executor of pipeline.yaml: tasks run side by side while the scheduler sleeps instead of spinning."""

from __future__ import annotations

import resource
import time
from pathlib import Path

from ploomber import DAG
from ploomber.products import File
from ploomber.tasks import PythonCallable

from lab2prod_ploomber.executors import Parallel

SLEEP = 1.5


def _sleep_then_write(product):
    start = time.time()
    time.sleep(SLEEP)
    Path(str(product)).write_text(f"{start} {time.time()}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_two_sleeping_tasks_run_side_by_side_while_the_main_process_idles(tmp_path):
    dag = DAG(executor=Parallel(processes=2))
    for name in ("a", "b"):
        PythonCallable(_sleep_then_write, File(tmp_path / f"{name}.txt"), dag, name=name)
    dag.render(show_progress=False)
    cpu, wall = _cpu_seconds(), time.perf_counter()
    report = dag.build(show_progress=False)
    cpu, wall = _cpu_seconds() - cpu, time.perf_counter() - wall
    assert sorted(zip(report["name"], report["Ran?"])) == [("a", True), ("b", True)]
    (a_start, a_end), (b_start, b_end) = (
        [float(t) for t in (tmp_path / f"{n}.txt").read_text().split()] for n in ("a", "b")
    )
    assert a_start < b_end and b_start < a_end, "the two tasks did not run side by side"
    # Ploomber's own Parallel spins its scheduling loop here (about `wall` seconds of CPU)
    assert cpu < 0.5, f"the main process used {cpu:.2f} s of CPU in {wall:.1f} s of waiting"


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

"""The second lane: the session's whole builds, made in background threads while the tests run.

The suite keeps about one core busy (one test, one kernel at a time); CI machines have two. The
session's large products are independent subprocesses (`ploomber build` of a project copy, Airflow's
run of the training DAG), so `WORKERS` threads of this process make them, taken in the order of
`PRODUCTS`, while the tests that need none of them run first (`order`). Two threads: one build at a
time left the test process idle for minutes, waiting for the last builds, while the other core had
room for a second build.

A product's fixture asks `Lane.get(request, name)`: the product made in the background, or made right
there when it was not queued or has not started (a test file run alone; then no thread waits in
between). A failed product fails its fixture: the maker's error is raised where the product is
asked. The makers never read `os.environ`, which tests change (monkeypatch): they get `environ`,
the environment at the session's start.

The lane keeps each product's time (how long it took to make, how long a test waited for it):
`Lane.timings()`, printed at the end of the session (tests/conftest.py), shows whether the builds or the
tests are the session's critical path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

WORKERS = 2  # builds made side by side

# the products in the order the lane makes them (and the tests that read them run)
# (Airflow's run, the longest, second: a thread starts it at once, so it is ready before its tests;
# the killed and resumed builds of tests/integration/test_build_faults.py third, after the sample build;
# the command-line runs of the monitoring, scoring and Ploomber tests last, when a thread is free and the tests'
# thread still has minutes of work)
PRODUCTS = [
    "built",
    "airflow_project",
    "fault_builds",
    "byod_project",
    "survey_project",
    "multiclass_project",
    "roles_project",
    "repro_runs",
    "nbval_run",
    "front_door_runs",
    "table_replays",
    "same_seed_runs",
    "pipeline_score_run",
    "scoring_ways",
    "scoring_kill",
    "serving_log",
    "ploomber_runs",
]


@dataclass(frozen=True)
class Maker:
    """How a product is made: `make(tmp_path_factory, environ, **fixtures)`, where `needs(environ)`
    names the fixtures (made in the main thread, before the product is queued) it needs."""

    make: Callable[..., Any]
    needs: Callable[[dict[str, str]], list[str]]


MAKERS: dict[str, Maker] = {}


def maker(name: str, needs: Callable[[dict[str, str]], list[str]] = lambda environ: []):
    """Register the decorated function as the maker of the product `name` (one of PRODUCTS)."""
    assert name in PRODUCTS, name

    def register(make: Callable[..., Any]) -> Callable[..., Any]:
        MAKERS[name] = Maker(make, needs)
        return make

    return register


def needed(item: Any) -> list[str]:
    """The products a test item needs (its fixture closure), in PRODUCTS order."""
    return [name for name in PRODUCTS if name in item.fixturenames]


def order(items: list[Any]) -> None:
    """Sort `items` in place, stably: the tests that need no product first, then by the last product
    they need in PRODUCTS order, so that the lane's products are ready by the time they are asked."""
    items.sort(key=lambda item: max((PRODUCTS.index(n) for n in needed(item)), default=-1))


class Lane:
    """`WORKERS` background threads that make the queued products in order, and the time each took."""

    def __init__(self, tmp_path_factory: Any, environ: dict[str, str], workers: int = WORKERS):
        self.factory, self.environ = tmp_path_factory, dict(environ)
        # pytest makes the session's base temporary folder on the first call, unlocked: made here,
        # in the main thread, a test's tmp_path and a lane's mktemp cannot make two at once (then
        # mktemp finds its folder outside the base pytest kept and raises ValueError)
        tmp_path_factory.getbasetemp()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lane")
        self._jobs: dict[str, Future] = {}
        self._made: dict[str, tuple[str, float, float]] = {}  # name -> (where, start, end)
        self._waited: dict[str, float] = {}  # name -> seconds a test waited for it
        self._started = time.monotonic()

    def _fixtures(self, request: Any, name: str) -> dict[str, Any]:
        """The fixtures product `name` needs, made here in the main thread."""
        return {n: request.getfixturevalue(n) for n in MAKERS[name].needs(self.environ)}

    def _make(self, name: str, fixtures: dict[str, Any]) -> Any:
        """Make product `name` in this thread and record when."""
        start = time.monotonic()
        try:
            return MAKERS[name].make(self.factory, self.environ, **fixtures)
        finally:
            self._made[name] = (threading.current_thread().name, start, time.monotonic())

    def queue(self, request: Any, name: str) -> None:
        """Make product `name` in the background, after those queued before it."""
        self._jobs[name] = self._pool.submit(self._make, name, self._fixtures(request, name))

    def get(self, request: Any, name: str) -> Any:
        """Return product `name`: waited for when it is being made, else made here and now."""
        job = self._jobs.get(name)
        if job is not None and not job.cancel():  # running or done: wait for it
            start = time.monotonic()
            try:
                return job.result()
            finally:
                self._waited[name] = self._waited.get(name, 0.0) + time.monotonic() - start
        return self._make(name, self._fixtures(request, name))

    def timings(self) -> list[str]:
        """One line per product made: where, when it started and ended (seconds from the lane's start), how long a test waited."""
        lines = []
        for name, (where, start, end) in sorted(self._made.items(), key=lambda item: item[1][1]):
            lines.append(
                f"{name:<20} {where:<10} {start - self._started:6.0f} s -> {end - self._started:6.0f} s"
                f" ({end - start:4.0f} s), tests waited {self._waited.get(name, 0.0):4.0f} s"
            )
        return lines

    def close(self) -> None:
        """Drop what has not started; wait for what has (a session stopped early, by -x or a
        failure, waits for the builds in progress: it says so)."""
        running = [name for name, job in self._jobs.items() if job.running()]
        if running:
            print(
                f"\nwaiting for the lane's builds in progress to end: {', '.join(running)}",
                flush=True,
            )
        self._pool.shutdown(wait=True, cancel_futures=True)

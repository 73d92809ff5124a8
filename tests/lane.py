"""The second lane: the session's whole builds, made in a background thread while the tests run.

The suite keeps about one core busy (one test, one kernel at a time); CI machines have two. The
session's large products are independent subprocesses (`ploomber build` of a project copy, Airflow's
run of the training DAG), so they are made one after another in one thread of this process, in the
order of `PRODUCTS`, while the tests that need none of them run first (`order`).

A product's fixture asks `Lane.result(name)`: the product made in the background, or made right
there when it was not queued or has not started (a test file run alone; then no thread waits in
between). A failed product fails its fixture: the maker's error is raised where the product is
asked. The makers never read `os.environ`, which tests change (monkeypatch): they get `environ`,
the environment at the session's start.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

# the products in the order the lane makes them (and the tests that read them run)
PRODUCTS = [
    "built",
    "byod_project",
    "survey_project",
    "multiclass_project",
    "roles_project",
    "airflow_project",
    "repro_runs",
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
    """One background thread that makes the queued products in order."""

    def __init__(self, tmp_path_factory: Any, environ: dict[str, str]):
        self.factory, self.environ = tmp_path_factory, dict(environ)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lane")
        self._jobs: dict[str, Future] = {}

    def _fixtures(self, request: Any, name: str) -> dict[str, Any]:
        """The fixtures product `name` needs, made here in the main thread."""
        return {n: request.getfixturevalue(n) for n in MAKERS[name].needs(self.environ)}

    def queue(self, request: Any, name: str) -> None:
        """Make product `name` in the background, after those queued before it."""
        fixtures = self._fixtures(request, name)
        self._jobs[name] = self._pool.submit(
            MAKERS[name].make, self.factory, self.environ, **fixtures
        )

    def get(self, request: Any, name: str) -> Any:
        """Return product `name`: waited for when it is being made, else made here and now."""
        job = self._jobs.get(name)
        if job is not None and not job.cancel():  # running or done: wait for it
            return job.result()
        return MAKERS[name].make(self.factory, self.environ, **self._fixtures(request, name))

    def close(self) -> None:
        """Drop what has not started; wait for what has (a session stopped early, by -x or a
        failure, waits for the build in progress: it says so)."""
        running = [name for name, job in self._jobs.items() if job.running()]
        if running:
            print(f"\nwaiting for the lane's build in progress to end: {running[0]}", flush=True)
        self._pool.shutdown(wait=True, cancel_futures=True)

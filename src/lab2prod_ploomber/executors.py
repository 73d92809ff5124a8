"""A parallel executor for `pipeline.yaml`: Ploomber's own, without its busy wait.

Ploomber 0.23.3's `ploomber.executors.Parallel` schedules tasks in a
`while True` loop that never sleeps: while the grid cells run, the main
process spins one core at 100%. On a 2-core machine that leaves one core for
two notebook processes, and the grid is barely faster than the serial
executor (ratio 0.84 measured with `benchmarks/grid.py`).

The loop reads `self._i` (an iteration counter) each time it finds no task
ready to start. Here that counter is a property whose getter waits
`poll_seconds`, so an idle scheduler sleeps instead of spinning; a task that
becomes ready is started at most `poll_seconds` later.

It also shares the cores between the tasks it runs side by side: unless
OMP_NUM_THREADS is set, each task process gets cores / processes OpenMP
threads (HistGradientBoosting and friends would otherwise start one thread
per core in every cell and fight over the cores).

And it holds the project's build lock (`lock`, pipeline.yaml passes
`{{root}}/.lab2prod-build.lock`) for the whole build: a second `ploomber build`
of the same project says so in one line and waits for the first to finish, so
two builds never interleave their writes into one lake or one registry; it then
decides again what is outdated and runs only what the first left to do. The
lock is an `flock` on an open file: the kernel drops it when the build ends,
however it ends (SIGKILL included), so a killed build leaves no stale lock.
"""

from __future__ import annotations

import os
import time

from ploomber.executors import Parallel as _PloomberParallel

from lab2prod_ploomber.lock import project_lock


class Parallel(_PloomberParallel):
    """`ploomber.executors.Parallel` that sleeps while no task is ready and gives each task its share of the cores."""

    poll_seconds = 0.05

    def __init__(self, *args, lock: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = lock

    def __call__(self, dag, show_progress):
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.processes)))
        added = "OMP_NUM_THREADS" not in os.environ
        if added:
            os.environ["OMP_NUM_THREADS"] = (
                threads  # inherited by the task processes and their kernels
            )
        try:
            with project_lock(self.lock) as waited:
                if waited:
                    # the build that held the lock has changed the products: decide again what is
                    # outdated, so this one runs only what is still left to do
                    dag._clear_metadata()
                    dag.render(force=False, show_progress=False)
                return super().__call__(dag, show_progress)
        finally:
            if added:
                os.environ.pop("OMP_NUM_THREADS", None)

    @property
    def _i(self) -> int:
        # read only by the scheduling loop, once on each pass that found nothing to start
        time.sleep(self.poll_seconds / 2)  # the loop reads the counter twice per pass
        return self._passes

    @_i.setter
    def _i(self, value: int) -> None:
        self._passes = value

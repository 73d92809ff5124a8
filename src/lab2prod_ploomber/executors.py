"""A parallel executor for `pipeline.yaml`: Ploomber's own, without its busy wait.

Ploomber 0.23.3's `ploomber.executors.Parallel` schedules tasks in a
`while True` loop that never sleeps: while the grid cells run, the main
process spins one core at 100%. On a 2-core machine that leaves one core for
two notebook processes, and the grid is barely faster than the serial
executor (`benchmarks/grid.py` compares them).

The loop reads `self._i` (an iteration counter) each time it finds no task
ready to start. Here that counter is a property whose getter waits
`poll_seconds`, so an idle scheduler sleeps instead of spinning; a task that
becomes ready is started at most `poll_seconds` later.

It also shares the cores between the tasks it runs side by side: unless
OMP_NUM_THREADS is set, each task process gets cores / processes OpenMP
threads (HistGradientBoosting and friends would otherwise start one thread
per core in every cell and fight over the cores).

It holds the project's build lock (`lock`, pipeline.yaml passes
`{{root}}/.lab2prod-build.lock`) for the whole build: a second `ploomber build`
of the same project says so in one line and waits for the first to finish, so
two builds never interleave their writes into one lake or one registry; it then
decides again what is outdated and runs only what the first left to do. The
lock is an `flock` on an open file: the kernel drops it when the build ends,
however it ends (SIGKILL included), so a killed build leaves no stale lock.

Every notebook task's kernel is started by `kernels.IPCKernelManager`: Unix
sockets in a private folder instead of TCP ports picked in advance, so two
kernels starting at once cannot race for a port (papermill #511).

With `tmp:` (pipeline.yaml names `<products>/tmp`) the build's processes take their
temporary folders inside the project, not in the machine's shared one
(scratch.build_tmpdir): nothing another checkout or test run cleans up can
remove a folder a task is reading.

With `log:` (pipeline.yaml names `<products>/logs/build.log`) each build
writes its full log there: the log records of Ploomber, Papermill and
lab2prod, the kernels' stderr, and for a failed build every task's error
with its traceback. A failed build's log is also kept as
`failed-<time>.log` beside it, so a later build does not overwrite it,
and the path is printed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from ploomber.executors import Parallel as _PloomberParallel

from lab2prod_ploomber.kernels import LOG_ENV, IPCKernelManager
from lab2prod_ploomber.lock import project_lock
from lab2prod_ploomber.scratch import build_tmpdir

KERNEL_MANAGER = f"{IPCKernelManager.__module__}.{IPCKernelManager.__qualname__}"


class Parallel(_PloomberParallel):
    """`ploomber.executors.Parallel` that sleeps while no task is ready and gives each task its share of the cores."""

    poll_seconds = 0.05

    def __init__(
        self,
        *args,
        lock: str | None = None,
        log: str | None = None,
        tmp: str | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.lock = lock
        self.log = log
        self.tmp = tmp

    def __call__(self, dag, show_progress):
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.processes)))
        saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", LOG_ENV)}
        if saved["OMP_NUM_THREADS"] is None:
            # inherited by the task processes and their kernels
            os.environ["OMP_NUM_THREADS"] = threads
        for name in dag:
            task = dag[name]
            if getattr(task, "executor", None) == "papermill":  # a NotebookRunner
                task.executor_params.setdefault("kernel_manager_class", KERNEL_MANAGER)
        root_level = logging.getLogger().level
        handler = None
        try:
            with project_lock(self.lock) as waited:
                if waited:
                    # the build that held the lock has changed the products: decide again what is
                    # outdated, so this one runs only what is still left to do
                    dag._clear_metadata()
                    dag.render(force=False, show_progress=False)
                handler = self._open_log()  # inside the lock: a waiting build leaves the log alone
                # inside the lock too: what is left in `tmp` is a killed build's, never a running one's
                with build_tmpdir(self.tmp, locked=self.lock is not None):
                    return super().__call__(dag, show_progress)
        except BaseException as exc:
            if handler is not None:
                self._keep_failed_log(handler, exc)
            raise
        finally:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
                logging.getLogger().setLevel(root_level)
                handler.close()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _open_log(self) -> logging.Handler | None:
        """Start this build's log: a fresh file at `self.log`, fed by every logger and the kernels."""
        if not self.log:
            return None
        path = Path(self.log)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"build started {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} in {Path.cwd()}, "
            f"pid {os.getpid()}, {self.processes} processes\n",
            encoding="utf-8",
        )
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        root = logging.getLogger()
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        os.environ[LOG_ENV] = str(path.resolve())  # the kernels' stderr (kernels.IPCKernelManager)
        return handler

    def _keep_failed_log(self, handler: logging.Handler, exc: BaseException) -> None:
        """Append the error to the log, keep a copy named by the time, and say where it is."""
        path = Path(self.log)
        handler.flush()
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(f"\nbuild FAILED: {type(exc).__name__}\n{exc}\n")
        kept = path.with_name(f"failed-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.log")
        shutil.copyfile(path, kept)
        print(f"the build failed: its full log is {kept}", file=sys.stderr)

    @property
    def _i(self) -> int:
        # read only by the scheduling loop, once on each pass that found nothing to start
        time.sleep(self.poll_seconds / 2)  # the loop reads the counter twice per pass
        return self._passes

    @_i.setter
    def _i(self, value: int) -> None:
        self._passes = value

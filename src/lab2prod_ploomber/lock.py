"""The project's build lock: one `ploomber build` at a time per project folder.

An `flock` on an open file, so the kernel releases it when the holder ends,
however it ends (SIGKILL included): a killed build leaves no stale lock. No
Ploomber import here, so holding or testing the lock costs nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path


@contextlib.contextmanager
def project_lock(path: str | os.PathLike | None):
    """Hold an exclusive lock on `path` (None: no lock); when another build holds it, say so once and wait.

    Yields True when it had to wait (the other build may have changed what is up to date).
    """
    if path is None:
        yield False
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    waited = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            print(
                f"lab2prod: another build of this project holds {path} ({holder}): "
                "waiting for it to finish",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
        yield waited
    finally:
        os.close(fd)  # closing the last descriptor releases the lock

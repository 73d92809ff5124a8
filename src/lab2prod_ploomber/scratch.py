"""The build's own temporary folders: under the project, where no other process looks.

Every process of a build (the task processes, their kernels, lab2prod's model copies, Papermill's
and MLflow's temporary files) takes its temporary folders from ``TMPDIR``. On a shared machine
the system's temporary folder is shared by every checkout, user and test run: a test that cleans
up "its" `/tmp/lab2prod-*` folders, or a tmp reaper, removes another build's folder while it is
being read (`register` would lose the model it has just copied to `/tmp/lab2prod-model-*`). So for the length of a build `TMPDIR` points at a folder of the project
(`pipeline.yaml` passes `{{root}}/{{products}}/tmp`), made afresh by each build.

Unix socket paths are short (about 100 bytes), and a project folder can be deep: the kernels'
sockets get their own small folder in the system's temporary folder, with a unique name no one
else makes, named to the kernel manager by ``LAB2PROD_KERNEL_DIR`` (kernels.IPCKernelManager).

A killed build cannot remove its folders: the next build of the project removes what is left in
its ``tmp`` folder (it holds the project's lock, so no build of this project is using it), and the
socket folder each build links there (``build-*.sockets``); `make clean` removes the products.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

KERNEL_DIR_ENV = "LAB2PROD_KERNEL_DIR"
SOCKETS_PREFIX = "l2p-"  # a build's socket folder in the system's temporary folder
SOCKETS_LINK = ".sockets"  # <project tmp>/build-*.sockets -> that folder


@contextlib.contextmanager
def build_tmpdir(folder: str | os.PathLike | None, locked: bool = True) -> Iterator[Path | None]:
    """Point TMPDIR (and `tempfile`) at a fresh folder inside `folder` for the length of the block.

    `locked`: the caller holds the project's build lock, so what an earlier, killed build left in
    `folder` is removed first. None: nothing changes (yields None). Everything is restored and
    removed when the block ends, however it ends.
    """
    if folder is None:
        yield None
        return
    folder = Path(folder)
    if locked and folder.is_dir():
        for stale in folder.iterdir():  # a killed build's leftovers: no build of ours uses them
            if stale.is_symlink():  # build-*.sockets: the socket folder it made, then the link
                target = Path(os.readlink(stale))
                if stale.name.endswith(SOCKETS_LINK) and target.name.startswith(SOCKETS_PREFIX):
                    shutil.rmtree(target, ignore_errors=True)
                stale.unlink(missing_ok=True)
            elif stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    system = tempfile.gettempdir()  # before TMPDIR moves: short enough for sockets
    private = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
    sockets = tempfile.mkdtemp(prefix=SOCKETS_PREFIX, dir=system)
    link = folder / f"{private.name}{SOCKETS_LINK}"  # the next build finds it if this one dies
    link.symlink_to(sockets)
    saved = {name: os.environ.get(name) for name in ("TMPDIR", KERNEL_DIR_ENV)}
    saved_tempdir = tempfile.tempdir
    os.environ["TMPDIR"] = str(private)
    os.environ[KERNEL_DIR_ENV] = sockets
    tempfile.tempdir = str(private)  # this process has already read TMPDIR once
    try:
        yield private
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)
        link.unlink(missing_ok=True)

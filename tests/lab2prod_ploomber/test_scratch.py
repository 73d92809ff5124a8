"""The build's own temporary folders: inside the project while it runs, gone when it ends."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab2prod_ploomber.kernels import IPCKernelManager
from lab2prod_ploomber.scratch import KERNEL_DIR_ENV, build_tmpdir


def test_a_build_takes_its_temporary_folders_in_the_project_and_removes_them(tmp_path):
    folder = tmp_path / "products" / "tmp"
    stale = folder / "build-killed"  # what a SIGKILLed build of this project left
    stale.mkdir(parents=True)
    (stale / "lab2prod-model-x").mkdir()
    killed_sockets = tmp_path / "l2p-killed"  # its socket folder, and the link to it
    killed_sockets.mkdir()
    (folder / "build-killed.sockets").symlink_to(killed_sockets)
    elsewhere = (
        tmp_path / "not-ours"
    )  # a link the build did not make: the link goes, not the folder
    elsewhere.mkdir()
    (folder / "a-link").symlink_to(elsewhere)
    system = tempfile.gettempdir()
    with build_tmpdir(folder) as private:
        assert private.parent == folder and not stale.exists()
        assert not killed_sockets.exists() and elsewhere.is_dir()
        assert sorted(p.name for p in folder.iterdir()) == [private.name, f"{private.name}.sockets"]
        assert tempfile.gettempdir() == str(private) == os.environ["TMPDIR"]
        with tempfile.TemporaryDirectory(prefix="lab2prod-model-") as copy:
            assert Path(copy).parent == private
        # a task process, a kernel: they inherit it
        child = subprocess.run(
            [sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == str(private)
        # the kernels' sockets: a short folder of the system's temporary folder, not the project's
        sockets = os.environ[KERNEL_DIR_ENV]
        assert Path(sockets).parent == Path(system)
        km = IPCKernelManager(kernel_name="python3")
        assert Path(km.connection_file).parent.parent == Path(sockets) and km.transport == "ipc"
    assert tempfile.gettempdir() == system and KERNEL_DIR_ENV not in os.environ
    assert list(folder.iterdir()) == [] and not os.path.exists(sockets)


def test_without_a_folder_nothing_changes_and_a_folder_that_is_a_file_is_refused(tmp_path):
    before = (tempfile.gettempdir(), os.environ.get("TMPDIR"))
    with build_tmpdir(None) as private:
        assert private is None
        assert (tempfile.gettempdir(), os.environ.get("TMPDIR")) == before
    blocker = tmp_path / "tmp"
    blocker.write_text("not a folder")
    with pytest.raises(FileExistsError, match="tmp"), build_tmpdir(blocker, locked=False):
        pass
    assert (tempfile.gettempdir(), os.environ.get("TMPDIR")) == before

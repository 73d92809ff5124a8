"""Ingest on a disk that fills up: the ingest notebook fails with one line and the lake is as it was.

The full disk is a file-size limit (RLIMIT_FSIZE) on the process that runs the
ingest notebook under Papermill: every write past the limit fails with EFBIG,
as it would with ENOSPC. The lake already holds an ingest of the bundled
sources; the new run brings a changed source, so it has new files to land.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from lab2prod import settings
from lab2prod.data import ingest, lake
from tests.conftest import copy_project

BIN = Path(sys.executable).parent


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def ingested(tmp_path):
    """A project copy whose lake holds today's ingest; its applications source then changes by one cell."""
    root = copy_project(tmp_path / "project")
    catalog = settings.load_catalog(root / "data/sources/credit/catalog.yaml")
    ingest.ingest(
        catalog, settings.load_contract(root / "data/contracts/credit.yaml"), root / "data/lake"
    )
    source = root / "data/sources/credit/applications.csv"
    lines = source.read_text().splitlines(keepends=True)
    header, first = lines[0].split(","), lines[1].split(",")
    first[header.index("Seniority")] = "7"
    source.write_text("".join([lines[0], ",".join(first), *lines[2:]]))
    return root


def _ingest_with_limit(root: Path, limit: int, out: Path) -> subprocess.CompletedProcess:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [
            str(BIN / "papermill"),
            str(root / "notebooks/ingest.ipynb"),
            str(out),
            "-p",
            "root",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=apply,
    )


@pytest.mark.integration  # a notebook under Papermill per case: 20 s of a loaded core each
@pytest.mark.parametrize(
    ("limit", "where"),
    [(64 * 1024, "landing the changed source"), (300 * 1024, "writing the normalized table")],
)
def test_a_full_disk_during_ingest_is_one_line_and_leaves_the_lake_as_it_was(
    ingested, tmp_path, limit, where
):
    before = _files(ingested / "data/lake")
    done = _ingest_with_limit(ingested, limit, tmp_path / "ingest.ipynb")
    assert done.returncode != 0, f"ingest did not fail while {where}"
    message = [line for line in done.stderr.splitlines() if "cannot write" in line]
    assert message, done.stderr[-3000:]
    assert "File too large" in message[-1] and "free disk space" in message[-1], message[-1]
    assert _files(ingested / "data/lake") == before, f"the lake changed after a failure {where}"
    assert not (ingested / "products/ingest.json").exists()


def test_an_atomic_write_that_fails_names_the_file_and_what_to_do(tmp_path):
    """The one line the lake's writes give, in a process that cannot write more than 1 KiB."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "from pathlib import Path\n"
        "from lab2prod.data import lake\n"
        "from lab2prod.errors import Lab2ProdError\n"
        "try:\n"
        "    lake.atomic_write_text(Path(sys.argv[1]), 'x' * 4096)\n"
        "except Lab2ProdError as exc:\n"
        "    print(exc)\n"
    )
    target = tmp_path / "big.txt"
    target.write_text("before")
    done = subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(f"{target}: cannot write (File too large)")
    assert target.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == ["big.txt"]
    assert lake.atomic_write_text(target, "after").read_text() == "after"

"""nbval over the pipeline notebooks, inside `pytest tests`: the second lane runs it beside the tests.

`make test-notebooks` runs the same command alone. Run by the lane (tests/lane.py), the notebooks'
kernels use the core the tests leave free once the lane's builds are made, instead of running after
the whole suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from lane import maker

PROJECT = Path(__file__).resolve().parents[1]
PYTEST = str(Path(sys.executable).parent / "pytest")
NBVAL_OPTIONS = ("--nbval-lax", "-p", "no:cacheprovider")  # make test-notebooks' options


def nbval_notebooks() -> list[str]:
    """Return the notebooks `make test-notebooks` runs under nbval: the Makefile's NOTEBOOKS, in order."""
    makefile = (PROJECT / "Makefile").read_text(encoding="utf-8")
    names = re.search(r"^NOTEBOOKS\s*:?=\s*(.+)$", makefile, flags=re.MULTILINE).group(1).split()
    return [f"notebooks/{name}.ipynb" for name in names]


def test_notebooks_command_is_the_makefiles():
    # the lane runs what `make test-notebooks` runs: the same options, the Makefile's NOTEBOOKS
    makefile = (PROJECT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^test-notebooks:.*\n\t(.+)$", makefile, flags=re.MULTILINE).group(1)
    assert (
        recipe
        == "$(BIN)/pytest "
        + " ".join(NBVAL_OPTIONS)
        + " $(foreach n,$(NOTEBOOKS),notebooks/$(n).ipynb)"
    )
    assert nbval_notebooks()[0] == "notebooks/ingest.ipynb" and len(nbval_notebooks()) >= 12


@maker("nbval_run")
def make_nbval_run(tmp_path_factory, environ) -> subprocess.CompletedProcess:
    """Run nbval over the pipeline notebooks as `make test-notebooks` does (the project's root conftest
    copies the project to a temporary folder first)."""
    return subprocess.run(
        [PYTEST, *NBVAL_OPTIONS, *nbval_notebooks()],
        cwd=PROJECT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="session")
def nbval_run(lane, request):
    """nbval's run over the pipeline notebooks, made by the second lane."""
    return lane.get(request, "nbval_run")


@pytest.mark.integration
def test_every_pipeline_notebook_passes_nbval_on_its_defaults(nbval_run):
    out = nbval_run.stdout + nbval_run.stderr
    assert nbval_run.returncode == 0, out[-6000:]
    # every notebook was collected and each of its cells passed
    for notebook in nbval_notebooks():
        assert re.search(rf"^{re.escape(notebook)} \.+ ", out, flags=re.MULTILINE), (
            notebook,
            out[-3000:],
        )
    summary = re.search(r"=+ (\d+) passed in ", out)
    assert summary and int(summary.group(1)) >= len(nbval_notebooks()), out[-3000:]
    assert not re.search(r"\b\d+ (failed|errors?)\b", out), out[-3000:]

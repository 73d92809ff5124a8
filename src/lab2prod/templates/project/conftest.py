"""nbval runs the pipeline notebooks in a temporary copy of the project, never in the working tree.

`make test-notebooks` passes the notebooks in pipeline order; this hook copies
the project (release/repro.py copy_project: sources, contracts, the commit) to a temporary folder and points the
notebooks (through LAB2PROD_ROOT) and MLflow at it before any kernel starts.
Every run (`pytest tests` too) limits OpenMP to one thread per process and registers the
`readiness` marker of the ML Test Score (`lab2prod readiness`).
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# One OpenMP thread per process, for this process and every build, kernel and server the tests start:
# the tests run processes side by side (grid cells, kernels, infra checks) on a small machine, and
# scikit-learn's OpenMP models (HistGradientBoosting) then fight over the cores: a small fit takes
# several times longer with the default threads than with one (benchmarks/RESULTS.md). An explicit
# OMP_NUM_THREADS is kept. Set when pytest imports this file, before tests/conftest.py imports
# NumPy: OpenBLAS reads it once, at load (set later, in pytest_configure, the tests' own process
# would keep two BLAS threads, whose spinning on a loaded machine multiplies the CPU time of a test
# fitting a logistic regression).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# This environment's commands first on PATH, as `make test` puts them: tests, builds and kernels run
# `lab2prod`, `ploomber` and `papermill` by name, also under a bare `.venv/bin/pytest`.
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN, os.environ.get("PATH", "")])


def pytest_configure(config):
    # the ML Test Score's marker (`lab2prod readiness` reads it from tests/ with ast, without running them)
    config.addinivalue_line(
        "markers", 'readiness(*ids): ML Test Score evidence, e.g. readiness("data 1")'
    )
    if not getattr(config.option, "nbval_lax", False) and not getattr(
        config.option, "nbval", False
    ):
        return
    from lab2prod.release.repro import (
        copy_project,  # the copy the builds of the tests use, with the git commit
    )

    root = Path(tempfile.mkdtemp(prefix="lab2prod-nbval-"))
    copy_project(HERE, root)
    os.environ["LAB2PROD_ROOT"] = str(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    config._lab2prod_nbval_root = root


def pytest_unconfigure(config):
    root = getattr(config, "_lab2prod_nbval_root", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)

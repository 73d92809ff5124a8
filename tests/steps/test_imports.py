"""Each step module loads only what its notebooks need: the light steps' kernels import no scikit-learn.

Every notebook of a build imports its step's module in a kernel of its own, and the build's
critical path runs one notebook after another, so a second of imports a notebook does not need is a
second of every build (docs/explanation/layout.md, "Imports"). The modules are imported in a fresh
interpreter each, as a kernel imports them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "skops.io", "matplotlib", "lab2prod.serving.model")

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))
"""


def loaded(module: str) -> list[str]:
    """Return which of HEAVY a fresh interpreter holds after importing `module`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module, *HEAVY], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        "lab2prod.steps.data",  # ingest, validate, split
        "lab2prod.steps.training",  # start, train, select
        "lab2prod.steps.release",  # check, register, report
    ],
)
def test_a_step_module_loads_no_trainer_no_model_and_no_plotting(module):
    assert loaded(module) == []


def test_the_probe_sees_scikit_learn_where_a_model_is_evaluated():
    # the failure path: evaluate's module does need scikit-learn, and the probe says so
    assert "sklearn" in loaded("lab2prod.steps.evaluation")

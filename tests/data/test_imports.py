"""The data room stands on its own: no module of `lab2prod.data` pulls in `lab2prod.settings`.

Settings reads files and hands typed values to `data/`; the other way round was an import cycle
(contract -> sources -> settings -> contract). Each module is imported in a fresh interpreter,
because an earlier import in this process would hide the cycle.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import lab2prod.data

MODULES = sorted(f"lab2prod.data.{m.name}" for m in pkgutil.iter_modules(lab2prod.data.__path__))

PROBE = """
import importlib, sys
importlib.import_module({module!r})
leaked = sorted(m for m in sys.modules if m == "lab2prod.settings" or m.startswith("lab2prod.cli"))
print(",".join(leaked))
"""


def _start(module: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PROBE.format(module=module)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _leaked(module: str, proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"importing {module} failed: {err.strip().splitlines()[-1:]}"
    return out.strip()


@pytest.fixture(scope="module")
def probes() -> dict[str, str]:
    """Every module's probe, the interpreters started together (they share the cores)."""
    started = {module: _start(module) for module in [*MODULES, "lab2prod.settings"]}
    return {module: _leaked(module, proc) for module, proc in started.items()}


def test_the_data_room_has_its_modules():
    assert {"lab2prod.data.cells", "lab2prod.data.catalog", "lab2prod.data.contract"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_a_data_module_imports_without_settings(module, probes):
    assert probes[module] == ""


def test_the_probe_sees_settings_when_it_is_imported(probes):
    # the failure path: the probe would notice a module that does import settings
    assert probes["lab2prod.settings"] == "lab2prod.settings"

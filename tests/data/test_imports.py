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


def _leaked(module: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, (
        f"importing {module} failed: {proc.stderr.strip().splitlines()[-1:]}"
    )
    return proc.stdout.strip()


def test_the_data_room_has_its_modules():
    assert {"lab2prod.data.cells", "lab2prod.data.catalog", "lab2prod.data.contract"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_a_data_module_imports_without_settings(module):
    assert _leaked(module) == ""


def test_the_probe_sees_settings_when_it_is_imported():
    # the failure path: the probe would notice a module that does import settings
    assert _leaked("lab2prod.settings") == "lab2prod.settings"

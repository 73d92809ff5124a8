"""The data room stands on its own: no module of `lab2prod.data` pulls in `lab2prod.settings`.

Settings reads files and hands typed values to `data/`; the other way round was an import cycle
(contract -> sources -> settings -> contract). An earlier import of lab2prod in the same process
would hide the cycle, so each module is imported with no module of lab2prod loaded: in one fresh
interpreter that forgets every `lab2prod` module before the next import (the third-party
libraries, seconds of imports, are loaded once).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import lab2prod.data

MODULES = sorted(f"lab2prod.data.{m.name}" for m in pkgutil.iter_modules(lab2prod.data.__path__))

PROBE = """
import importlib, json, sys
found = {}
for module in sys.argv[1:]:
    for name in [m for m in sys.modules if m == "lab2prod" or m.startswith("lab2prod.")]:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    except Exception as exc:
        found[module] = f"importing {module} failed: {type(exc).__name__}: {exc}"
        continue
    leaked = sorted(m for m in sys.modules if m == "lab2prod.settings" or m.startswith("lab2prod.cli"))
    found[module] = ",".join(leaked)
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def probes() -> dict[str, str]:
    """What importing each module (and lab2prod.settings, last) leaves loaded, from one fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *MODULES, "lab2prod.settings"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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

"""What importing lab2prod does to the process."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import os, lab2prod; print(os.environ.get('MLFLOW_DISABLE_TELEMETRY'))"


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MLFLOW_DISABLE_TELEMETRY"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def test_mlflow_telemetry_is_off_unless_the_user_opts_in():
    assert _probe() == "true"  # MLflow reads this before it sends anything to mlflow-telemetry.io
    assert _probe(MLFLOW_DISABLE_TELEMETRY="false") == "false"


def _python_files(root) -> set[str]:
    """The names of the .py files under `root`, its hidden folders (.venv, .venv-airflow, .git) left out."""
    names = set()
    for _, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        names.update(name for name in files if name.endswith(".py"))
    return names


def test_the_layout_pages_map_names_every_module_and_nothing_that_is_gone():
    # "The rooms" block of docs/explanation/layout.md is the map of the house: it and the tree must agree
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    layout = (root / "docs" / "explanation" / "layout.md").read_text(encoding="utf-8")
    rooms = layout.split("## The rooms\n```\n", 1)[1].split("```", 1)[0]
    modules = {
        path.name
        for package in ("lab2prod", "lab2prod_ploomber")
        for path in (root / "src" / package).rglob("*.py")
        if path.name != "__init__.py"
    }
    assert sorted(m for m in modules if m not in rooms) == [], "modules missing from the map"
    named = set(re.findall(r"[\w]+\.py\b", rooms))
    existing = _python_files(root)
    assert sorted(named - existing) == [], "the map names files that are gone"
    for folder in re.findall(r"^ {0,2}([\w./-]+/)[\s,]", rooms, flags=re.MULTILINE):
        places = (
            root / folder,
            root / "src" / "lab2prod" / folder,
        )  # rooms of the package indented
        assert any(p.is_dir() for p in places) or folder == "data/lake/", (
            f"the map names a folder that is gone: {folder}"
        )


def test_the_package_names_no_demo():
    """The credit demo is an instance of the toolkit: its names live in env files, data/ and notebooks/, never in the package."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "src" / "lab2prod"
    naming = [
        str(path.relative_to(package))
        for path in package.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and b"credit" in path.read_bytes().lower()
    ]
    assert naming == []

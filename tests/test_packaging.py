"""Packaging: the Pythons lab2prod supports, and its wheel installed (not editable) in a fresh venv."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from conftest import PROJECT

PACKAGES = ("lab2prod", "lab2prod_ploomber")
WORKFLOW = PROJECT / ".github" / "workflows" / "test.yml"


def _requires_python() -> SpecifierSet:
    with (PROJECT / "pyproject.toml").open("rb") as f:
        return SpecifierSet(tomllib.load(f)["project"]["requires-python"])


def _makefile_pythons() -> list[str]:
    """The Makefile's PYTHON_VERSIONS, in its order of preference."""
    text = (PROJECT / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^PYTHON_VERSIONS := (.+)$", text, flags=re.MULTILINE).group(1).split()


def test_the_makefiles_pythons_are_exactly_those_requires_python_allows():
    allowed = [f"3.{minor}" for minor in range(6, 30) if f"3.{minor}.0" in _requires_python()]
    pythons = _makefile_pythons()
    assert sorted(pythons, key=lambda v: int(v.split(".")[1])) == allowed
    assert pythons[0] == "3.11"  # preferred: the full suite runs on it in CI


def test_the_test_workflow_runs_the_oldest_and_the_newest_python():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    matrix = workflow["jobs"]["unit"]["strategy"]["matrix"]["python"]
    pythons = _makefile_pythons()
    assert matrix == [pythons[0], max(pythons, key=lambda v: int(v.split(".")[1]))]


def test_make_install_refuses_a_python_outside_the_supported_ones(tmp_path):
    venv = tmp_path / "venv"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "install",
            f"VENV={venv}",
            f"PYTHON={sys.executable}",
            "PYTHON_VERSIONS=3.99",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    running = "{}.{}".format(*sys.version_info[:2])
    assert f"is Python {running}; lab2prod runs on Python 3.99: make install PYTHON=" in done.stderr
    assert not venv.exists()


# ---- the wheel, installed in a fresh virtual environment ----


def _package_data() -> list[str]:
    """Every file of the packages that is not Python source: what the wheel must carry along."""
    found = []
    for package in PACKAGES:
        for path in (PROJECT / "src" / package).rglob("*"):
            if (
                path.is_file()
                and path.suffix not in (".py", ".pyc")
                and "__pycache__" not in path.parts
            ):
                found.append(path.relative_to(PROJECT / "src").as_posix())
    return sorted(found)


def _build_wheel(dest: Path) -> Path:
    """Build lab2prod's wheel from a copy of what it is made of (no build/ folder in the checkout)."""
    source = dest / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(PROJECT / "src", source / "src", ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(dest),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dest.glob("lab2prod-*.whl")
    return wheel


@dataclass(frozen=True)
class Installed:
    """lab2prod's wheel and the fresh venv it is installed in (not editable)."""

    wheel: Path
    venv: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """Build the wheel once for the module's wheel tests and install it, pinned, in a fresh venv."""
    dist = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(dist / "dist")
    venv = dist / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # pip's own cache (the real HOME's) is reused; only the lab2prod commands get a fresh HOME
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--progress-bar", "off"]
        + ["-c", str(PROJECT / "constraints.txt"), str(wheel)],
        check=True,
        capture_output=True,
        timeout=1500,
    )
    return Installed(wheel, venv)


def _home_and_work(tmp_path: Path) -> tuple[Path, Path]:
    """Make a test's fresh HOME and the folder its commands run in."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work


def _clean_env(home: Path, path: str) -> dict[str, str]:
    """Return this process's environment with `home` and `path`, and no trace of this checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "LAB2PROD_ROOT", "MLFLOW_TRACKING_URI")
    }
    env.update(HOME=str(home), PATH=path)
    return env


def _run(venv: Path, *args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """Run one of the fresh venv's commands with a fresh HOME and no trace of this checkout."""
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=_clean_env(home, f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.integration
@pytest.mark.wheel
@pytest.mark.skipif(
    not os.environ.get("LAB2PROD_TEST_WHEEL"),
    reason="installs every dependency into a fresh venv (1 to 4 min): make test-wheel runs it",
)
def test_the_wheel_installed_in_a_fresh_venv_carries_its_package_data(tmp_path, installed):
    from sklearn.datasets import load_diabetes

    wheel, venv = installed.wheel, installed.venv
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert [name for name in _package_data() if name not in names] == [], "left out of the wheel"

    home, work = _home_and_work(tmp_path)
    load_diabetes(as_frame=True, scaled=False).frame.to_csv(work / "diabetes.csv", index=False)

    helped = _run(venv, "lab2prod", "--help", cwd=work, home=home)
    assert helped.returncode == 0, helped.stderr
    assert "contract" in helped.stdout
    inferred = _run(
        venv,
        *("lab2prod", "contract", "infer", "--input", "diabetes.csv", "--target", "target"),
        *("--output", "diabetes.yaml"),
        cwd=work,
        home=home,
    )
    assert inferred.returncode == 0, inferred.stderr
    assert yaml.safe_load((work / "diabetes.yaml").read_text())["task"] == "regression"
    validated = _run(
        venv,
        *("lab2prod", "validate", "--input", "diabetes.csv", "--contract", "diabetes.yaml"),
        cwd=work,
        home=home,
    )
    assert validated.returncode == 0, validated.stderr
    assert "442 rows in, 442 pass, 0 quarantined" in validated.stdout

    probe = (
        "import json, lab2prod; from importlib import metadata;"
        "from lab2prod.reporting.render import _ENV;"
        "origin = json.loads(metadata.distribution('lab2prod').read_text('direct_url.json'));"
        "print(json.dumps([lab2prod.__file__, sorted(_ENV.list_templates()), origin]))"
    )
    shown = _run(venv, "python", "-c", probe, cwd=work, home=home)
    assert shown.returncode == 0, shown.stderr
    module, templates, origin = json.loads(shown.stdout)
    assert Path(module).is_relative_to(venv)  # the installed copy, not this checkout
    shipped = sorted(p.name for p in (PROJECT / "src/lab2prod/reporting/templates").iterdir())
    assert templates == shipped
    # the install records the wheel it came from and its hash (PEP 610): what a project made by
    # this lab2prod can pin until lab2prod is on an index
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (origin["url"], origin["archive_info"]["hashes"]) == (wheel.as_uri(), {"sha256": digest})
    # `lab2prod new` works from the wheel: the template is package data, and the project it makes
    # installs this same wheel (its requirements.txt names it)
    made = _run(
        venv,
        *("lab2prod", "new", "project", "--data", "diabetes.csv", "--target", "target"),
        cwd=work,
        home=home,
    )
    assert made.returncode == 0, made.stderr
    requirement = (work / "project" / "requirements.txt").read_text()
    assert f"lab2prod[notebooks,dev] @ {wheel.as_uri()}" in requirement
    assert (work / "project" / "notebooks" / "train.ipynb").is_file()
    assert (home / ".local/share/lab2prod/template/.git").is_dir()


def test_the_package_data_patterns_take_every_file_of_the_project_template():
    # setuptools globs package-data patterns recursively; glob's * skips dot files, hence their patterns
    import glob

    with (PROJECT / "pyproject.toml").open("rb") as f:
        patterns = tomllib.load(f)["tool"]["setuptools"]["package-data"]["lab2prod"]
    package = PROJECT / "src" / "lab2prod"
    taken = {
        Path(found).relative_to(package).as_posix()
        for pattern in patterns
        for found in glob.glob(str(package / pattern), recursive=True)
        if Path(found).is_file()
    }
    template = package / "templates" / "project"
    files = {
        p.relative_to(package).as_posix()
        for p in template.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert {".gitignore", ".ci/run", ".github/workflows/ci.yml", "copier.yml"} <= {
        name.removeprefix("templates/project/") for name in files
    }
    assert sorted(files - taken) == []


@pytest.mark.integration
@pytest.mark.wheel
@pytest.mark.skipif(
    not os.environ.get("LAB2PROD_TEST_WHEEL"),
    reason="installs every dependency twice and builds a pipeline (5 to 15 min): make test-wheel runs it",
)
def test_a_project_made_by_the_wheels_lab2prod_builds_and_registers_a_champion(tmp_path, installed):
    """The wheel in a fresh venv makes a project; the project's `make run` installs its own .venv
    from requirements.txt (that same wheel) and builds; score and monitor then need no option, and
    the project's `make test` passes."""
    from sklearn.datasets import load_breast_cancer

    venv = installed.venv
    home, work = _home_and_work(tmp_path)
    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.to_csv(work / "tumours.csv", index=False)
    made = _run(
        venv,
        *("lab2prod", "new", "tumours", "--data", "tumours.csv", "--target", "diagnosis"),
        cwd=work,
        home=home,
    )
    assert made.returncode == 0, made.stderr
    project = work / "tumours"
    env = _clean_env(home, f"/usr/bin{os.pathsep}/bin")
    built = subprocess.run(
        ["make", "run", f"PYTHON={sys.executable}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    probe = (
        "from mlflow import MlflowClient; import lab2prod;"
        "print(MlflowClient().get_model_version_by_alias('tumours', 'champion').version, lab2prod.__file__)"
    )
    shown = _run(project / ".venv", "python", "-c", probe, cwd=project, home=home)
    assert shown.returncode == 0, shown.stderr
    version, module = shown.stdout.split()
    assert int(version) >= 1
    assert Path(module).is_relative_to(project / ".venv")  # the wheel, installed in the project
    scored = _run(
        project / ".venv",
        *("lab2prod", "score", "--input", "data/sources/tumours/tumours.csv"),
        *("--output", "scored.csv"),
        cwd=project,
        home=home,
    )
    assert scored.returncode == 0, scored.stderr
    monitored = _run(
        project / ".venv", "lab2prod", "monitor", "--batch", "scored.csv", cwd=project, home=home
    )
    assert monitored.returncode in (0, 1), monitored.stderr  # 1: drift found
    tested = subprocess.run(  # the project's own tests: lint, its contract against its table, nbval
        ["make", "test"], cwd=project, env=env, capture_output=True, text=True, timeout=1800
    )
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]

"""`ploomber build` under faults: SIGKILL at two points, then two builds at once, in one project.

One small project (the sample env with a one-cell grid and 300 rows), built
from scratch by killed builds: during a grid cell, then during register (the
moment a model version exists, its gate not run); each time the next build
picks up from there, running only what the kill left undone, and the last one
completes. Then nothing is half-written and the registry is consistent. Two builds started together: the second waits for
the first in one line and finds nothing left to do.

The builds are subprocesses: the second lane makes them all (`make_fault_builds`, the product
`fault_builds`), recording what each step left, while the tests' own thread runs other tests; the
tests assert over that record and read the project's files after the last build.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from lane import maker
from mlflow import MlflowClient

from tests.conftest import BIN, build_env, copy_project, dag_steps, ploomber_build

pytestmark = pytest.mark.integration
MODEL = "credit-risk"


def _project(tmp_path_factory) -> Path:
    """A copy of the project whose env.test.yaml builds 300 rows with a one-cell grid."""
    root = copy_project(tmp_path_factory.mktemp("faults"))
    env = yaml.safe_load((root / "env.test.yaml").read_text())
    env.update(
        sample_rows=300,
        bootstrap_rounds=10,
        importance_repeats=1,
        grid=[
            {"family": ["linear"], "model_params": [{}]}
        ],  # one cell: the kills need a cell, not a search
    )
    (root / "env.test.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    return root


def _own_tmpdir(root: Path) -> Path:
    """The machine's temporary folder as the killed builds see it: this test's own, beside the project.

    The builds' own temporary folders are in the project (`<products>/tmp`); what a killed build
    leaves here is its kernels' socket folder, which the next build removes. Nothing in the
    machine's shared temporary folder (another checkout's builds) is looked at or removed.
    """
    own = root.parent / "tmp"
    own.mkdir(exist_ok=True)
    return own


def _start(root: Path, environ: dict[str, str]) -> subprocess.Popen:
    """Start `ploomber build` in `root` (`environ`: build_env's), in its own process group."""
    return subprocess.Popen(
        [str(BIN / "ploomber"), "build"],
        cwd=root,
        env={**build_env(root, environ), "TMPDIR": str(_own_tmpdir(root))},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches the kernels and task processes
    )


def _kill_when(build: subprocess.Popen, ready, what: str, timeout: float = 600) -> None:
    """SIGKILL the build's whole process group as soon as `ready()` is true."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if build.poll() is not None:
                out, err = build.communicate()
                pytest.fail(f"the build ended before {what}: {out[-1500:]}{err[-1500:]}")
            assert time.monotonic() < deadline, f"never reached {what}"
            time.sleep(0.02)
    finally:
        os.killpg(build.pid, signal.SIGKILL)
        build.communicate()
        # what the killed build could not remove is in the project's <products>/tmp (the next
        # build removes it) and in this test's own temporary folder: nothing to clean up here


def _ran(stdout: str) -> dict[str, bool]:
    """Which tasks a `ploomber build` ran, from the table it prints."""
    return {
        m.group(1): m.group(2) == "True"
        for m in re.finditer(r"^([\w-]+)\s+(True|False)\s", stdout, flags=re.MULTILINE)
    }


def _versions(root: Path) -> int:
    db = root / "mlflow.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM model_versions").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked by the writer this instant
        return 0


def _no_half_written_products(root: Path) -> None:
    leftovers = [
        p for folder in ("data/lake", "products", "reports") for p in (root / folder).rglob("*.tmp")
    ]
    assert leftovers == [], leftovers
    for book in (root / "products/notebooks").glob("*.ipynb"):
        nbformat.read(book, as_version=4)  # every executed notebook is whole
    for summary in (root / "products").glob("*.json"):
        json.loads(summary.read_text())
    for table in (root / "data/lake").rglob("*.csv"):
        pd.read_csv(table)


def _registry_is_consistent(root: Path) -> str:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    champion = client.get_model_version_by_alias(MODEL, "champion")
    tags = champion.tags
    assert tags["gate.decision"] == "promote" and tags["infra.ok"] == "true", tags
    files = Path(
        client.get_model_version_download_uri(MODEL, champion.version).removeprefix("file://")
    )
    assert (files / "MLmodel").is_file() and any(files.rglob("*.skops")), sorted(files.rglob("*"))
    return champion.version


@dataclass(frozen=True)
class FaultBuilds:
    """What the killed, resumed and concurrent builds of one project left at each step."""

    root: Path  # the project copy, as the last build left it
    # 1. killed during a grid cell, then during register; then a build completes
    select_after_cell_kill: bool  # products/select.json exists after the first kill
    versions_after_cell_kill: int
    register_after_register_kill: bool  # products/register.json exists after the second kill
    evaluate_after_register_kill: bool
    killed_tmp: list[Path]  # products/tmp after the two kills
    resumed: dict[str, bool]  # which tasks the completing build ran
    tmp_after_resume: list[Path]
    own_tmp_after_resume: list[Path]  # l2p-* in the builds' own temporary folder
    registered: dict  # products/register.json after the completing build
    status_after_resume: dict[str, str]  # what a build after it would run
    seconds: float  # the kills and the resumed build
    # 2. two builds at once, after the report notebook changed
    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    first_pid: int
    first_done: float  # time.monotonic() when the first ended
    second_done: float


def _done(build: subprocess.Popen, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """Wait for `build`; return its outcome and the time.monotonic() it ended at."""
    out, err = build.communicate(timeout=timeout)
    return subprocess.CompletedProcess(build.args, build.returncode, out, err), time.monotonic()


def _two_builds_at_once(
    project: Path, environ: dict[str, str]
) -> tuple[int, subprocess.CompletedProcess, float, subprocess.CompletedProcess, float]:
    """Start a build, then a second one as soon as the first holds the lock; return both outcomes."""
    # something for the first build to do: the report notebook changed
    dag_steps(project, ["append:notebooks/report.ipynb"], environ=environ)
    lock = project / ".lab2prod-build.lock"
    first = _start(project, environ)
    deadline = time.monotonic() + 300
    while f"pid {first.pid}," not in (lock.read_text() if lock.exists() else ""):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first build never took the lock"
        time.sleep(0.02)
    second = _start(project, environ)
    done1, first_done = _done(first, 600)
    done2, second_done = _done(second, 600)
    return first.pid, done1, first_done, done2, second_done


@maker("fault_builds")
def make_fault_builds(tmp_path_factory, environ) -> FaultBuilds:
    """Kill `ploomber build` during a grid cell and during register, complete it, then run two at once."""
    project = _project(tmp_path_factory)
    started = time.perf_counter()
    # 1. during a grid cell: the split is done and a train notebook is running
    _kill_when(
        _start(project, environ),
        lambda: (
            (project / "products/start.json").exists()
            and any((project / "products/notebooks").glob("train-*.ipynb"))
        ),
        "a grid cell",
    )
    select_after_cell_kill = (project / "products/select.json").exists()
    versions_after_cell_kill = _versions(project)
    # 2. during register: a model version exists, its gate has not run
    _kill_when(_start(project, environ), lambda: _versions(project) > 0, "register")
    register_after_register_kill = (project / "products/register.json").exists()
    evaluate_after_register_kill = (project / "products/evaluate.json").exists()
    # then a build completes, running only what the kills left undone
    killed_tmp = list((project / "products/tmp").iterdir())
    resumed = ploomber_build(project, environ=environ)
    tmp_after_resume = list((project / "products/tmp").iterdir())
    own_tmp_after_resume = list(_own_tmpdir(project).glob("l2p-*"))
    registered = json.loads((project / "products/register.json").read_text())
    (status_after_resume,) = dag_steps(project, ["status"], environ=environ)
    seconds = time.perf_counter() - started
    first_pid, first, first_done, second, second_done = _two_builds_at_once(project, environ)
    return FaultBuilds(
        project,
        select_after_cell_kill,
        versions_after_cell_kill,
        register_after_register_kill,
        evaluate_after_register_kill,
        killed_tmp,
        resumed,
        tmp_after_resume,
        own_tmp_after_resume,
        registered,
        status_after_resume,
        seconds,
        first,
        second,
        first_pid,
        first_done,
        second_done,
    )


@pytest.fixture(scope="session")
def fault_builds(lane, request) -> FaultBuilds:
    """The builds of make_fault_builds, made by the second lane."""
    return lane.get(request, "fault_builds")


def test_killed_builds_resume_and_leave_nothing_half_written(fault_builds):
    runs, project = fault_builds, fault_builds.root
    # 1. during a grid cell: the split is done and a train notebook is running
    assert not runs.select_after_cell_kill
    assert runs.versions_after_cell_kill == 0
    # 2. during register: a model version exists, its gate has not run
    assert not runs.register_after_register_kill
    assert runs.evaluate_after_register_kill
    # then a build completes, running only what the kills left undone: register again, and report
    assert runs.killed_tmp, "the killed builds made no temporary folders in the project"
    ran = runs.resumed
    done_before = ("ingest", "validate", "split", "start", "train-0", "select", "evaluate", "check")
    assert ran["register"] and ran["report"] and not any(ran[t] for t in done_before), ran
    # the killed builds' temporary folders went with the next build, the last one took its own,
    # and so did their kernels' socket folders in the machine's temporary folder
    assert runs.tmp_after_resume == []
    assert runs.own_tmp_after_resume == []
    # the files as the last build left them (register did not run again after the completing build)
    _no_half_written_products(project)
    champion = _registry_is_consistent(project)
    assert str(runs.registered["champion_version"]) == str(champion)
    assert runs.registered == json.loads((project / "products/register.json").read_text())
    # and the build after it has nothing to do
    assert set(runs.status_after_resume.values()) == {"Skipped"}
    print(f"kills and resumed builds: {runs.seconds:.0f} s")


def test_two_builds_at_once_the_second_waits_in_one_line(fault_builds):
    runs, project = fault_builds, fault_builds.root
    first, second = runs.first, runs.second
    out1, err1, out2, err2 = first.stdout, first.stderr, second.stdout, second.stderr
    assert first.returncode == 0 and second.returncode == 0, err1[-1500:] + err2[-1500:]
    waiting = [line for line in err2.splitlines() if "another build of this project holds" in line]
    assert len(waiting) == 1 and f"pid {runs.first_pid}" in waiting[0], err2[-1500:]
    assert _ran(out1)["report"], out1[-1500:]
    # the second started only after the first ended: it found everything built
    assert not any(_ran(out2).values()), out2[-1500:]
    assert runs.second_done >= runs.first_done
    _registry_is_consistent(project)

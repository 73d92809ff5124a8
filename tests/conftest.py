"""Shared fixtures: tiny literal frames and contracts, and a temporary copy of the project."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from lane import PRODUCTS, Lane, maker, needed, order
from scale_out import (  # noqa: F401 (the scaling-out fixtures)
    airflow_project,
    roles_project,
    team_server,
)

from lab2prod.data.contract import contract_from_dict

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def contract_dict():
    return {
        "dataset": "toy",
        "task": "classification",
        "id_column": "id",
        "target": {"name": "y", "labels": ["bad", "good"], "positive": "bad"},
        "max_quarantine_fraction": 0.5,
        "columns": {
            "id": {"type": "string", "nullable": False},
            "age": {"type": "int", "nullable": False, "min": 18, "max": 100},
            "income": {"type": "float", "nullable": True, "min": 0},
            "home": {"type": "category", "nullable": True, "categories": ["owner", "rent"]},
            "y": {"type": "category", "nullable": False, "categories": ["bad", "good"]},
        },
    }


@pytest.fixture
def contract(contract_dict):
    return contract_from_dict(contract_dict)


@pytest.fixture
def toy_text():
    """Rows as the adapters hand them over: text cells with line numbers."""
    return pd.DataFrame(
        {
            "_line": [2, 3, 4, 5],
            "id": ["a", "b", "c", "d"],
            "age": ["30", "45", "52", "23"],
            "income": ["100.5", None, "80", "120"],
            "home": ["owner", "rent", None, "rent"],
            "y": ["good", "bad", "good", "bad"],
        },
        dtype=object,
    )


@pytest.fixture
def write(tmp_path):
    """Write text (or bytes) to a file in a temporary folder and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return _write


# The credit demo's business values, as env.yaml's `business:` section holds them (without its `source`):
# one copy for every test that values decisions (tests/test_settings.py checks it still is env.yaml's)
CREDIT_BUSINESS = {
    "unit": "EUR",
    "actions": {"positive": "refuse", "negative": "accept"},
    "outcomes": {
        "true_positive": 0,
        "false_positive": 0,
        "true_negative": 120,
        "false_negative": -500,
    },
}


@pytest.fixture
def credit_business():
    """The credit demo's business values (CREDIT_BUSINESS) as lab2prod reads them."""
    from lab2prod.modeling.business import business_from_dict

    return business_from_dict(CREDIT_BUSINESS)


@pytest.fixture(scope="session")
def credit_contract():
    from lab2prod import settings

    return settings.load_contract(PROJECT / "data/contracts/credit.yaml")


# ---- MLflow stores: MLflow makes a new SQLite store by running its schema migrations (seconds of CPU,
# each time); an empty store migrated once per session and copied opens in milliseconds, the same schema

STORE_TEMPLATE = (
    "LAB2PROD_TEST_MLFLOW_TEMPLATE"  # the template's path, for every copy of this module
)


def unsynced(folder: Path):
    """Return a SQLAlchemy connect listener that makes SQLite files under `folder` skip disk syncs.

    PRAGMA synchronous=OFF on those connections only: MLflow's commits (each migration, each run,
    tag or version) then cost no fsync, over half of their wall time on a busy disk. For throw-away
    stores of a test session; what is written and read back is the same.
    """
    import sqlite3

    prefix = str(folder) + os.sep

    def listener(connection, _record) -> None:
        if isinstance(connection, sqlite3.Connection) and any(
            (row[2] or "").startswith(prefix) for row in connection.execute("PRAGMA database_list")
        ):
            connection.execute("PRAGMA synchronous = OFF")

    return listener


def unsynced_process(folder: str | Path) -> None:
    """Make the SQLite stores under `folder` skip disk syncs in this whole process (`unsynced`).

    For the Python subprocesses of the lane's makers, which run what the tests ran in the test
    process, whose stores `unsynced_stores` already spares.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", unsynced(Path(folder).resolve()))


# the start of every script `apart` runs: its first two arguments are taken off sys.argv
APART = """
import importlib.util, sys
sys.path.insert(0, {tests!r})
fixtures_file, unsynced = sys.argv[1:3]
del sys.argv[1:3]
from conftest import unsynced_process
unsynced_process(unsynced)
spec = importlib.util.spec_from_file_location("fixtures", fixtures_file)
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
"""


def apart(fixtures: str | Path, code: str, unsynced: str | Path, *args: str) -> list[str]:
    """Return the command that runs `code` in a Python process of its own, as the lane's makers do.

    Before `code` runs, `fixtures` is the module at that path (the helpers the tests call), tests/
    is importable, the SQLite stores under `unsynced` skip disk syncs (`unsynced_process`) and
    sys.argv[1:] is `args`.
    """
    preamble = APART.format(tests=str(Path(__file__).parent))
    return [sys.executable, "-c", preamble + code, str(fixtures), str(unsynced), *args]


@pytest.fixture(scope="session", autouse=True)
def unsynced_stores(tmp_path_factory):
    """The SQLite stores this process opens in the session's temporary folders skip disk syncs (`unsynced`)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    listener = unsynced(tmp_path_factory.getbasetemp().resolve())
    event.listen(Engine, "connect", listener)
    yield
    event.remove(Engine, "connect", listener)


def _store_template() -> Path:
    """Return the session's empty MLflow store, made by MLflow itself on first use (removed at exit)."""
    import atexit
    import shutil
    import tempfile

    known = os.environ.get(STORE_TEMPLATE)
    if known and Path(known).is_file():
        return Path(known)
    folder = Path(tempfile.mkdtemp(prefix="lab2prod-test-store-")).resolve()
    atexit.register(shutil.rmtree, folder, True)
    from mlflow.tracking import MlflowClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    template = folder / "mlflow.db"
    listener = unsynced(folder)  # the migrations' commits: most of the template's wall time
    event.listen(Engine, "connect", listener)
    try:
        MlflowClient(f"sqlite:///{template}").search_experiments()
    finally:
        event.remove(Engine, "connect", listener)
    os.environ[STORE_TEMPLATE] = str(template)
    return template


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A project folder for a store of its own: MLFLOW_TRACKING_URI unset while the test runs, MLflow's URI reset after."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path
    mlflow.set_tracking_uri(None)


def empty_store(folder: Path) -> Path:
    """Put an empty MLflow SQLite store at `folder`/mlflow.db, as MLflow would create it now; return its path.

    A copy of the session's template (sqlite3's backup, so it is whole), whose Default experiment then
    points where MLflow would have pointed it: ./mlruns/0 from the current directory.
    """
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlflow.db"
    assert not path.exists(), f"{path} exists: empty_store makes a new store only"
    source, copy = sqlite3.connect(_store_template()), sqlite3.connect(path)
    try:
        source.backup(copy)
        with copy:
            copy.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                (str(Path.cwd().resolve() / "mlruns" / "0"),),
            )
    finally:
        source.close()
        copy.close()
    return path


PIPELINE_FILES = (
    "pipeline.yaml",
    "pipeline.score.yaml",
    "env.yaml",
    "env.score.yaml",
    "env.test.yaml",
)


def copy_pipelines(dest: Path) -> Path:
    """Copy the pipelines, their env files, notebooks and sources into `dest`: a fresh clone, no lake, no build."""
    import shutil

    dest.mkdir(parents=True)
    for name in PIPELINE_FILES:
        shutil.copy2(PROJECT / name, dest)
    for folder in ("notebooks", "data/sources", "data/contracts"):
        shutil.copytree(PROJECT / folder, dest / folder)
    return dest


def copy_project(dest: Path) -> Path:
    """Copy what a build needs into `dest` (release/repro.py copy_project: it records the source's git commit)."""
    from lab2prod.release.repro import copy_project as copy

    copy(PROJECT, dest)
    return dest


# ---- pipeline builds: at most one build of each kind per session, shared by the tests that read it ----

BIN = Path(sys.executable).parent
# bring your own data: the dated `economics` table as a regression, given on the command line only
BYOD = [
    "--env--data",
    "byod/economics.csv",
    "--env--target",
    "psavert",
    "--env--task",
    "regression",
    "--env--date_column",
    "date",
    "--env--dataset",
    "economics",
    "--env--gate_metric",
    "r2",
    "--env--model_name",
    "economics",
    "--env--experiment",
    "byod-economics",
]


def build_env(root: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a build in `root`: env.test.yaml, the MLflow store inside `root`, the venv on PATH.

    Made from `environ` (default: this process's environment now).
    """
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k != "LAB2PROD_ROOT"}
    env.update(
        PLOOMBER_ENV_FILENAME="env.test.yaml",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def ploomber_build(
    root: Path, *args: str, environ: dict[str, str] | None = None
) -> dict[str, bool]:
    """Run `ploomber build` in `root` (it must succeed); return which tasks ran (`environ`: build_env's)."""
    done = subprocess.run(
        [str(BIN / "ploomber"), "build", *args],
        cwd=root,
        env=build_env(root, environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = {
        m.group(1): m.group(2) == "True"
        for m in re.finditer(r"^([\w-]+)\s+(True|False)\s", done.stdout, flags=re.MULTILINE)
    }
    assert ran, done.stdout[-3000:]
    return ran


# Steps in one process (importing Ploomber costs seconds): "status" records what `ploomber build` would
# run next (each task's status after render(), nothing executes), "touch:PATH" changes a file's time only,
# "replace:PATH:OLD=>NEW" changes its content, "append:NOTEBOOK" adds a code cell, "restore:PATH" puts
# back the content PATH had before its first change, "build:TASK" builds TASK and what it needs.
DAG_STEPS = """
import json, os, sys, yaml
from pathlib import Path
import nbformat
from ploomber.spec import DAGSpec
steps, args = sys.argv[1].split("|"), sys.argv[2:]
env = yaml.safe_load(open("env.test.yaml"))
env.update({args[i][len("--env--"):]: args[i + 1] for i in range(0, len(args), 2)})
original, out = {}, []
for step in steps:
    kind, _, rest = step.partition(":")
    if kind in ("replace", "append"):
        path = rest.split(":", 1)[0]
        original.setdefault(path, Path(path).read_bytes())
    if kind == "touch":
        os.utime(rest)
    elif kind == "replace":
        path, change = rest.split(":", 1)
        old, new = change.split("=>")
        data = Path(path).read_bytes()
        assert data.count(old.encode()) >= 1
        Path(path).write_bytes(data.replace(old.encode(), new.encode(), 1))
    elif kind == "append":
        book = nbformat.read(rest, as_version=4)
        book.cells.append(nbformat.v4.new_code_cell("print('edited')"))
        nbformat.write(book, rest)
    elif kind == "restore":
        Path(rest).write_bytes(original[rest])
    else:
        dag = DAGSpec("pipeline.yaml", env=env).to_dag()
        if kind == "build":
            dag.build_partially(rest, show_progress=False)
        else:
            dag.render(show_progress=False, force=False)
            out.append({name: dag[name].exec_status.name for name in dag})
print(json.dumps(out))
"""


def dag_steps(
    root: Path, steps: list[str], *args: str, environ: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """Run DAG_STEPS in `root` with the env overrides `args`; return the task statuses of each "status" step.

    `environ`: build_env's (default: this process's environment now).
    """
    done = subprocess.run(
        [sys.executable, "-c", DAG_STEPS, "|".join(steps), *args],
        cwd=root,
        env=build_env(root, environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


SAMPLE_STEPS = [
    "ingest",
    "validate",
    "split",
    "start",
    "train-0",
    "train-1",
    "train-2",
    "train-3",
    "select",
    "evaluate",
    "check",
    "register",
    "report",
]


# ---- the session's builds, made by the second lane (tests/lane.py) while the other tests run ----


def pytest_collection_modifyitems(config, items):
    """The tests that need no build of the lane first, so that its builds are ready when asked."""
    order(items)


LANE = pytest.StashKey[Lane]()


def pytest_terminal_summary(terminalreporter, config):
    """Say when each build of the lane was made and how long the tests waited for it."""
    second = config.stash.get(LANE, None)
    if second is not None and second.timings():
        terminalreporter.section("the second lane's builds (seconds from the session's start)")
        for line in second.timings():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def lane(request, tmp_path_factory):
    """The second lane, with every build the session's tests need queued at its start."""
    wanted = {name for item in request.session.items for name in needed(item)}
    second = Lane(tmp_path_factory, dict(os.environ))
    request.config.stash[LANE] = second
    try:
        for name in (n for n in PRODUCTS if n in wanted):
            second.queue(request, name)
        yield second
    finally:
        second.close()


@maker("built")
def make_built(tmp_path_factory, environ):
    root = copy_project(tmp_path_factory.mktemp("project"))
    assert ploomber_build(root, environ=environ) == dict.fromkeys(SAMPLE_STEPS, True)
    return root


@pytest.fixture(scope="session")
def built(lane, request):
    """The sample pipeline (bundled credit data, env.test.yaml) built once in a copy of the project.

    Tests read its products; a test that changes a file in it puts the file back (see DAG_STEPS "restore").
    """
    return lane.get(request, "built")


ECONOMICS_ROWS, ECONOMICS_REPEATS = (
    574,
    144,
)  # 144 of the 718 rows (20%) repeat an earlier row exactly


def economics_own_data() -> str:
    """Return tests/data/fixtures/economics.csv written as a user's own export, with 144 of its lines
    (seeded) appended again, byte for byte.

    No id column; day-first dates (the month's last day, so no date fits month-first); thousands
    separators in `pce` and `pop`; the unemployment rate in percent (`unemployment`, ``1.48%``).
    """
    import random

    frame = pd.read_csv(PROJECT / "tests/data/fixtures/economics.csv")
    assert len(frame) == ECONOMICS_ROWS
    month_end = pd.to_datetime(frame["date"]) + pd.offsets.MonthEnd(0)
    text = pd.DataFrame(
        {
            "date": month_end.dt.strftime("%d/%m/%Y"),
            "pce": frame["pce"].map("{:,.1f}".format),
            "pop": frame["pop"].map(lambda v: f"{v:,.3f}".rstrip("0").rstrip(".")),
            "psavert": frame["psavert"].map("{:g}".format),
            "uempmed": frame["uempmed"].map("{:g}".format),
            "unemploy": frame["unemploy"].astype(str),
            "unemployment": (frame["unemploy"] / frame["pop"] * 100).map("{:.2f}%".format),
        }
    )
    header, *lines = text.to_csv(index=False, lineterminator="\n").splitlines()
    again = random.Random(0).sample(lines, ECONOMICS_REPEATS)
    return "\n".join([header, *lines, *again]) + "\n"


@maker("byod_project")
def make_byod_project(tmp_path_factory, environ):
    """Bring your own data, built once: tests/data/fixtures/economics.csv as a dated regression (BYOD flags).

    Written as a user's export (`economics_own_data`): no id column, thousands separators, a percent
    column, day-first dates, and a fifth of its rows exact repeats (an export appended twice): the
    inferred contract reads the numbers and dates, `duplicates: warn` keeps and counts the repeats,
    the split keeps copies together, and the build goes on.

    The data comes from the command line only; the copy's env.test.yaml gets a two-family grid (one
    parallel round of cells instead of two) and a regression floor, so the gate's floors are exercised.
    """
    import yaml

    root = copy_project(tmp_path_factory.mktemp("byod"))
    (root / "byod").mkdir()
    (root / "byod" / "economics.csv").write_text(economics_own_data(), encoding="utf-8", newline="")
    env = yaml.safe_load((root / "env.test.yaml").read_text())
    env.update(
        grid=[
            {"family": ["linear"], "model_params": [{}]},
            {"family": ["hist_gradient_boosting"], "model_params": [{"max_depth": 3}]},
        ],
        gate_floors={"mae": 10.0},
    )
    (root / "env.test.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    ran = ploomber_build(root, *BYOD, environ=environ)
    assert all(ran.values()) and len(ran) == 11, ran
    return root


@pytest.fixture(scope="session")
def byod_project(lane, request):
    """The build of make_byod_project, made by the second lane."""
    return lane.get(request, "byod_project")


# multiclass by configuration only: scikit-learn's bundled wine table (178 rows, 13 measurements,
# three cultivars), written from the installed package, nothing downloaded
MULTICLASS = [
    "--env--data",
    "byod/wine.csv",
    "--env--target",
    "cultivar",
    "--env--task",
    "classification",
    "--env--id_column",
    "id",
    "--env--dataset",
    "wine",
    "--env--model_name",
    "wine",
    "--env--experiment",
    "byod-wine",
]


def wine_frame() -> pd.DataFrame:
    """scikit-learn's wine table with an id column and the cultivar's name as the target (three labels)."""
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.frame.drop(columns=["target"]).round(4)
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame.insert(0, "id", [f"w{i:03d}" for i in range(len(frame))])
    return frame.assign(cultivar=bunch.target_names[bunch.target.to_numpy()])


@maker("multiclass_project")
def make_multiclass_project(tmp_path_factory, environ):
    """Multiclass, built once: the wine table (byod/wine.csv, from scikit-learn) by the MULTICLASS flags.

    The copy's env.test.yaml gets a two-family grid (one parallel round of cells) and keeps the
    default floors (roc_auc, brier), which apply to multiclass models too.
    """
    import yaml

    root = copy_project(tmp_path_factory.mktemp("multiclass"))
    (root / "byod").mkdir()
    wine_frame().to_csv(root / "byod" / "wine.csv", index=False, lineterminator="\n")
    env = yaml.safe_load((root / "env.test.yaml").read_text())
    env.update(
        grid=[
            {"family": ["linear"], "model_params": [{}]},
            {"family": ["hist_gradient_boosting"], "model_params": [{"max_depth": 3}]},
        ]
    )
    (root / "env.test.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    ran = ploomber_build(root, *MULTICLASS, environ=environ)
    assert all(ran.values()) and len(ran) == 11, ran
    return root


@pytest.fixture(scope="session")
def multiclass_project(lane, request):
    """The build of make_multiclass_project, made by the second lane."""
    return lane.get(request, "multiclass_project")


@pytest.fixture
def contract_file(tmp_path, contract_dict):
    """The toy contract written as YAML, for the command line."""
    import yaml

    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(contract_dict), encoding="utf-8")
    return path


# A user's own catalog (not the credit demo): two sources joined by key, held to a contract the user
# wrote. Survey answers (ten yes/no questions, a CSV) and whether the customer churned (JSON lines).
# 40% of the rows repeat an earlier row's answers and outcome exactly: many customers answer alike.
SURVEY = [
    "--env--data",
    "byod/survey/catalog.yaml",
    "--env--contract",
    "byod/survey/contract.yaml",
    "--env--dataset",
    "survey",
    "--env--model_name",
    "survey",
    "--env--experiment",
    "byod-survey",
]
SURVEY_ROWS, SURVEY_REPEATS = 1000, 400
QUESTIONS = [f"q{i}" for i in range(1, 11)]


def write_survey(folder: Path) -> Path:
    """Write the survey catalog, its two sources and its contract into `folder`; return the folder.

    600 customers with distinct answers (seeded), then 400 more who each answer exactly as one of
    them and share their outcome: 400 of 1,000 rows repeat an earlier row in every contract column.
    """
    import numpy as np
    import yaml

    rng = np.random.default_rng(7)
    distinct = SURVEY_ROWS - SURVEY_REPEATS
    codes = rng.choice(2 ** len(QUESTIONS), size=distinct, replace=False)
    answers = (codes[:, None] >> np.arange(len(QUESTIONS))) & 1
    weights = np.array([2.0, -1.5, 1.2, 0.0, 0.8, -0.8, 0.0, 1.0, 0.0, -0.5])
    churned = (answers @ weights + rng.normal(0, 0.8, distinct)) > 1.0
    pick = np.concatenate([np.arange(distinct), rng.integers(0, distinct, SURVEY_REPEATS)])
    pick = pick[rng.permutation(SURVEY_ROWS)]
    ids = [f"c{i:05d}" for i in range(SURVEY_ROWS)]
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["customer," + ",".join(QUESTIONS)]
    lines += [f"{c}," + ",".join(map(str, answers[j])) for c, j in zip(ids, pick)]
    (folder / "answers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "outcomes.jsonl").write_text(
        "".join(
            json.dumps({"customer": c, "churned": "yes" if churned[j] else "no"}) + "\n"
            for c, j in zip(ids, pick)
        ),
        encoding="utf-8",
    )
    catalog = {
        "key": "customer",
        "sources": [
            {"name": "answers", "format": "csv", "path": "answers.csv"},
            {"name": "outcomes", "format": "jsonl", "path": "outcomes.jsonl"},
        ],
    }
    (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    contract = {
        "dataset": "survey",
        "task": "classification",
        "target": {"name": "churned", "labels": ["no", "yes"], "positive": "yes"},
        "duplicates": "keep",  # customers who answer alike are not errors
        "extra_columns": "warn",  # the join key is not a feature: dropped with a warning
        "columns": {
            **{q: {"type": "int", "nullable": False, "min": 0, "max": 1} for q in QUESTIONS},
            "churned": {"type": "category", "nullable": False, "categories": ["no", "yes"]},
        },
    }
    (folder / "contract.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    return folder


@maker("survey_project")
def make_survey_project(tmp_path_factory, environ):
    """A user's own two-source catalog (`write_survey`) built once with a one-cell grid (SURVEY flags)."""
    import yaml

    root = copy_project(tmp_path_factory.mktemp("survey"))
    write_survey(root / "byod" / "survey")
    env = yaml.safe_load((root / "env.test.yaml").read_text())
    env.update(grid=[{"family": ["linear"], "model_params": [{}]}])
    (root / "env.test.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    ran = ploomber_build(root, *SURVEY, environ=environ)
    assert all(ran.values()) and len(ran) == 10, ran
    return root


@pytest.fixture(scope="session")
def survey_project(lane, request):
    """The build of make_survey_project, made by the second lane."""
    return lane.get(request, "survey_project")

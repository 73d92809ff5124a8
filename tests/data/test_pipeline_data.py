"""Pipeline integration of the data layer, in temporary copies of the project (PLOOMBER_ENV_FILENAME=env.test.yaml).

One full build (a session fixture): bring your own data, the dated `economics` table as a regression,
from the command line only. On it: the unchanged rebuild runs nothing, and one changed byte of the
data file outdates ingest and every step after it. A second, ingest-only build shows the same for a
source file of the bundled catalog.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import copy_project

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
BYOD = ["--env--data", "byod/economics.csv", "--env--target", "psavert", "--env--task", "regression",
        "--env--date_column", "date", "--env--dataset", "economics",
        "--env--gate_metric", "r2", "--env--model_name", "economics", "--env--experiment", "byod-economics"]

# Steps in one process (importing Ploomber costs seconds): "status" records what `ploomber build` would
# run next (each task's status after render()), "touch:PATH" changes a file's time only,
# "replace:PATH:OLD=>NEW" changes its content, "build:TASK" builds TASK and what it needs.
STEPS = """
import json, os, sys, yaml
from pathlib import Path
from ploomber.spec import DAGSpec
steps, args = sys.argv[1].split("|"), sys.argv[2:]
env = yaml.safe_load(open("env.test.yaml"))
env.update({args[i][len("--env--"):]: args[i + 1] for i in range(0, len(args), 2)})
out = []
for step in steps:
    kind, _, rest = step.partition(":")
    if kind == "touch":
        os.utime(rest)
    elif kind == "replace":
        path, change = rest.split(":", 1)
        old, new = change.split("=>")
        data = Path(path).read_bytes()
        assert data.count(old.encode()) >= 1
        Path(path).write_bytes(data.replace(old.encode(), new.encode(), 1))
    else:
        dag = DAGSpec("pipeline.yaml", env=env).to_dag()
        if kind == "build":
            dag.build_partially(rest, show_progress=False)
        else:
            dag.render(show_progress=False, force=False)
            out.append({name: dag[name].exec_status.name for name in dag})
print(json.dumps(out))
"""


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAB2PROD_ROOT",)}
    env.update(PLOOMBER_ENV_FILENAME="env.test.yaml", MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def _build(root: Path, *args: str) -> dict[str, bool]:
    """Run `ploomber build` in `root`; return which tasks ran."""
    done = subprocess.run(["ploomber", "build", *args], cwd=root, env=_env(root), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "Ran?"])
    rows = [line.split() for line in lines[start + 2:] if line.strip()]
    return {row[0]: row[1] == "True" for row in rows if row[1] in ("True", "False")}


def _steps(root: Path, steps: list[str], *args: str) -> list[dict[str, str]]:
    done = subprocess.run([sys.executable, "-c", STEPS, "|".join(steps), *args], cwd=root, env=_env(root),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def byod_project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("byod"))
    (root / "byod").mkdir()
    shutil.copy2(FIXTURES / "economics.csv", root / "byod" / "economics.csv")
    ran = _build(root, *BYOD)
    assert all(ran.values()), ran
    return root


def test_byod_dated_regression_builds_from_the_command_line(byod_project):
    root = byod_project
    ingested = json.loads((root / "products/ingest.json").read_text())
    assert (ingested["rows_in"], ingested["rows_normalized"], ingested["rows_quarantined"]) == (574, 574, 0)
    contract = (root / "data/lake/contracts/economics.yaml")
    assert ingested["contract"] == str(contract)
    import yaml

    written = yaml.safe_load(contract.read_text())
    assert written["task"] == "regression" and written["target"] == {"name": "psavert"}
    assert written["columns"]["date"]["type"] == "date"
    trained = json.loads((root / "products/select.json").read_text())  # the grid's chosen cell
    assert trained["select_metric"] == "rmse"  # the task's default metric, with no flag
    # with a date column the split is by time: validation is a later period than training, which a
    # model must forecast; it still has to beat predicting that period's own mean
    assert trained["valid_metrics"]["r2"] > 0
    splits = root / "data/lake/splits/economics"
    assert (pd.read_csv(splits / "train.csv")["date"].max() < pd.read_csv(splits / "valid.csv")["date"].min())
    registered = json.loads((root / "products/register.json").read_text())
    assert registered["model_name"] == "economics" and registered["promoted"] is True
    # the model saw the date as numbers, never as a one-hot string (read from the logged MLmodel file, so
    # this test process never points MLflow anywhere)
    model_id = trained["model_uri"].split("/")[-1]
    (mlmodel,) = (root / "mlartifacts").rglob(f"{model_id}/artifacts/MLmodel")
    inputs = [c["name"] for c in json.loads(yaml.safe_load(mlmodel.read_text())["signature"]["inputs"])]
    assert {"date__year", "date__month", "date__dayofweek", "date__dayofyear"} <= set(inputs) and "date" not in inputs
    assert (root / "reports/data_quality.html").read_text().count("data:image/png") >= 6


def test_rebuild_is_data_aware(byod_project):
    root = byod_project
    assert not any(_build(root, *BYOD).values())  # nothing changed: nothing runs
    # a touch changes no content: nothing to run; one byte changed (506.7 -> 506.8): ingest and all after it
    after_touch, after_byte = _steps(root, ["touch:byod/economics.csv", "status",
                                            "replace:byod/economics.csv:506.7=>506.8", "status"], *BYOD)
    assert set(after_touch.values()) == {"Skipped"}
    assert after_byte["ingest"] == "WaitingExecution"
    later = ("validate", "split", "start", "train-0", "train-3", "select", "evaluate", "register", "report")
    assert {after_byte[t] for t in later} == {"WaitingUpstream"}


def test_changed_catalog_source_reruns_ingest(tmp_path):
    root = copy_project(tmp_path)
    built, changed = _steps(root, ["build:ingest", "status",
                                   'replace:data/sources/credit/bureau.jsonl:"Debt": 0.0=>"Debt": 1.0', "status"])
    assert built["ingest"] == "Skipped" and changed["ingest"] == "WaitingExecution"

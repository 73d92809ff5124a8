"""Scaling out: the team MLflow server (make mlflow-server on PostgreSQL) and the pipeline run by Airflow.

One Airflow run of the training DAG per session serves both test files: it is the sample pipeline
built against the team server (test_mlflow_server.py) and the build whose products must hash like
`ploomber build`'s (test_airflow.py). Without PostgreSQL the Airflow run uses its copy's SQLite store.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from lane import maker

from lab2prod.release.repro import copy_project

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]
PG_ENV = "LAB2PROD_TEST_PG_URL"
PG_URL = os.environ.get(PG_ENV)
AIRFLOW = PROJECT / ".venv-airflow" / "bin" / "airflow"
SERVER_READY_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rest(
    uri: str, path: str, auth: tuple[str, str] | None = None, body: dict | None = None
) -> tuple[int, dict]:
    """GET `path` on the server (POST `body` as JSON when given); return the HTTP status and the JSON answer."""
    request = urllib.request.Request(
        uri + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={} if body is None else {"Content-Type": "application/json"},
    )
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text.startswith(b"{") else {}
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:  # nobody listening (yet)
        return 0, {}


class TeamServer:
    """A running `make mlflow-server`: its URI, the admin's credentials, its folder."""

    def __init__(self, uri: str, username: str, password: str, folder: Path):
        self.uri, self.username, self.password, self.folder = uri, username, password, folder

    def client_env(self) -> dict[str, str]:
        """The variables an MLflow user sets to work against the server."""
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password,
        }


@pytest.fixture(scope="session")
def team_server(tmp_path_factory):
    """`make mlflow-server` on PostgreSQL (a schema of its own in the CI database), basic auth on; stopped after."""
    if not PG_URL:
        pytest.skip(
            "LAB2PROD_TEST_PG_URL is not set: .ci/run starts PostgreSQL on 127.0.0.1 and sets it"
        )
    import sqlalchemy

    schema = f"mlflow_{secrets.token_hex(4)}"
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    folder = tmp_path_factory.mktemp("team-server")
    port = free_port()
    password = secrets.token_urlsafe(18)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env.update(
        MLFLOW_BACKEND_STORE_URI=f"{PG_URL}?options=-csearch_path%3D{schema}",
        MLFLOW_AUTH_ADMIN_PASSWORD=password,
    )
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "mlflow-server",
            f"MLFLOW_SERVER_PORT={port}",
            f"MLFLOW_SERVER_DIR={folder / 'server'}",
        ],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the teardown stops make, mlflow and uvicorn
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_READY_SECONDS
        while rest(uri, "/health")[0] != 200:
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (folder / "server.log").read_text()[-3000:]
            time.sleep(1)
        yield TeamServer(uri, "admin", password, folder / "server")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def airflow_env(home: Path, dags: Path, environ: dict[str, str]) -> dict[str, str]:
    """Airflow on SQLite in `home`, no examples, no scheduler: what `airflow dags test` needs."""
    env = {k: v for k, v in environ.items() if k not in ("LAB2PROD_ROOT", "PLOOMBER_ENV_FILENAME")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        OMP_NUM_THREADS="1",
    )
    return env


def failed_lines(log: str) -> str:
    """The lines of an Airflow log that tell why a task failed (errors, tracebacks, the notebook's exception)."""
    keep = [
        line
        for line in log.splitlines()
        if any(w in line for w in ("Error", "error", "Traceback", "Exception", "failed"))
        and "Warning" not in line
    ]
    return "\n".join(keep[-60:]) or log[-5000:]


def airflow(env: dict[str, str], *args: str, log: Path, timeout: float = 1800):
    """Run Airflow's own command (its venv, not .venv) with `args`; write its output to `log`."""
    done = subprocess.run(
        [str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    log.write_text(done.stdout + done.stderr)
    return done


DAY = "2026-11-30"  # the daily DAG's run: the batch data/incoming/<DAY>.csv


@dataclass
class AirflowRun:
    """What `make_airflow_project` did: the training DAG, then the daily DAG of DAY."""

    root: Path  # the project copy both DAGs ran in
    env: dict[str, str]  # the environment of the Airflow commands
    training_hashes: dict[str, str]  # the repro-check hashes of the training DAG's products
    batch_rows: int  # the rows of the day's batch
    daily: subprocess.CompletedProcess  # `airflow dags test lab2prod_daily DAY`


@maker("airflow_project", needs=lambda environ: ["team_server"] if environ.get(PG_ENV) else [])
def make_airflow_project(tmp_path_factory, environ, team_server=None) -> AirflowRun | None:
    """A copy of the project with its DAGs generated, the training DAG run once by `airflow dags
    test`, its products hashed, then the daily DAG run on a batch of 300 of its normalized rows.

    Against the team server when PostgreSQL is there, else the copy's own SQLite store.
    None when Airflow's environment is missing.
    """
    import pandas as pd

    from lab2prod import settings
    from lab2prod.release.repro import build_hashes

    if not AIRFLOW.exists():
        return None
    base = tmp_path_factory.mktemp("airflow")
    root = base / "project"
    copy_project(PROJECT, root)
    for name in ("pipeline.score.yaml", "env.score.yaml"):
        shutil.copy2(PROJECT / name, root / name)
    generated = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "lab2prod_ploomber.airflow",
            "--root",
            str(root),
            "--env-file",
            "env.test.yaml",
            "--output",
            str(base / "dags"),
            "--venv",
            str(BIN.parent),
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    env = airflow_env(base / "home", base / "dags", environ)
    if team_server is not None:
        env.update(team_server.client_env())
    else:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    done = airflow(env, "db", "migrate", log=base / "migrate.log", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    done = airflow(env, "dags", "test", "lab2prod_training", log=base / "training.log")
    assert done.returncode == 0, failed_lines(done.stdout + done.stderr)
    hashes = build_hashes(root, settings.read_yaml(PROJECT / "env.test.yaml"))
    incoming = root / "data" / "incoming"
    incoming.mkdir(parents=True)
    rows = pd.read_csv(root / "data/lake/normalized/credit.csv", nrows=300)
    rows.to_csv(incoming / f"{DAY}.csv", index=False)
    daily = airflow(env, "dags", "test", "lab2prod_daily", DAY, log=base / "daily.log", timeout=900)
    return AirflowRun(root, env, hashes, len(rows), daily)


@pytest.fixture(scope="session")
def airflow_project(lane, request) -> AirflowRun:
    """The Airflow runs of make_airflow_project, made by the second lane."""
    made = lane.get(request, "airflow_project")
    if made is None:
        pytest.skip(f"{AIRFLOW} is missing: `make airflow-install` creates Airflow's environment")
    return made


# ---- roles on the team server (tests/integration/test_roles.py): roles.yaml applied, one build by a data scientist ----

ROLE_USERS = ("ada", "ed", "ci", "april", "vic")  # the users of the project's roles.yaml
ROLES_MODEL, ROLES_EXPERIMENT = "roles-credit", "lab2prod-roles"  # apart from the Airflow run's


@dataclass
class RolesRun:
    """What `make_roles_project` did on the team server: roles applied twice, then ada's build."""

    server: TeamServer
    root: Path  # the project copy ada built, approval required
    passwords: dict[str, str]  # user -> password (held in the LAB2PROD_PASSWORD_* variables)
    environ: dict[str, str]  # the session's environment at its start
    applied: tuple[subprocess.CompletedProcess, ...] = ()  # `lab2prod roles apply`, twice
    build: subprocess.CompletedProcess | None = None  # ada's `ploomber build`
    aliases_after_build: dict[str, str] | None = None  # the model's aliases right after it
    # (the version built, {step: its finished process}) of `play_release`, after a build that passed
    released: tuple[str, dict[str, subprocess.CompletedProcess]] | None = None

    def env(self, user: str | None) -> dict[str, str]:
        """The environment of a command run as `user` (None: the admin) in the project copy."""
        env = {
            k: v
            for k, v in self.environ.items()
            if k != "LAB2PROD_ROOT" and not k.startswith("MLFLOW_TRACKING")
        }
        env.update(self.server.client_env())
        env.update({f"LAB2PROD_PASSWORD_{u.upper()}": p for u, p in self.passwords.items()})
        if user is not None:
            env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=self.passwords[user])
        env.update(
            PLOOMBER_ENV_FILENAME="env.test.yaml",
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",  # a refusal is an answer: no retries
        )
        return env

    def lab2prod(self, user: str | None, *args: str) -> subprocess.CompletedProcess:
        """Run `lab2prod ARGS` as `user` in the project copy."""
        return subprocess.run(
            [str(BIN / "lab2prod"), *args],
            cwd=self.root,
            env=self.env(user),
            capture_output=True,
            text=True,
            timeout=300,
        )


def roles_copy(root: Path) -> None:
    """Make the project copy's env.test.yaml a small build that asks for approval, and its roles.yaml create ROLES_MODEL."""
    import yaml

    env = yaml.safe_load((root / "env.test.yaml").read_text())
    env.update(
        release={"approval": "required"},
        model_name=ROLES_MODEL,
        experiment=ROLES_EXPERIMENT,
        grid=[
            {"family": ["linear"], "model_params": [{}]}
        ],  # one cell: the roles need a model, not a search
        bootstrap_rounds=20,
        importance_repeats=1,
    )
    (root / "env.test.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    roles = yaml.safe_load((PROJECT / "roles.yaml").read_text())
    roles["registered_models"] = [ROLES_MODEL]
    (root / "roles.yaml").write_text(yaml.safe_dump(roles, sort_keys=False))


@maker("roles_project", needs=lambda environ: ["team_server"] if environ.get(PG_ENV) else [])
def make_roles_project(tmp_path_factory, environ, team_server=None) -> RolesRun | None:
    """The project's roles.yaml applied twice to the team server by its admin, then the sample
    pipeline (one grid cell, approval required) built in a copy of the project by ada, a data scientist.

    None without PostgreSQL (no team server).
    """
    if team_server is None:
        return None
    root = tmp_path_factory.mktemp("roles") / "project"
    copy_project(PROJECT, root)
    roles_copy(root)
    run = RolesRun(
        team_server, root, {user: secrets.token_urlsafe(18) for user in ROLE_USERS}, environ
    )
    run.applied = (run.lab2prod(None, "roles", "apply"), run.lab2prod(None, "roles", "apply"))
    run.build = subprocess.run(
        [str(BIN / "ploomber"), "build"],
        cwd=root,
        env=run.env("ada"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    _, found = rest(
        team_server.uri,
        f"/api/2.0/mlflow/registered-models/get?name={ROLES_MODEL}",
        (team_server.username, team_server.password),
    )
    run.aliases_after_build = {
        a["alias"]: a["version"] for a in found.get("registered_model", {}).get("aliases", [])
    }
    if run.build.returncode == 0:
        run.released = play_release(run)
    return run


# what the pipeline's register step calls (release_challenger), run by ci on the build's chosen model
# with a tolerance that lets the same model replace the champion
RELEASE_AGAIN = f"""
import json
from pathlib import Path
from lab2prod import settings, tracking
from lab2prod.data import conditioning, lake
from lab2prod.release.promotion import Challenger, GateRules, release_challenger
root = Path.cwd()
contract = settings.load_contract(root / "data/lake/contracts/credit.yaml")
tracking.use_store(root)
chosen = json.loads((root / "products/select.json").read_text())
test = conditioning.read_normalized(lake.split_path(root / "data/lake", contract.dataset, "test"), contract)
release = release_challenger(Challenger(chosen["model_uri"], chosen["run_id"]), {ROLES_MODEL!r}, test,
                             contract, GateRules(metric="roc_auc", floors={{"roc_auc": 0.7}}, tolerance=1.0))
print(json.dumps(release.summary()))
"""


def play_release(run: RolesRun) -> tuple[str, dict[str, subprocess.CompletedProcess]]:
    """Play the release once after ada's build: ada's own promote, april's approval, a second
    version released by ci through the release path, rollbacks by ada and april, vic's audit.

    Return the version built and each step's finished process, by name (the tests read them).
    """
    steps = {}
    version = json.loads((run.root / "products/register.json").read_text())["version"]
    model = ("--model", ROLES_MODEL)
    steps["ada promotes"] = run.lab2prod("ada", "promote", version, *model, "--reason", "mine")
    steps["april approves"] = run.lab2prod(
        "april", "promote", version, *model, "--reason", "read the model card: approved"
    )
    steps["ci releases"] = subprocess.run(
        [sys.executable, "-c", RELEASE_AGAIN],
        cwd=run.root,
        env=run.env("ci"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    steps["ada rolls back"] = run.lab2prod("ada", "rollback", *model, "--reason", "I prefer mine")
    steps["april rolls back"] = run.lab2prod(
        "april", "rollback", *model, "--reason", "v2 misbehaves"
    )
    steps["vic audits"] = run.lab2prod("vic", "roles", "audit", *model)
    return version, steps


@pytest.fixture(scope="session")
def roles_project(lane, request) -> RolesRun:
    """The roles applied and ada's build of make_roles_project, made by the second lane."""
    made = lane.get(request, "roles_project")
    if made is None:
        pytest.skip(
            "LAB2PROD_TEST_PG_URL is not set: .ci/run starts PostgreSQL on 127.0.0.1 and sets it"
        )
    return made

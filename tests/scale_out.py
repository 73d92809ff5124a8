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

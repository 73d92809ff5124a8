"""An unreachable tracking server fails fast: one line naming the URI and what to do, well within 30 s."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, copy_project
from lab2prod.tracking_server import TrackingServerUnreachable, check_reachable

# MLflow alone would retry a refused request 7 times with backoff (minutes); the limit is 30 s
LIMIT = 30


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_closed_port_raises_one_line_with_the_uri_and_what_to_do():
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(
        TrackingServerUnreachable, match=r"is unreachable .*make mlflow-server"
    ) as exc:
        check_reachable(uri)
    assert uri in str(exc.value) and "\n" not in str(exc.value)


def test_a_bad_port_names_the_variable_to_fix():
    with pytest.raises(
        TrackingServerUnreachable, match="not a valid URL .*fix MLFLOW_TRACKING_URI"
    ):
        check_reachable("http://127.0.0.1:99999")


def test_local_stores_and_a_listening_server_are_not_refused():
    for uri in (None, "", "sqlite:////tmp/mlflow.db", "postgresql://u@127.0.0.1:1/db"):
        check_reachable(uri)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"http://127.0.0.1:{server.getsockname()[1]}")


def _unreachable_env(root: Path) -> tuple[dict[str, str], str]:
    import os

    uri = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if k != "LAB2PROD_ROOT"}
    env.update(
        MLFLOW_TRACKING_URI=uri,
        PLOOMBER_ENV_FILENAME="env.test.yaml",
        PATH=f"{BIN}:{env.get('PATH', '')}",
    )
    return env, uri


def _assert_one_line_error(done: subprocess.CompletedProcess, uri: str) -> None:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: MLflow tracking server {uri} is unreachable (Connection refused): start it "
        "(make mlflow-server) or point MLFLOW_TRACKING_URI at a running server "
        "(unset it to use the project's mlflow.db)"
    ], done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.integration  # a `ploomber build` (importing Ploomber and rendering the DAG): seconds
def test_ploomber_build_stops_before_any_task_when_the_server_is_unreachable(tmp_path):
    root = copy_project(tmp_path / "project")
    env, uri = _unreachable_env(root)
    # the timeout is the limit: a build that retries past it fails the test
    done = subprocess.run(
        [str(BIN / "ploomber"), "build"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    _assert_one_line_error(done, uri)
    assert not (root / "data" / "lake").exists(), "no task may run"


@pytest.mark.parametrize("command", ["score", "monitor"])
def test_lab2prod_commands_stop_when_the_server_is_unreachable(tmp_path, command):
    batch = tmp_path / "batch.csv"
    batch.write_text("a,b\n1,2\n")
    env, uri = _unreachable_env(tmp_path)
    args = {
        "score": ["score", "--input", str(batch), "--output", str(tmp_path / "p.csv")],
        "monitor": ["monitor", "--batch", str(batch)],
    }[command]
    done = subprocess.run(
        [sys.executable, "-m", "lab2prod.cli", *args, "--root", str(Path(__file__).parents[1])],
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    _assert_one_line_error(done, uri)
    assert not (tmp_path / "p.csv").exists()


def test_the_ui_link_opens_the_runs_not_the_genai_view():
    from lab2prod.tracking_server import ui_url

    # MLflow 3.17's UI opens an experiment on GenAI traces unless the page asks for model training
    assert ui_url("sqlite:////somewhere/mlflow.db", "3") == (
        "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    )
    assert ui_url("http://127.0.0.1:5002/", "1", "abc") == (
        "http://127.0.0.1:5002/#/experiments/1/runs/abc?workflowType=machine_learning"
    )

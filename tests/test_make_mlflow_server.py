"""`make mlflow-server` refuses to start without its store URL or its admin password (no defaults), and
writes the basic-auth configuration MLflow reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT


@pytest.mark.parametrize(
    "missing, message",
    [
        (
            "MLFLOW_BACKEND_STORE_URI",
            "MLFLOW_BACKEND_STORE_URI is not set: export the PostgreSQL URL",
        ),
        (
            "MLFLOW_AUTH_ADMIN_PASSWORD",
            "MLFLOW_AUTH_ADMIN_PASSWORD is not set: export the admin password",
        ),
    ],
)
def test_the_server_needs_its_url_and_password_from_the_environment(tmp_path, missing, message):
    env = dict(os.environ)
    env.update(
        MLFLOW_BACKEND_STORE_URI="postgresql+psycopg://u:p@127.0.0.1:1/db",
        MLFLOW_AUTH_ADMIN_PASSWORD="a-long-enough-password",
    )
    env.pop(missing)
    done = subprocess.run(
        ["make", "--no-print-directory", "mlflow-server", f"MLFLOW_SERVER_DIR={tmp_path / 's'}"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"error: {message}" in done.stderr
    assert not (tmp_path / "s").exists()


def _auth_config(ini: Path, monkeypatch):
    """Return the server's configuration read from `ini` by MLflow's own reader (read_auth_config).

    Its module is loaded from its file: importing it as `mlflow.server.auth.config` would first
    import `mlflow.server` (the whole server, seconds of CPU) into the tests' process.
    """
    import importlib.util

    import mlflow

    source = Path(mlflow.__file__).parent / "server" / "auth" / "config.py"
    spec = importlib.util.spec_from_file_location("mlflow_auth_config", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    return module.read_auth_config()


def _server_config(tmp_path, *make_args: str) -> tuple[str, Path]:
    """Run `make mlflow-server` with a stand-in `mlflow` (it prints its arguments and exits); return
    what it printed and the basic_auth.ini the target wrote for the server."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    stub = bin_dir / "mlflow"
    stub.write_text('#!/bin/sh\necho "mlflow $*"\n')
    stub.chmod(0o755)
    env = dict(os.environ)
    env.update(
        MLFLOW_BACKEND_STORE_URI="postgresql+psycopg://u:p@127.0.0.1:1/db",
        MLFLOW_AUTH_ADMIN_PASSWORD="a-long-enough-password",
    )
    env.pop("MLFLOW_AUTH_CONFIG_PATH", None)
    folder = tmp_path / "s"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "mlflow-server",
            f"BIN={bin_dir}",
            f"MLFLOW_SERVER_DIR={folder}",
            *make_args,
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, folder / "basic_auth.ini"


def test_the_server_trusts_a_checked_password_for_a_minute_with_one_worker(tmp_path, monkeypatch):
    """The basic_auth.ini the target writes turns on MLflow's credential cache (auth_cache_ttl_seconds,
    60 s): each request otherwise checks the user's scrypt hash (about 0.1 s of CPU). One worker, so
    a password changed or a user deleted through the API leaves the cache at once. (A generated
    project's Makefile is this one: test_project_new.py checks the template renders it.)"""
    printed, ini = _server_config(tmp_path)
    config = _auth_config(ini, monkeypatch)
    assert config.auth_cache_ttl_seconds == 60
    assert config.database_uri == f"sqlite:///{tmp_path / 's'}/basic_auth.db"
    assert config.authorization_function == "mlflow.server.auth:authenticate_request_basic_auth"
    assert "--app-name lab2prod-auth" in printed and "--workers 1" in printed


def test_the_credential_cache_can_be_turned_off(tmp_path, monkeypatch):
    """MLFLOW_AUTH_CACHE_SECONDS=0 writes a TTL of 0: MLflow then checks the hash on every request."""
    _, ini = _server_config(tmp_path, "MLFLOW_AUTH_CACHE_SECONDS=0")
    assert _auth_config(ini, monkeypatch).auth_cache_ttl_seconds == 0

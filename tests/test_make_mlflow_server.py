"""`make mlflow-server` refuses to start without its store URL or its admin password: no defaults."""

from __future__ import annotations

import os
import subprocess

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

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

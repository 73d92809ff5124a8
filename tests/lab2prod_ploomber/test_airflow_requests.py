"""The daily Airflow DAG monitors yesterday's REST requests when the server logs them, and nothing otherwise."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lab2prod_ploomber.airflow import daily_dag

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.integration  # reads the score pipeline with Ploomber (seconds of imports)
def test_the_daily_dag_monitors_yesterdays_requests_or_says_there_are_none(tmp_path):
    source = daily_dag(PROJECT)
    compile(source, "lab2prod_daily.py", "exec")
    assert 'task_id="monitor_requests"' in source
    assert "REQUESTS = 'data/lake/requests'" in source and "macros.ds_add(ds, -1)" in source
    # the guard, as the shell runs it once Airflow has rendered the day: no folder, exit 0
    guard = re.search(r"'\[ -d \"\$folder\" \] \|\| (\{.*?\});", source).group(1)
    script = f'folder={tmp_path}/requests/2026-12-05; day=2026-12-05; [ -d "$folder" ] || {guard}; exit 3'
    done = subprocess.run(
        ["bash", "-c", script.replace("%s", "data/lake/requests")], capture_output=True, text=True
    )
    assert done.returncode == 0 and "no requests logged on 2026-12-05" in done.stdout

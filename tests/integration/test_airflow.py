"""Airflow 3 runs the DAGs generated from the pipelines (`airflow dags test`: SQLite, no scheduler).

The training DAG's products hash like those of `ploomber build` on the same env (the repro-check's
hashes); the daily DAG scores a batch and reaches the monitor step.
"""

from __future__ import annotations

import ast
import json
import subprocess

import pandas as pd
import pytest
from scale_out import DAY, failed_lines

from conftest import BIN, PROJECT, SAMPLE_STEPS
from lab2prod import settings
from lab2prod.release.repro import build_hashes

pytestmark = pytest.mark.integration


def test_the_training_dag_has_one_task_per_pipeline_task_with_the_same_dependencies(tmp_path):
    done = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "lab2prod_ploomber.airflow",
            "--root",
            str(PROJECT),
            "--env-file",
            "env.test.yaml",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    source = (tmp_path / "lab2prod_training.py").read_text()
    loops = [n.iter for n in ast.walk(ast.parse(source)) if isinstance(n, ast.For)]
    names = next(ast.literal_eval(it) for it in loops if isinstance(it, ast.List))
    upstream = next(
        ast.literal_eval(it.func.value)
        for it in loops
        if isinstance(it, ast.Call) and isinstance(it.func.value, ast.Dict)
    )
    assert sorted(names) == sorted(SAMPLE_STEPS)
    # start (the build's parent run) beside validate and split; the grid waits for both
    assert upstream["start"] == ["ingest"] and upstream["split"] == ["ingest", "validate"]
    assert upstream["train-2"] == ["split", "start"] and upstream["select"] == [
        "train-0",
        "train-1",
        "train-2",
        "train-3",
    ]
    # the fresh-process check of select's model beside evaluate; register waits for both
    assert upstream["check"] == ["select"] and sorted(upstream["evaluate"]) == ["select", "split"]
    assert sorted(upstream["register"]) == ["check", "evaluate", "select"]
    # Airflow 3 names only: the imports soopervisor's templates used are gone there
    assert "airflow.operators.bash" not in source and "days_ago" not in source
    assert "schedule_interval" not in source


def test_a_project_folder_without_a_pipeline_is_refused(tmp_path):
    done = subprocess.run(
        [str(BIN / "python"), "-m", "lab2prod_ploomber.airflow", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: no pipeline.yaml in {tmp_path}: pass --root with the project folder"
    )


def test_the_training_dag_products_hash_like_ploomber_build(built, airflow_project):
    by_airflow = airflow_project.training_hashes
    by_ploomber = build_hashes(built, settings.read_yaml(PROJECT / "env.test.yaml"))
    assert set(by_airflow) == {
        "normalized data",
        "split train",
        "split valid",
        "split test",
        "test predictions",
        "validation metrics (grid)",
        "test metrics",
    }
    assert by_airflow == by_ploomber


def test_the_daily_dag_scores_the_days_batch_and_reaches_the_monitor(airflow_project):
    root, done = airflow_project.root, airflow_project.daily
    assert done.returncode == 0, failed_lines(done.stdout + done.stderr)
    output = done.stdout + done.stderr
    # monitor_requests: no request log in the project, so it says so and succeeds
    for task in ("score", "score_summary", "monitor", "retrain_due", "monitor_requests"):
        assert f"[DAG TEST] end task task_id={task} " in output, task
    predictions = pd.read_csv(root / f"data/lake/predictions/{DAY}/predictions.csv")
    assert (
        len(predictions)
        + len(pd.read_csv(root / f"data/lake/predictions/{DAY}/predictions.quarantine.csv"))
        == airflow_project.batch_rows
    )
    # the score pipeline's own monitor step writes reports/monitoring.json; `lab2prod monitor` a dated one
    status_file = next(
        p
        for p in (root / "reports/monitoring.json", root / f"reports/monitoring-{DAY}.json")
        if p.exists()
    )
    status = json.loads(status_file.read_text())
    assert status["batch_id"] == DAY
    # the branch followed the monitor's own decision
    chosen = "retrain" if status["retrain"] else "no_retrain"
    assert f"[DAG TEST] end task task_id={chosen} " in output

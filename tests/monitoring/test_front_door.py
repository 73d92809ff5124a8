"""The monitor's front door: a predictions file finds its scored input, a missing input is refused, not drift.

The scoring, monitoring and retraining lines of docs/how-to/monitor-and-retrain.md run here as
written, in a project folder of their own (a real MLflow store with a champion, the train split as
reference, the real `lab2prod` command in subprocesses).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from conftest import empty_store
from lab2prod.cli import main
from lab2prod.data.lake import atomic_write_csv, history_path, sha256_file
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.cases import scored_input
from lab2prod.monitoring.retrain import RetrainConfig, retrain_in_process
from lab2prod.project import Project

from .conftest import PROJECT

# the documented score, monitor and retrain sequence: minutes on 2 cores
pytestmark = pytest.mark.integration


def documented_monitoring_lines() -> list[str]:
    """Return the command lines of the first code block of docs/how-to/monitor-and-retrain.md."""
    section = (PROJECT / "docs" / "how-to" / "monitor-and-retrain.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL).group(1)
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def project(credit_halves, tmp_path_factory):
    """Return a project folder with a champion, its train split, and batch.csv/outcomes.csv of 500 new rows."""
    contract, reference, batch = credit_halves
    root = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT / "env.yaml", root / "env.yaml")
    (root / "pipeline.yaml").write_text("tasks: []\n", encoding="utf-8")  # the project marker
    shutil.copytree(PROJECT / "data/contracts", root / "data/contracts")
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    uri = f"sqlite:///{empty_store(root)}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    client.create_experiment("lab2prod-credit", artifact_location=(root / "mlartifacts").as_uri())
    first = retrain_in_process(
        Project(
            root=root, model_name="credit-risk", experiment="lab2prod-credit", tracking_uri=uri
        ),
        reference,
        contract,
        RetrainConfig(),
        ["first model"],
    )
    assert first.decision.promote
    atomic_write_csv(root / "data/lake/splits/credit/train.csv", reference)
    rows = batch.sample(500, random_state=1)
    atomic_write_csv(root / "batch.csv", rows.drop(columns=[contract.target]))
    atomic_write_csv(root / "outcomes.csv", rows[[contract.id_column, contract.target]])
    yield root
    mlflow.set_tracking_uri(previous)


def _run(line: str, root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LAB2PROD_ROOT")}
    return subprocess.run(
        shlex.split(line), cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_documented_sequence_scores_monitors_keeps_labels_and_does_not_retrain(project):
    lines = documented_monitoring_lines()
    assert [shlex.split(line)[1] for line in lines] == ["score", "monitor", "retrain"]
    score, monitor, retrain = (_run(line, project) for line in lines)
    assert score.returncode == 0, score.stderr
    assert monitor.returncode in (0, 1), monitor.stderr
    status = json.loads((project / "reports/monitoring.json").read_text())
    assert status["status"] in ("ok", "warning") and not status["retrain"], monitor.stdout
    assert status["drift"]["missing_columns"] == [] and status["drift"]["drift_share"] < 0.25
    assert status["performance"]["rows_labelled"] == 500
    kept = list((project / "data/lake/monitoring/labelled").glob("*-preds.csv"))
    assert len(kept) == 1 and "500 labelled rows kept for retraining" in monitor.stdout
    assert retrain.returncode == 0, retrain.stderr
    assert "no retraining" in retrain.stdout and "no retraining threshold crossed" in retrain.stdout
    assert "1 labelled batch(es) in" in retrain.stdout
    assert f"{kept[0].name}: 500 rows, would count (in the newest 3,000 rows)" in retrain.stdout


def test_predictions_whose_input_is_gone_are_refused_in_one_line(project, tmp_path, capsys):
    common = ["--root", str(project)]
    batch = tmp_path / "gone.csv"
    shutil.copy(project / "batch.csv", batch)
    done = _run(
        f"{sys.prefix}/bin/lab2prod score --input {batch} --output {tmp_path / 'gone-preds.csv'}",
        project,
    )
    assert done.returncode == 0, done.stderr
    batch.unlink()
    history = history_path(project / "data/lake")
    before = history.read_text() if history.is_file() else ""
    code = main(
        [
            "monitor",
            "--batch",
            str(tmp_path / "gone-preds.csv"),
            "--labels",
            str(project / "outcomes.csv"),
            *common,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "is gone: pass --features" in err and "labels" in err and "not stored" in err
    assert (history.read_text() if history.is_file() else "") == before


def test_scored_input_is_found_by_its_summary_and_checked(tmp_path):
    batch = tmp_path / "in.csv"
    batch.write_text("applicant_id,Age\na,30\n", encoding="utf-8")
    preds = tmp_path / "preds.csv"
    preds.write_text("applicant_id,probability\na,0.2\n", encoding="utf-8")
    with pytest.raises(MonitoringError, match="has no preds.summary.json beside it"):
        scored_input(preds)
    summary = tmp_path / "preds.summary.json"
    summary.write_text("{}", encoding="utf-8")
    with pytest.raises(MonitoringError, match="is not a scoring summary"):
        scored_input(preds)
    summary.write_text(
        json.dumps({"input": str(batch), "input_sha256": sha256_file(batch)}), encoding="utf-8"
    )
    assert scored_input(preds) == batch
    batch.write_text("applicant_id,Age\na,31\n", encoding="utf-8")
    with pytest.raises(MonitoringError, match="has changed since it was scored"):
        scored_input(preds)

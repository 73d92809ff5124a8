"""The monitor's front door: a predictions file finds its scored input, a missing input is refused, not drift.

The scoring, monitoring and retraining lines of docs/how-to/monitor-and-retrain.md run here as
written, in a project folder of their own (a real MLflow store with a champion, the train split as
reference, the real `lab2prod` command in subprocesses), made by the second lane (tests/lane.py)
as the product `front_door_runs`: the tests read what the commands printed and left.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from lane import maker

from conftest import apart, empty_store
from lab2prod.cli import main
from lab2prod.data.lake import history_path, sha256_file
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.cases import scored_input

from .conftest import PROJECT

# the documented score, monitor and retrain sequence: minutes on 2 cores
pytestmark = pytest.mark.integration


def documented_monitoring_lines() -> list[str]:
    """Return the command lines of the first code block of docs/how-to/monitor-and-retrain.md."""
    section = (PROJECT / "docs" / "how-to" / "monitor-and-retrain.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL).group(1)
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


# the project's first model, made in a process of its own (the lane's thread only waits for it):
# the credit data ingested and halved as the `credit_halves` fixture does, the reference half
# retrained into a champion, its train split, and batch.csv/outcomes.csv of 500 rows of the other half
FIRST_MODEL = """
import json
from pathlib import Path
import mlflow
from lab2prod.data.lake import atomic_write_csv
from lab2prod.monitoring.retrain import RetrainConfig, retrain_in_process
from lab2prod.project import Project
root, lake, uri = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
contract, reference, batch = fixtures.halves(*fixtures.ingested_credit(lake))
mlflow.set_tracking_uri(uri)
client = mlflow.MlflowClient(uri)
client.create_experiment("lab2prod-credit", artifact_location=(root / "mlartifacts").as_uri())
first = retrain_in_process(
    Project(root=root, model_name="credit-risk", experiment="lab2prod-credit", tracking_uri=uri),
    reference, contract, RetrainConfig(), ["first model"],
)
atomic_write_csv(root / "data/lake/splits/credit/train.csv", reference)
rows = batch.sample(500, random_state=1)
atomic_write_csv(root / "batch.csv", rows.drop(columns=[contract.target]))
atomic_write_csv(root / "outcomes.csv", rows[[contract.id_column, contract.target]])
print(json.dumps({"promoted": bool(first.decision.promote)}))
"""


@dataclass(frozen=True)
class FrontDoorRuns:
    """What make_front_door_runs ran in its project folder, and what the folder held after each step."""

    root: Path  # the project: a champion, its train split, batch.csv and outcomes.csv
    first_promoted: bool  # the first model went through the gate
    lines: list[str]  # the documented command lines, as run
    score: subprocess.CompletedProcess
    monitor: subprocess.CompletedProcess
    retrain: subprocess.CompletedProcess
    status: dict  # reports/monitoring.json after the documented sequence ({} when it is missing)
    kept: list[Path]  # the labelled batches kept for retraining after it
    gone_batch: Path  # a copy of batch.csv, scored by `lab2prod score` into gone_preds
    gone_preds: Path
    gone_score: subprocess.CompletedProcess


def _run(line: str, root: Path, environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in environ.items() if k not in ("MLFLOW_TRACKING_URI", "LAB2PROD_ROOT")}
    return subprocess.run(
        shlex.split(line), cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


@maker("front_door_runs")
def make_front_door_runs(tmp_path_factory, environ) -> FrontDoorRuns:
    """Run the documented score, monitor and retrain lines in a project with a first model.

    Then `lab2prod score` a copy of its batch, whose input the second test removes. Every step is a
    process of its own: the lane's thread only waits.
    """
    root = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT / "env.yaml", root / "env.yaml")
    (root / "pipeline.yaml").write_text("tasks: []\n", encoding="utf-8")  # the project marker
    shutil.copytree(PROJECT / "data/contracts", root / "data/contracts")
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    uri = f"sqlite:///{empty_store(root)}"
    fixtures = Path(__file__).with_name("conftest.py")
    lake = tmp_path_factory.mktemp("front-door-lake")
    env = {k: v for k, v in environ.items() if k != "LAB2PROD_ROOT"} | {"MLFLOW_TRACKING_URI": uri}
    first = subprocess.run(
        apart(fixtures, FIRST_MODEL, root, str(root), str(lake), uri),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    lines = documented_monitoring_lines()
    score, monitor, retrain = (_run(line, root, environ) for line in lines)
    report = root / "reports/monitoring.json"  # none when the lines failed: the test says how
    status = json.loads(report.read_text()) if report.is_file() else {}
    kept = list((root / "data/lake/monitoring/labelled").glob("*-preds.csv"))
    folder = tmp_path_factory.mktemp("gone")
    gone_batch, gone_preds = folder / "gone.csv", folder / "gone-preds.csv"
    shutil.copy(root / "batch.csv", gone_batch)
    gone_score = _run(
        f"{sys.prefix}/bin/lab2prod score --input {gone_batch} --output {gone_preds}",
        root,
        environ,
    )
    promoted = json.loads(first.stdout.strip().splitlines()[-1])["promoted"]
    return FrontDoorRuns(
        root,
        promoted,
        lines,
        score,
        monitor,
        retrain,
        status,
        kept,
        gone_batch,
        gone_preds,
        gone_score,
    )


@pytest.fixture(scope="session")
def front_door_runs(lane, request) -> FrontDoorRuns:
    """The runs of make_front_door_runs, made by the second lane."""
    return lane.get(request, "front_door_runs")


def test_the_documented_sequence_scores_monitors_keeps_labels_and_does_not_retrain(
    front_door_runs,
):
    runs = front_door_runs
    assert runs.first_promoted
    lines = runs.lines
    assert [shlex.split(line)[1] for line in lines] == ["score", "monitor", "retrain"]
    score, monitor, retrain = runs.score, runs.monitor, runs.retrain
    assert score.returncode == 0, score.stderr
    assert monitor.returncode in (0, 1), monitor.stderr
    status = runs.status
    assert status["status"] in ("ok", "warning") and not status["retrain"], monitor.stdout
    assert status["drift"]["missing_columns"] == [] and status["drift"]["drift_share"] < 0.25
    assert status["performance"]["rows_labelled"] == 500
    kept = runs.kept
    assert len(kept) == 1 and "500 labelled rows kept for retraining" in monitor.stdout
    assert retrain.returncode == 0, retrain.stderr
    assert "no retraining" in retrain.stdout and "no retraining threshold crossed" in retrain.stdout
    assert "1 labelled batch(es) in" in retrain.stdout
    assert f"{kept[0].name}: 500 rows, would count (in the newest 3,000 rows)" in retrain.stdout


def test_predictions_whose_input_is_gone_are_refused_in_one_line(front_door_runs, capsys):
    project, done = front_door_runs.root, front_door_runs.gone_score
    common = ["--root", str(project)]
    assert done.returncode == 0, done.stderr
    front_door_runs.gone_batch.unlink()
    history = history_path(project / "data/lake")
    before = history.read_text() if history.is_file() else ""
    code = main(
        [
            "monitor",
            "--batch",
            str(front_door_runs.gone_preds),
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

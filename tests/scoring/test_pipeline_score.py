"""The scoring pipeline (pipeline.score.yaml) built by Ploomber in a temporary project folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from lane import maker

from .conftest import champion_apart

PROJECT = Path(__file__).resolve().parents[2]
STAMP = "2026-01-01T00:00:00Z"


# score_file in a process of its own, on the batch the pipeline scored (the lane's thread only waits)
SAME = """
import sys
from pathlib import Path
from lab2prod import settings
from lab2prod.scoring.score import ScoreOptions, score_file
batch, output, model_uri, contract, stamp = sys.argv[1:]
options = ScoreOptions(threshold=0.5, scored_at=stamp)
score_file(Path(batch), Path(output), model_uri, settings.load_contract(Path(contract)), options=options)
"""


@dataclass(frozen=True)
class PipelineScoreRun:
    """What make_pipeline_score_run ran: the scoring pipeline's build, then score_file on its batch."""

    root: Path  # the scoring project folder the pipeline built in
    batch: Path
    build: subprocess.CompletedProcess  # ploomber build --entry-point pipeline.score.yaml
    same: subprocess.CompletedProcess  # score_file of the batch into root/cli.csv


@maker("pipeline_score_run")
def make_pipeline_score_run(tmp_path_factory, environ) -> PipelineScoreRun:
    """Build the scoring pipeline on a batch for a champion of its own, then score the batch with score_file."""
    champion, env = champion_apart(tmp_path_factory, environ)
    tmp_path = tmp_path_factory.mktemp("pipeline-score")
    for item in (
        "pipeline.yaml",
        "pipeline.score.yaml",
        "env.score.yaml",
        "data/contracts",
        "notebooks/score.ipynb",
        "notebooks/monitor.ipynb",
        "notebooks/score_summary.ipynb",
    ):
        src, dst = PROJECT / item, tmp_path / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    batch = tmp_path / "data/incoming/batch-1.csv"
    batch.parent.mkdir(parents=True)
    shutil.copy2(champion["normalized"], batch)
    # the monitor step compares the batch with the training reference (the pipeline's train split)
    reference = tmp_path / "data/lake/splits/credit/train.csv"
    reference.parent.mkdir(parents=True)
    shutil.copy2(champion["normalized"], reference)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])
    env.pop("PLOOMBER_ENV_FILENAME", None)
    build = subprocess.run(
        [
            "ploomber",
            "build",
            "--entry-point",
            "pipeline.score.yaml",
            "--env--batch",
            "data/incoming/batch-1.csv",
            "--env--batch_name",
            "batch-1",
            "--env--scored_at",
            STAMP,
            "--env--drift_share",  # the monitor's thresholds are env.score.yaml's
            "0.4",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # the same batch through score_file, the function `lab2prod score` runs
    same = subprocess.run(
        [
            sys.executable,
            "-c",
            SAME,
            str(batch),
            str(tmp_path / "cli.csv"),
            champion["model_uri"],
            str(PROJECT / "data/contracts/credit.yaml"),
            STAMP,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return PipelineScoreRun(tmp_path, batch, build, same)


@pytest.fixture(scope="session")
def pipeline_score_run(lane, request) -> PipelineScoreRun:
    """The run of make_pipeline_score_run, made by the second lane."""
    return lane.get(request, "pipeline_score_run")


@pytest.mark.integration
def test_scoring_pipeline_writes_predictions_and_summary(pipeline_score_run):
    tmp_path, build = pipeline_score_run.root, pipeline_score_run.build
    assert build.returncode == 0, build.stderr[-3000:]
    predictions = tmp_path / "data/lake/predictions/batch-1/predictions.csv"
    page = (tmp_path / "reports/score-batch-1.html").read_text()
    assert (
        "batch-1.csv" in page and "credit-risk version" in page and "No row was quarantined" in page
    )
    # the page shows this pipeline's picture: score and monitor ran, and the summary writing it
    assert "<h2>Pipeline (last scoring run)</h2>" in page and '<img class="dag"' in page
    for task, status in (("score", "ran"), ("monitor", "ran"), ("score_summary", "ran")):
        assert f"<tr><td>{task}</td><td>{status}</td>" in page, task
    # it links the monitor's verdict of this batch and the batch's executed notebooks, all there
    assert 'Monitoring verdict: <strong class="ok">ok</strong>' in page, page[:3000]
    links = re.findall(
        r'<a href="([^"]+)">', page.split('<div class="verdict">')[1].split("</div>")[0]
    )
    assert "monitoring.html" in links and "notebooks/monitor-batch-1.html" in links, links
    assert all((tmp_path / "reports" / link).is_file() for link in links), links
    # each executed notebook's HTML opens offline: nothing from a CDN (require.js, MathJax)
    for task in ("score", "monitor", "score_summary"):
        html = (tmp_path / f"reports/notebooks/{task}-batch-1.html").read_text()
        assert not re.findall(r'<script[^>]*src="https?:', html), task
        assert "require.min.js" not in html and "mathjax/2.7.7" not in html, task
    # score, then monitor, then summary: the monitor read the scored batch through its summary
    status = json.loads((tmp_path / "reports/monitoring.json").read_text())
    assert status["batch_id"] == "batch-1" and status["status"] == "ok" and not status["retrain"]
    assert (
        status["drift_threshold"] == 0.4
    )  # env file -> pipeline params -> notebook -> MonitorConfig
    assert (tmp_path / "reports/monitoring.html").is_file()
    assert (tmp_path / "data/lake/monitoring/history.csv").is_file()
    # the same batch through score_file (`lab2prod score`) gives the same bytes
    same = pipeline_score_run.same
    assert same.returncode == 0, same.stderr[-3000:]
    assert predictions.read_bytes() == (tmp_path / "cli.csv").read_bytes()

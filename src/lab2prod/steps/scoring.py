"""The scoring pipeline's steps: score (a batch with a registered model), monitor, score_summary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab2prod import model_edge, settings, tracking
from lab2prod.monitoring.estimate import performance_lines
from lab2prod.monitoring.history import read_history
from lab2prod.monitoring.monitor import MonitorConfig, MonitorResult, run_monitoring
from lab2prod.monitoring.report import trend_figures
from lab2prod.project import Project, Scoring
from lab2prod.reporting.dag import dag_section
from lab2prod.scoring import score as scoring
from lab2prod.scoring import summary
from lab2prod.scoring.score import ScoreResult
from lab2prod.steps.results import BatchPageResult


def _scoring(project: Project) -> Scoring:
    return project.scoring or Scoring()


def score(project: Project) -> ScoreResult:
    """Score the project's batch chunk by chunk (the champion unless `model` is set); write predictions and facts.

    The predictions go to `output`, else `<lake>/predictions/<batch file's stem>/predictions.csv`.
    """
    values = _scoring(project)
    tracking.use_store(project.root)
    batch = project.path(values.batch)
    output = project.path(values.output) if values.output else project.lake.predictions(batch.stem)
    result = scoring.score_file(
        batch,
        output,
        values.model or model_edge.champion_uri(project.model_name),
        settings.load_contract(project.contract_path()),
        chunk_rows=values.chunk_rows,
        threshold=values.threshold,
        scored_at=values.scored_at or None,
        progress=scoring.stderr_progress,
        workers=values.workers,
    )
    summary.write_facts(result.summary(), summary.summary_path_for(output))
    return result


@dataclass(frozen=True)
class Monitored:
    """One monitored batch: the monitor's result, the files it wrote and the limits it judged by."""

    result: MonitorResult
    paths: dict[str, Path]
    config: MonitorConfig

    def lines(self) -> list[str]:
        """Return the batch's status in a sentence (with the page it wrote), then its performance, estimated and realized."""
        result = self.result
        status = (
            f"Batch {result.batch_id}: {result.status}, exit code {result.exit_code}; "
            f"wrote {self.paths['report']}."
        )
        return [status, *performance_lines(result.estimate, result.performance)]

    def trends_html(self) -> str:
        """Return the history's trend plots (drift share, shifts, positive rate, performance) as HTML images."""
        uris = trend_figures(
            read_history(self.paths["history"]), self.config.thresholds.drift_share
        )
        return "".join(f'<img src="{uri}" style="max-width:48%">' for uri in uris)


def monitored_batch(project: Project, upstream: Mapping[str, Any] | None = None) -> Path:
    """Return the batch the monitor reads: the score step's predictions (Ploomber's upstream, else the Lake's when a batch name is set), else `batch`, else the test split."""
    values = _scoring(project)
    if upstream and "score" in upstream:
        return Path(upstream["score"]["predictions"])
    if values.batch:
        return project.path(values.batch)
    contract = settings.load_contract(project.contract_path())
    return project.lake.split(contract.dataset, "test")  # a batch from the training distribution


def monitor(project: Project, upstream: Mapping[str, Any] | None = None) -> Monitored:
    """Compare one batch with the training reference, append to the history, write monitoring.html and .json."""
    values = _scoring(project)
    contract = settings.load_contract(project.contract_path())
    config = MonitorConfig.of(**values.limits)
    result, paths = run_monitoring(
        project.root,
        contract,
        monitored_batch(project, upstream),
        project.path(values.reference) if values.reference else None,  # None: the train split
        project.lake.lake,
        project.lake.reports,
        config,
        labels_path=project.path(values.labels) if values.labels else None,
        status_path=project.lake.report("monitoring.json"),
        model_uri=values.model or None,
        model_name=project.model_name,
        batch_id=values.batch_name or None,
        experiment=values.monitor_experiment,
        business=settings.business_settings(project.root),  # declared once, in env.yaml
    )
    return Monitored(result, paths, config)


def score_summary(
    project: Project, predictions: str | Path, report: str | Path, note: str | Path | None
) -> BatchPageResult:
    """Write the summary page of the batch scored into `predictions` to `report` (with the scoring pipeline's picture) and its `note`."""
    values = _scoring(project)
    scored = project.path(predictions)
    facts = json.loads(summary.summary_path_for(scored).read_text(encoding="utf-8"))
    # the scoring pipeline's picture, each task as it last ran for this batch (the previous note dates
    # the previous run), drawn by the code that draws the training pipeline's
    dag = dag_section(
        settings.read_yaml(project.root / "pipeline.score.yaml"),
        project.lake.executed_notebooks(),
        previous=project.path(note) if note else None,
        writing="score_summary",
        suffix=f"-{values.batch_name}",
    )
    page = summary.render_batch_summary(
        facts,
        project.path(report),
        dag=dag,
        batch_name=values.batch_name,
        root=project.root,
    )
    result = BatchPageResult(str(page), facts)
    if note:
        result.write(project.path(note))
    return result

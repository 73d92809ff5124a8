"""The scoring pipeline's steps around the monitor: score (a batch with a registered model) and score_summary."""

from __future__ import annotations

import json
from pathlib import Path

from lab2prod import model_edge, settings, tracking
from lab2prod.project import Project, Scoring
from lab2prod.reporting.dag import dag_section
from lab2prod.scoring import score as scoring
from lab2prod.scoring import summary
from lab2prod.scoring.score import ScoreResult
from lab2prod.steps.results import BatchPageResult


def scoring_values(project: Project) -> Scoring:
    """Return the project's scoring values (Scoring's defaults when it has none)."""
    return project.scoring or Scoring()


def score(project: Project) -> ScoreResult:
    """Score the project's batch chunk by chunk (the champion unless `model` is set); write predictions and facts.

    The predictions go to `output`, else `<lake>/predictions/<batch file's stem>/predictions.csv`.
    """
    values = scoring_values(project)
    tracking.use_store(project.root, project.tracking_uri)
    batch = project.path(values.batch)
    output = project.path(values.output) if values.output else project.lake.predictions(batch.stem)
    result = scoring.score_file(
        batch,
        output,
        values.model or model_edge.champion_uri(project.need("model_name")),
        settings.load_contract(project.contract_path()),
        scoring.ScoreOptions(
            chunk_rows=values.chunk_rows,
            threshold=values.threshold,
            scored_at=values.scored_at or None,
            workers=values.workers,
        ),
        progress=scoring.stderr_progress,
    )
    summary.write_facts(result.summary(), summary.summary_path_for(output))
    return result


def score_summary(
    project: Project, predictions: str | Path, report: str | Path, note: str | Path | None
) -> BatchPageResult:
    """Write the summary page of the batch scored into `predictions` to `report` (with the scoring pipeline's picture) and its `note`."""
    values = scoring_values(project)
    scored = project.path(predictions)
    facts = json.loads(summary.summary_path_for(scored).read_text(encoding="utf-8"))
    # the scoring pipeline's picture, each task as it last ran for this batch (the previous note dates
    # the previous run), drawn by the code that draws the training pipeline's
    dag = dag_section(
        settings.read_yaml(project.lake.pipeline_file(scoring=True)),
        project.lake,
        previous=project.path(note) if note else None,
        writing="score_summary",
        suffix=f"-{values.batch_name}",
    )
    page = summary.render_batch_summary(
        facts,
        project.path(report),
        project.lake,
        dag=dag,
        batch_name=values.batch_name,
    )
    result = BatchPageResult(str(page), facts)
    if note:
        result.write(project.path(note))
    return result

"""The scoring pipeline's monitor step: one batch against the training reference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab2prod import settings
from lab2prod.monitoring.estimate import performance_lines
from lab2prod.monitoring.history import read_history
from lab2prod.monitoring.monitor import (
    BatchFiles,
    ModelChoice,
    MonitorConfig,
    MonitorResult,
    run_monitoring,
)
from lab2prod.monitoring.places import MonitoringPlaces
from lab2prod.monitoring.report import trend_figures
from lab2prod.project import Project
from lab2prod.steps.scoring import scoring_values


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
    values = scoring_values(project)
    if upstream and "score" in upstream:
        return Path(upstream["score"]["predictions"])
    if values.batch:
        return project.path(values.batch)
    contract = settings.load_contract(project.contract_path())
    return project.lake.split(contract.dataset, "test")  # a batch from the training distribution


def monitor(project: Project, upstream: Mapping[str, Any] | None = None) -> Monitored:
    """Compare one batch with the training reference, append to the history, write monitoring.html and .json."""
    values = scoring_values(project)
    contract = settings.load_contract(project.contract_path())
    config = MonitorConfig.of(**values.limits)
    result, paths = run_monitoring(
        project.root,
        contract,
        BatchFiles(
            monitored_batch(project, upstream),
            batch_id=values.batch_name or None,
            labels=project.path(values.labels) if values.labels else None,
        ),
        MonitoringPlaces(
            project.lake,
            # None: the train split
            reference=project.path(values.reference) if values.reference else None,
        ),
        config,
        ModelChoice(project.model_name, uri=values.model or None),
        experiment=values.monitor_experiment,
        business=settings.business_settings(project.root),  # declared once, in env.yaml
    )
    return Monitored(result, paths, config)

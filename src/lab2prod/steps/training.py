"""The training steps: start (the build's parent run), train (one grid cell), select (on validation).

The train notebook runs once per cell of env.yaml's `grid`; select reads every cell's TrainResult
and writes the chosen one as a SelectResult, which evaluate and register read back.

`train` imports the trainer and the model logging (scikit-learn, skops) when it runs: the start
and select notebooks, on the build's critical path, need neither (docs/explanation/layout.md,
"Imports").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow

from lab2prod import settings, tracking
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.lake import sha256_file
from lab2prod.modeling.selection import resolve_metric, select_best
from lab2prod.project import Project
from lab2prod.steps.results import SelectResult, StartResult, TrainResult


def start(project: Project) -> StartResult:
    """Open the build's parent MLflow run (seed, data digest, commit, versions) and write start.json."""
    contract = settings.load_contract(project.contract_path())
    data_sha256 = sha256_file(project.lake.normalized(contract.dataset))
    experiment_id = tracking.connect(project.root, project.need("experiment"), project.tracking_uri)
    commit = tracking.git_commit(project.root)
    # each build's run is told apart in the runs table: dataset, date and time, commit
    run_name = tracking.build_run_name(contract.dataset, commit)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(
            {"seed": project.seed, "select_metric": project.select_metric, "task": contract.task}
        )
        mlflow.set_tags(
            {
                "git_commit": commit,
                "data.sha256": data_sha256,
                "dataset": contract.dataset,
                "lab2prod.role": "build",
                **{f"version.{k}": v for k, v in tracking.package_versions().items()},
            }
        )
    result = StartResult(run.info.run_id, experiment_id)
    result.write(project.lake.summary("start"))
    return result


def train(
    project: Project,
    family: str,
    model_params: dict[str, Any],
    product: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Fit one grid cell on the train split, measure it on validation, log its MLflow run; write its summary.

    `product` is Ploomber's (the cell's summary is train-<index>.json); run alone, the cell is `train`.
    """
    # scikit-learn and the serving model: only where a model is fitted (module docstring)
    from lab2prod.model_logging import RunRecord, log_training_run
    from lab2prod.modeling.training import train_model

    threshold = 0.5 if project.threshold is None else project.threshold
    contract = settings.load_contract(project.contract_path())
    lake = project.lake
    train_rows, valid = (
        read_normalized(lake.split(contract.dataset, part), contract) for part in ("train", "valid")
    )
    trained = train_model(
        train_rows,
        contract,
        family,
        model_params,
        seed=project.seed,
        valid=valid,
        threshold=threshold,
    )
    summary = Path(product["summary"]) if product else lake.summary("train")
    start = lake.summary("start")
    parent_run_id = StartResult.read(start).run_id if start.exists() else None
    normalized = lake.normalized(contract.dataset)
    data_sha256 = sha256_file(normalized)
    tracking.connect(project.root, project.need("experiment"), project.tracking_uri)
    run = log_training_run(
        trained,
        train_rows,
        contract,
        run_name=f"{summary.stem}-{family}",
        threshold=threshold,
        record=RunRecord(
            counts={"rows_train": len(train_rows), "rows_valid": len(valid)},
            metrics={f"valid_{k}": v for k, v in trained.metrics.items()},
            tags={"git_commit": tracking.git_commit(project.root), "grid.cell": summary.stem},
            data_source=str(normalized),
            data_sha256=data_sha256,
            parent_run_id=parent_run_id,
        ),
    )
    result = TrainResult(
        cell=summary.stem,
        run_id=run.run_id,
        model_uri=run.model_uri,
        family=family,
        model_params=model_params,
        seed=project.seed,
        parent_run_id=parent_run_id,
        data_sha256=data_sha256,
        valid_metrics=trained.metrics,
    )
    result.write(summary)
    return result


def cell_summaries(project: Project, upstream: Mapping[str, Any] | None = None) -> list[Path]:
    """Return the grid cells' summaries: Ploomber's upstream cells in index order, else the Lake's."""
    # Ploomber groups the grid's cells under the wildcard: {"train-*": {"train-0": {...}, ...}}
    cells = dict((upstream or {}).get("train-*", upstream or {}))
    if not cells:
        return project.lake.train_summaries()
    ordered = sorted(cells.items(), key=lambda kv: int(kv[0].rsplit("-", 1)[1]))
    return [Path(products["summary"]) for _, products in ordered]


def select(project: Project, upstream: Mapping[str, Any] | None = None) -> SelectResult:
    """Choose the best grid cell on the validation split by `select_metric`; tag its run and write select.json."""
    cells = [TrainResult.read(path) for path in cell_summaries(project, upstream)]
    as_dicts = [cell.as_dict() for cell in cells]
    metric = resolve_metric(as_dicts, project.select_metric)
    best = cells[as_dicts.index(select_best(as_dicts, metric))]
    grid = [
        {
            "cell": c.cell,
            "family": c.family,
            "model_params": c.model_params,
            **c.valid_metrics,
            "chosen": c is best,
        }
        for c in cells
    ]
    tracking.use_store(project.root, project.tracking_uri)
    client = mlflow.MlflowClient()
    client.set_tag(best.run_id, "grid.selected", "true")
    if best.parent_run_id:
        client.set_tag(best.parent_run_id, "grid.selected_run", best.run_id)
        client.set_tag(
            best.parent_run_id,
            "grid.selected_cell",
            f"{best.cell} {best.family} {best.model_params}",
        )
        for k, v in best.valid_metrics.items():
            client.log_metric(best.parent_run_id, f"valid_{k}", v)
    result = SelectResult(**best.as_dict(), select_metric=metric, grid=grid)
    result.write(project.lake.summary("select"))
    return result

"""Continuous training: retrain on the newest labelled data when monitoring crossed a threshold, then gate the result.

Labelled rows accumulate in ``<lake>/monitoring/labelled/<stamp>-<batch>.csv``
(features and target of every batch whose delayed labels came back). When the
latest monitoring status says retraining is due, the newest ``window_rows`` of
them become the training data of a challenger, which is released as every
model is: `lab2prod.release.promotion.release_challenger` (the gate's floors,
the champion on the same test rows, the fresh-process infrastructure check,
the registry aliases). Nothing is trained when no threshold was crossed.

Two paths share `retrain_needed` and that release path:

* the pipeline path (``lab2prod retrain``): the window becomes a one-file
  source catalog and ``ploomber build`` runs the training pipeline on it in a
  subprocess, with a lake of its own under ``<lake>/monitoring/retrain/<stamp>/``
  (the package never imports Ploomber); its register step releases the chosen
  model with the env file's gate settings, as for any training build.
* the in-process path (tests, the simulation, ``--in-process``): the one
  training function (`lab2prod.modeling.training.train_model`) and run logger
  (`lab2prod.tracking.log_training_run`), then the same release with the gate
  settings of `RetrainConfig`; challenger and champion are measured on the same
  held-out rows of the window, so the comparison is fair after a drift.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.data.lake import atomic_write_csv, atomic_write_text
from lab2prod.errors import MonitoringError
from lab2prod.modeling.business import BusinessValue
from lab2prod.modeling.metrics import default_metric
from lab2prod.modeling.split import split_frame
from lab2prod.modeling.training import Trained, train_model
from lab2prod.monitoring import history
from lab2prod.monitoring.drift import DriftThresholds
from lab2prod.monitoring.labelled import describe_inventory, labelled_dir, labelled_inventory
from lab2prod.monitoring.places import MonitoringPlaces
from lab2prod.monitoring.report import render_monitoring
from lab2prod.release.gate import GateDecision
from lab2prod.steps.results import RegisterResult, SelectResult

if TYPE_CHECKING:
    from lab2prod.release.promotion import Release


@dataclass(frozen=True)
class RetrainConfig:
    """How a challenger is trained and judged."""

    family: str = "linear"  # logistic regression, or ridge for a regression target
    model_params: dict[str, Any] = field(default_factory=dict)
    window_rows: int = 3000  # newest labelled rows to train on
    test_size: float = 0.25  # share of the window held out to judge challenger and champion
    seed: int = 42
    threshold: float = 0.5
    gate_metric: str = ""  # "": the task's metric (roc_auc, or rmse)
    gate_tolerance: float = 0.0
    gate_floors: dict[str, float] = field(default_factory=dict)  # as env.yaml's gate_floors
    infra_rows: int = 1000  # rows the fresh-process infrastructure check scores
    # env.yaml release.approval: a challenger that passes waits for an approver
    approval_required: bool = False
    business: BusinessValue | None = (
        None  # env.yaml's business values: the gate may compare `value`
    )


@dataclass
class Candidate:
    """A fitted challenger with the rows it was judged on."""

    model: Any
    train: pd.DataFrame
    test: pd.DataFrame
    metrics: dict[str, float]
    trained: Trained | None = None


@dataclass
class RetrainOutcome:
    """What one retraining decided."""

    retrained: bool
    reasons: list[str]
    decision: GateDecision | None = None
    model_name: str | None = None
    version: str | None = None
    run_id: str | None = None
    champion_version: str | None = None
    rows: int = 0
    candidate: Candidate | None = None
    release: Release | None = None

    def summary(self) -> dict[str, Any]:
        """Return the outcome as a JSON-ready mapping."""
        return {
            "retrained": self.retrained,
            "reasons": self.reasons,
            "model_name": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "champion_version": self.champion_version,
            "rows": self.rows,
            "promoted": bool(self.decision and self.decision.promote),
            "gate": self.decision.as_tags() if self.decision else None,
        }

    def record(self, batch_id: str) -> dict[str, Any]:
        """Return the history row of this decision."""
        decision = (
            "skip"
            if not self.retrained
            else "promote"
            if self.decision and self.decision.promote
            else "reject"
        )
        return {
            "kind": "retrain",
            "batch_id": batch_id,
            "model_name": self.model_name,
            "model_version": self.version,
            "run_id": self.run_id,
            "rows": self.rows,
            "metric": self.decision.metric if self.decision else None,
            "realized": self.decision.challenger if self.decision else None,
            "holdout": self.decision.champion if self.decision else None,
            "status": "retrained" if self.retrained else "not retrained",
            "decision": decision,
            "details": {
                "reasons": self.reasons,
                "champion_version": self.champion_version,
                "gate": list(self.decision.reasons) if self.decision else [],
            },
        }


def retrain_needed(status: dict[str, Any]) -> tuple[bool, list[str]]:
    """Return (whether a monitoring status crossed a retraining threshold, the reasons), from its JSON mapping."""
    if "retrain" not in status or "status" not in status:
        raise MonitoringError(
            "the status has no 'retrain' field: pass the JSON written by `lab2prod monitor`"
        )
    if status["retrain"]:
        return True, list(status.get("triggers") or ["monitoring asked for retraining"])
    return False, [
        f"latest batch {status.get('batch_id')!r} is {status['status']}: no retraining threshold crossed"
    ]


def newest_window(labelled: list[pd.DataFrame], window_rows: int) -> pd.DataFrame:
    """Return the newest `window_rows` rows of labelled batches given oldest first (whole batches, newest last)."""
    if window_rows < 10:
        raise MonitoringError(f"window_rows={window_rows}: retraining needs at least 10 rows")
    taken, count = [], 0
    for frame in reversed(labelled):
        taken.append(frame)
        count += len(frame)
        if count >= window_rows:
            break
    if not taken:
        raise MonitoringError(
            "no labelled batch yet: monitor batches with --labels before retraining"
        )
    window = pd.concat(list(reversed(taken)), ignore_index=True)
    return window.tail(window_rows).reset_index(drop=True)


def fit_candidate(window: pd.DataFrame, contract: Contract, config: RetrainConfig) -> Candidate:
    """Return a challenger fitted on the window's training part and measured on its held-out part."""
    parts = split_frame(
        window,
        contract.target,
        contract.task,
        test_size=config.test_size,
        valid_size=0.0,
        seed=config.seed,
    )
    trained = train_model(
        parts["train"],
        contract,
        config.family,
        config.model_params,
        seed=config.seed,
        valid=parts["test"],
        threshold=config.threshold,
    )
    return Candidate(
        model=trained.model,
        train=parts["train"],
        test=parts["test"],
        metrics=trained.metrics,
        trained=trained,
    )


# --- the edge: the lake, MLflow, the registry, the pipeline -------------------------------------------------------


def retrain_in_process(
    window: pd.DataFrame,
    contract: Contract,
    config: RetrainConfig,
    model_name: str,
    experiment_id: str,
    reasons: list[str],
) -> RetrainOutcome:
    """Fit a challenger on `window`, log it, and release it through the one release path.

    `lab2prod.release.promotion.release_challenger` registers it as challenger and judges it as
    every model is judged: the floors (`config.gate_floors`), the champion measured on the same
    held-out rows of the window, and the fresh-process infrastructure check before any alias moves.
    """
    # MLflow's import (about 1.5 s, benchmarks/imports.py) waits until a run is logged
    import mlflow

    from lab2prod import tracking
    from lab2prod.release.promotion import Challenger, GateRules, release_challenger

    candidate = fit_candidate(window, contract, config)
    run = tracking.log_training_run(
        candidate.trained,
        candidate.train,
        contract,
        run_name=f"retrain-{config.family}",
        threshold=config.threshold,
        record=tracking.RunRecord(
            counts={"rows_train": len(candidate.train), "window_rows": config.window_rows},
            metrics={f"test_{k}": v for k, v in candidate.metrics.items()},
            tags={"retrain.reasons": "; ".join(reasons)},
            experiment_id=experiment_id,
        ),
    )
    rules = GateRules(
        metric=config.gate_metric or default_metric(contract.task),
        floors=config.gate_floors,
        tolerance=config.gate_tolerance,
        approval_required=config.approval_required,
        business=config.business,
        infra_rows=config.infra_rows,
    )
    tags = {"run_id": run.run_id, "origin": "retrain"}
    release = release_challenger(
        Challenger(run.model_uri, run.run_id, config.threshold, tags),
        model_name,
        candidate.test,
        contract,
        rules,
        train=candidate.train,
    )
    if release.decision.champion_metrics:
        client = mlflow.MlflowClient()
        for key, value in release.decision.champion_metrics.items():
            client.log_metric(run.run_id, f"champion_{key}", value)
    return RetrainOutcome(
        retrained=True,
        reasons=reasons,
        decision=release.decision,
        model_name=model_name,
        version=release.version,
        run_id=run.run_id,
        champion_version=release.champion_after,
        rows=len(window),
        candidate=candidate,
        release=release,
    )


def pipeline_command(
    root: Path, catalog: Path, env_file: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """Return the `ploomber build` command (and extra environment) that trains the pipeline on a window catalog.

    The build gets its own lake beside the catalog (``--env--lake``), so the
    project's normalized zone and splits are never replaced by the window.
    """
    # pipeline.yaml reads {{data}} (a catalog or one file) and {{root}}/{{lake}}: give both relative to the project
    try:
        relative = Path(catalog).resolve().relative_to(Path(root).resolve())
    except ValueError:
        raise MonitoringError(
            f"window catalog {catalog} is outside the project {root}: keep the lake inside it"
        ) from None
    ploomber = Path(sys.executable).with_name("ploomber")
    command = [
        str(ploomber) if ploomber.exists() else "ploomber",
        "build",
        "--force",
        "--env--data",
        str(relative),
        "--env--lake",
        str(relative.parent / "lake"),
    ]
    env = {"PLOOMBER_ENV_FILENAME": env_file} if env_file else {}
    return command, env


def write_window_catalog(lake_dir: str | Path, window: pd.DataFrame, contract: Contract) -> Path:
    """Write the window as a CSV source with its one-file catalog under the lake; return the catalog."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(lake_dir) / "monitoring" / "retrain" / stamp
    atomic_write_csv(folder / "window.csv", window)
    text = (
        f"# Written by lab2prod retrain: the newest labelled rows, as one source.\n"
        f"key: {contract.id_column}\nsources:\n  - name: window\n    format: csv\n    path: window.csv\n"
    )
    return atomic_write_text(folder / "catalog.yaml", text)


def retrain_with_pipeline(
    root: Path,
    window: pd.DataFrame,
    contract: Contract,
    places: MonitoringPlaces,
    reasons: list[str],
    env_file: str | None = None,
) -> RetrainOutcome:
    """Run the training pipeline (`ploomber build`) on the window and return what its register step decided."""
    catalog = write_window_catalog(places.lake, window, contract)
    products_dir = places.products_dir()
    command, extra = pipeline_command(root, catalog, env_file)
    print("running:", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=root, env={**os.environ, **extra})
    if done.returncode != 0:
        raise MonitoringError(
            f"the training pipeline failed (exit {done.returncode}) on window {catalog.parent}: "
            "see its output above"
        )
    # the register and select steps' results, read back as their types (lab2prod.steps.results)
    registered = RegisterResult.read(products_dir / "register.json")
    trained = SelectResult.read(products_dir / "select.json")  # the grid's chosen cell
    return RetrainOutcome(
        retrained=True,
        reasons=reasons,
        # promoted: the gate passed and no approver is awaited
        decision=dataclasses.replace(registered.gate, promote=registered.promoted),
        model_name=registered.model_name,
        version=str(registered.version),
        run_id=trained.run_id,
        champion_version=registered.champion_version,
        rows=len(window),
    )


@dataclass(frozen=True)
class RetrainMode:
    """How one retraining runs: even when not due (`force`), in this process or through the pipeline."""

    force: bool = False  # retrain even when no threshold was crossed
    in_process: bool = False  # train here with RetrainConfig instead of `ploomber build`
    env_file: str | None = None  # the pipeline path's env file (None: env.yaml)


def run_retraining(
    root: Path,
    contract: Contract,
    places: MonitoringPlaces,
    config: RetrainConfig,
    model_name: str,
    experiment: str,
    mode: RetrainMode | None = None,
    say: Callable[[str], None] = print,
) -> RetrainOutcome:
    """Retrain when the monitoring status (`places.status_file()`) says it is due (or `mode.force`), record it, re-render the report.

    The pipeline path (default) runs the training pipeline on the newest labelled rows;
    `mode.in_process` trains here with `config`. Either way the model is released through the one
    release path, the decision is appended to the monitoring history and
    ``<reports>/monitoring.html`` is written again.
    """
    mode = mode or RetrainMode()
    status_path = places.status_file()
    if not status_path.is_file():
        raise MonitoringError(
            f"{status_path} not found: run `lab2prod monitor` first (or pass --status)"
        )
    status = json.loads(status_path.read_text(encoding="utf-8"))
    due, reasons = retrain_needed(status)
    if mode.force and not due:
        due, reasons = True, ["forced with --force"]
    inventory = labelled_inventory(places.lake, contract, config.window_rows)
    for line in describe_inventory(inventory, labelled_dir(places.lake), due):
        say(line)
    if not due:
        outcome = RetrainOutcome(retrained=False, reasons=reasons)
    else:
        usable = [b.frame for b in inventory if b.counted]
        if inventory and not usable:
            raise MonitoringError(
                f"none of the {len(inventory)} labelled batches in {labelled_dir(places.lake)} can be "
                "used (listed above with why): monitor batches with their features and --labels"
            )
        window = newest_window(usable, config.window_rows)
        say(f"retraining on the newest {len(window)} labelled rows: {'; '.join(reasons)}")
        if mode.in_process:
            # MLflow's import (about 1.5 s, benchmarks/imports.py) waits until a run is logged
            from lab2prod import tracking

            experiment_id = tracking.connect(root, experiment)
            outcome = retrain_in_process(
                window, contract, config, model_name, experiment_id, reasons
            )
        else:
            outcome = retrain_with_pipeline(
                root, window, contract, places, reasons, env_file=mode.env_file
            )
    history_file = history.append_record(
        history.history_path(places.lake), outcome.record(str(status.get("batch_id")))
    )
    render_monitoring(
        history.read_history(history_file),
        status,
        places.report_file(),
        float(status.get("drift_threshold", DriftThresholds.drift_share)),
        str(history_file),
    )
    return outcome

"""Continuous training: retrain on the newest labelled data when monitoring crossed a threshold, then gate the result.

Labelled rows accumulate where the Lake keeps them (`Lake.labelled`: features and target of every
batch whose delayed labels came back). When the latest monitoring status says retraining is due,
the newest ``window_rows`` of them become the training data of a challenger, which is released as
every model is: the training pipeline's register step (`lab2prod.steps.release.register`: the
gate's floors, the champion on the same test rows, the fresh-process infrastructure check, the
registry aliases). Nothing is trained when no threshold was crossed.

Both paths run the training pipeline's own steps on a window folder of the Lake
(`Lake.retrain_window`), never a copy of them:

* the pipeline path (``lab2prod retrain``): the window becomes a one-file source catalog and
  ``ploomber build`` runs the training pipeline on it in a subprocess, with the window's own lake
  (the package never imports Ploomber) and the env file's gate settings, as for any training build.
* the in-process path (tests, the simulation, ``--in-process``): the window is written to the
  window's lake as ingest and split would write it, then the steps the notebooks call run here
  (`lab2prod.steps.training.train` and `select`, `lab2prod.steps.release.register`) with the
  values of `RetrainConfig`; challenger and champion are measured on the same held-out rows of the
  window, so the comparison is fair after a drift.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.data.ingest import write_contract
from lab2prod.data.lake import Lake, atomic_write_csv, atomic_write_text, stamp_now
from lab2prod.errors import MonitoringError
from lab2prod.modeling.business import BusinessValue
from lab2prod.modeling.split import split_frame
from lab2prod.monitoring import history
from lab2prod.monitoring.drift import DriftThresholds
from lab2prod.monitoring.labelled import describe_inventory, labelled_inventory
from lab2prod.monitoring.places import MonitoringPlaces
from lab2prod.monitoring.report import render_monitoring
from lab2prod.project import Project
from lab2prod.release.gate import GateDecision
from lab2prod.steps import release, training
from lab2prod.steps.results import RegisterResult, SelectResult


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
    # env.yaml's business values: the gate may compare `value`
    business: BusinessValue | None = None


@dataclass
class RetrainOutcome:
    """What one retraining decided: the gate's decision, the version, and the steps' results behind them."""

    retrained: bool
    reasons: list[str]
    decision: GateDecision | None = None
    model_name: str | None = None
    version: str | None = None
    run_id: str | None = None
    champion_version: str | None = None
    rows: int = 0
    window: Lake | None = None  # where the window was trained: its splits, the steps' products
    # the select step's chosen cell: run, model, held-out metrics
    trained: SelectResult | None = None
    registered: RegisterResult | None = None  # the register step's release

    @classmethod
    def of(
        cls,
        registered: RegisterResult,
        trained: SelectResult,
        reasons: list[str],
        rows: int,
        window: Lake,
    ) -> RetrainOutcome:
        """Return the outcome the train, select and register steps' results make (either path)."""
        return cls(
            retrained=True,
            reasons=reasons,
            # promoted: the gate passed and no approver is awaited
            decision=dataclasses.replace(registered.gate, promote=registered.promoted),
            model_name=registered.model_name,
            version=str(registered.version),
            run_id=trained.run_id,
            champion_version=registered.champion_after,
            rows=rows,
            window=window,
            trained=trained,
            registered=registered,
        )

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


# --- the edge: the lake, MLflow, the registry, the pipeline -------------------------------------------------------


def window_project(project: Project, config: RetrainConfig, window: Lake) -> Project:
    """Return the project a retraining trains in: the window's Lake, and `config`'s values where the steps read them."""
    return dataclasses.replace(
        project,
        lake_folder=str(window.lake),
        products=str(window.products),
        reports=str(window.reports),
        seed=config.seed,
        threshold=config.threshold,
        gate_metric=config.gate_metric,
        gate_tolerance=config.gate_tolerance,
        gate_floors=dict(config.gate_floors),
        approval_required=config.approval_required,
        business=config.business,
        infra_rows=config.infra_rows,
    )


def write_window(
    project: Project, window: pd.DataFrame, contract: Contract, test_size: float
) -> Project:
    """Write the window into the project's lake as ingest and split would; return the project reading that contract.

    The window has no validation split of its own: its held-out rows are both the validation split
    the train step measures the cell on and the test split the register step gates on.
    """
    lake = project.lake
    written = write_contract(contract, lake.lake)
    atomic_write_csv(lake.normalized(contract.dataset), window)
    parts = split_frame(
        window, contract.target, contract.task, test_size, valid_size=0.0, seed=project.seed
    )
    atomic_write_csv(lake.split(contract.dataset, "train"), parts["train"])
    for part in ("valid", "test"):
        atomic_write_csv(lake.split(contract.dataset, part), parts["test"])
    return dataclasses.replace(project, dataset=contract.dataset, contract=str(written))


def retrain_in_process(
    project: Project,
    window: pd.DataFrame,
    contract: Contract,
    config: RetrainConfig,
    reasons: list[str],
) -> RetrainOutcome:
    """Run the training pipeline's steps here on `window`: train one cell, select it, register it through the gate.

    The window is written to a lake of its own (`Lake.window_lake`), and the steps the pipeline's
    notebooks call (`lab2prod.steps`) train on its train part with `config`'s family, select the
    cell and release it with `config`'s gate: the floors, the champion measured on the same held-out
    rows, the fresh-process infrastructure check before any alias moves.
    """
    stamp = stamp_now()
    here = write_window(
        window_project(project, config, project.lake.window_lake(stamp)),
        window,
        contract,
        config.test_size,
    )
    training.train(here, config.family, dict(config.model_params))
    chosen = training.select(here)
    registered = release.register(here, threshold=config.threshold, tags={"origin": "retrain"})
    # the run's record of this retraining: why, and both models on the window's held-out rows
    client = mlflow.MlflowClient()
    client.set_tag(chosen.run_id, "retrain.reasons", "; ".join(reasons))
    for prefix, metrics in (
        ("test", registered.challenger_metrics),
        ("champion", registered.champion_metrics or {}),
    ):
        for key, value in metrics.items():
            client.log_metric(chosen.run_id, f"{prefix}_{key}", value)
    return RetrainOutcome.of(registered, chosen, reasons, len(window), here.lake)


def pipeline_command(
    root: Path, catalog: Path, lake: Path, env_file: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """Return the `ploomber build` command (and extra environment) that trains the pipeline on a window catalog.

    The build gets the window's own lake (``--env--lake``), so the project's normalized zone and
    splits are never replaced by the window.
    """
    # pipeline.yaml reads {{data}} (a catalog or one file) and {{root}}/{{lake}}: give both relative to the project
    try:
        relative = [Path(p).resolve().relative_to(Path(root).resolve()) for p in (catalog, lake)]
    except ValueError:
        raise MonitoringError(
            f"window catalog {catalog} is outside the project {root}: keep the lake inside it"
        ) from None
    ploomber = Path(sys.executable).with_name("ploomber")
    command = [str(ploomber) if ploomber.exists() else "ploomber", "build", "--force"]
    command += ["--env--data", str(relative[0]), "--env--lake", str(relative[1])]
    env = {"PLOOMBER_ENV_FILENAME": env_file} if env_file else {}
    return command, env


def write_window_catalog(lake: Lake, stamp: str, window: pd.DataFrame, contract: Contract) -> Path:
    """Write the window as a CSV source with its one-file catalog where the Lake keeps window `stamp`; return the catalog."""
    source = lake.window_source(stamp)
    atomic_write_csv(source["rows"], window)
    text = (
        f"# Written by lab2prod retrain: the newest labelled rows, as one source.\n"
        f"key: {contract.id_column}\nsources:\n  - name: window\n    format: csv\n"
        f"    path: {source['rows'].name}\n"
    )
    return atomic_write_text(source["catalog"], text)


def retrain_with_pipeline(
    root: Path,
    window: pd.DataFrame,
    contract: Contract,
    places: MonitoringPlaces,
    reasons: list[str],
    env_file: str | None = None,
) -> RetrainOutcome:
    """Run the training pipeline (`ploomber build`) on the window and return what its register step decided."""
    stamp = stamp_now()
    catalog = write_window_catalog(places.lake, stamp, window, contract)
    # the build's lake is the window's; its products and reports are the project's
    built = dataclasses.replace(places.lake, lake=places.lake.window_lake(stamp).lake)
    command, extra = pipeline_command(root, catalog, built.lake, env_file)
    print("running:", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=root, env={**os.environ, **extra})
    if done.returncode != 0:
        raise MonitoringError(
            f"the training pipeline failed (exit {done.returncode}) on window {catalog.parent}: "
            "see its output above"
        )
    # the register and select steps' results, read back as their types (lab2prod.steps.results)
    return RetrainOutcome.of(
        RegisterResult.read(built.summary("register")),
        SelectResult.read(built.summary("select")),
        reasons,
        len(window),
        built,
    )


@dataclass(frozen=True)
class RetrainMode:
    """How one retraining runs: even when not due (`force`), in this process or through the pipeline."""

    force: bool = False  # retrain even when no threshold was crossed
    in_process: bool = False  # train here with RetrainConfig instead of `ploomber build`
    env_file: str | None = None  # the pipeline path's env file (None: env.yaml)


def run_retraining(
    project: Project,
    contract: Contract,
    config: RetrainConfig,
    mode: RetrainMode | None = None,
    status: Path | None = None,
    say: Callable[[str], None] = print,
) -> RetrainOutcome:
    """Retrain when the monitoring status says it is due (or `mode.force`), record it, re-render the report.

    `project` gives the folder, the Lake, the model's name, the experiment and the store; `status`
    the monitor's JSON (None: the Lake's). The pipeline path (default) runs the training pipeline on
    the newest labelled rows; `mode.in_process` runs its steps here with `config`. Either way the
    model is released through the one release path, the decision is appended to the monitoring
    history and the monitoring page is written again.
    """
    mode = mode or RetrainMode()
    places = MonitoringPlaces(project.lake, status=status)
    status_path = places.status_file()
    if not status_path.is_file():
        raise MonitoringError(
            f"{status_path} not found: run `lab2prod monitor` first (or pass --status)"
        )
    state = json.loads(status_path.read_text(encoding="utf-8"))
    due, reasons = retrain_needed(state)
    if mode.force and not due:
        due, reasons = True, ["forced with --force"]
    inventory = labelled_inventory(places.lake, contract, config.window_rows)
    for line in describe_inventory(inventory, places.lake.labelled(), due):
        say(line)
    if not due:
        outcome = RetrainOutcome(retrained=False, reasons=reasons)
    else:
        usable = [b.frame for b in inventory if b.counted]
        if inventory and not usable:
            raise MonitoringError(
                f"none of the {len(inventory)} labelled batches in {places.lake.labelled()} can be "
                "used (listed above with why): monitor batches with their features and --labels"
            )
        window = newest_window(usable, config.window_rows)
        say(f"retraining on the newest {len(window)} labelled rows: {'; '.join(reasons)}")
        if mode.in_process:
            outcome = retrain_in_process(project, window, contract, config, reasons)
        else:
            outcome = retrain_with_pipeline(
                project.root, window, contract, places, reasons, env_file=mode.env_file
            )
    history_file = history.append_record(
        places.lake.history(), outcome.record(str(state.get("batch_id")))
    )
    render_monitoring(
        history.read_history(history_file),
        state,
        places.lake.monitoring_page(),
        float(state.get("drift_threshold", DriftThresholds.drift_share)),
        str(history_file),
    )
    return outcome

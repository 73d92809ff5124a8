"""Continuous training: retrain on the newest labelled data when monitoring crossed a threshold, then gate the result.

Labelled rows accumulate in ``<lake>/monitoring/labelled/<stamp>-<batch>.csv``
(features and target of every batch whose delayed labels came back). When the
latest monitoring status says retraining is due, the newest ``window_rows`` of
them become the training data of a challenger, which goes through the same
gate (`lab2prod.release.gate.decide`) and registry aliases as any other model.
Nothing is trained when no threshold was crossed.

Two paths share `retrain_needed` and the gate:

* the pipeline path (``lab2prod retrain``): the window becomes a one-file
  source catalog and ``ploomber build`` runs the training pipeline on it in a
  subprocess, with a lake of its own under ``<lake>/monitoring/retrain/<stamp>/``
  (the package never imports Ploomber); its register step gates it against the
  champion's recorded holdout metrics, as for any training build.
* the in-process path (tests, the simulation, ``--in-process``): the same
  package functions (`build_estimator`, `model_frame`, metrics, `decide`,
  registry), with challenger and champion measured on the same held-out rows
  of the window, so the comparison is fair after a drift.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.errors import MonitoringError
from lab2prod.modeling.estimators import build_estimator
from lab2prod.modeling.features import model_columns, model_frame, target_vector
from lab2prod.modeling.predict import predict
from lab2prod.modeling.selection import resolve_metric
from lab2prod.modeling.split import split_frame
from lab2prod.release.evaluate import evaluate
from lab2prod.release.gate import GateDecision, decide


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


@dataclass
class Candidate:
    """A fitted challenger with the rows it was judged on."""

    model: Any
    train: pd.DataFrame
    test: pd.DataFrame
    metrics: dict[str, float]


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
    columns = model_columns(contract)
    model = build_estimator(
        config.family,
        contract.task,
        columns["numeric"],
        columns["categorical"],
        params=config.model_params,
        random_state=config.seed,
    )
    model.fit(model_frame(parts["train"], contract), target_vector(parts["train"], contract))
    return Candidate(
        model=model,
        train=parts["train"],
        test=parts["test"],
        metrics=measure(model, parts["test"], contract, config.threshold),
    )


def measure(
    model: Any, frame: pd.DataFrame, contract: Contract, threshold: float
) -> dict[str, float]:
    """Return the task's metrics of `model` on the labelled rows of `frame`."""
    return evaluate(
        target_vector(frame, contract),
        predict(model, model_frame(frame, contract), contract.task),
        contract.task,
        threshold,
    )


def gate_decision(
    challenger: dict[str, float], champion: dict[str, float] | None, config: RetrainConfig
) -> GateDecision:
    """Return the release gate's verdict on a retrained challenger: the one decision both retraining paths use."""
    metric = resolve_metric([{"valid_metrics": challenger}], config.gate_metric)
    return decide(challenger, champion, metric, tolerance=config.gate_tolerance)


# --- the edge: the lake, MLflow, the registry, the pipeline -------------------------------------------------------


def labelled_dir(lake_dir: str | Path) -> Path:
    """Return the lake folder of labelled batches."""
    return Path(lake_dir) / "monitoring" / "labelled"


def store_labelled(
    lake_dir: str | Path, batch_id: str, rows: pd.DataFrame, contract: Contract
) -> Path | None:
    """Keep a batch's labelled rows (id, features, target) in the lake for retraining; None when features are absent."""
    from lab2prod.data.lake import atomic_write_csv

    wanted = [c for c in (contract.id_column, *contract.features, contract.target) if c]
    if any(c not in rows.columns for c in wanted):
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return atomic_write_csv(labelled_dir(lake_dir) / f"{stamp}-{batch_id}.csv", rows[wanted])


def read_labelled(lake_dir: str | Path, contract: Contract) -> list[pd.DataFrame]:
    """Return the labelled batches of the lake, oldest first."""
    from lab2prod.data.contract import read_normalized

    files = sorted(labelled_dir(lake_dir).glob("*.csv"))
    return [read_normalized(str(f), contract) for f in files]


def retrain_in_process(
    window: pd.DataFrame,
    contract: Contract,
    config: RetrainConfig,
    model_name: str,
    experiment_id: str,
    reasons: list[str],
) -> RetrainOutcome:
    """Fit a challenger on `window`, log and register it, gate it against the champion on the same rows, move aliases."""
    import mlflow

    from lab2prod import tracking
    from lab2prod.modeling.estimators import trusted_types
    from lab2prod.release import registry

    candidate = fit_candidate(window, contract, config)
    champion = registry.version_by_alias(model_name, registry.CHAMPION)
    champion_metrics = None
    if champion is not None:
        old = tracking.load_sklearn_model(f"models:/{model_name}/{champion.version}")
        champion_metrics = measure(old, candidate.test, contract, config.threshold)
    decision = gate_decision(candidate.metrics, champion_metrics, config)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"retrain-{config.family}") as run:
        mlflow.log_params(
            {
                "family": config.family,
                "seed": config.seed,
                "threshold": config.threshold,
                "rows_train": len(candidate.train),
                "window_rows": config.window_rows,
                **{f"model.{k}": v for k, v in config.model_params.items()},
            }
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in candidate.metrics.items()})
        if champion_metrics:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champion_metrics.items()})
        mlflow.set_tags(
            {
                "retrain.reasons": "; ".join(reasons),
                "dataset": contract.dataset,
                **decision.as_tags(),
            }
        )
        model_uri = tracking.log_sklearn_model(
            candidate.model,
            model_frame(candidate.train.head(50), contract),
            trusted_types(config.family),
            "predict_proba" if contract.task == "classification" else "predict",
        )
    version = registry.register(
        model_uri, model_name, tags={"run_id": run.info.run_id, "origin": "retrain"}
    )
    registry.set_alias(model_name, registry.CHALLENGER, version.version)
    registry.tag_version(model_name, version.version, decision.as_tags())
    if decision.promote:
        registry.promote(model_name, version.version)
    now = registry.version_by_alias(model_name, registry.CHAMPION)
    return RetrainOutcome(
        retrained=True,
        reasons=reasons,
        decision=decision,
        model_name=model_name,
        version=version.version,
        run_id=run.info.run_id,
        champion_version=now.version if now else None,
        rows=len(window),
        candidate=candidate,
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
    from lab2prod.data.lake import atomic_write_csv, atomic_write_text

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
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
    lake_dir: Path,
    products_dir: Path,
    reasons: list[str],
    env_file: str | None = None,
) -> RetrainOutcome:
    """Run the training pipeline (`ploomber build`) on the window and return what its register step decided."""
    import os

    from lab2prod.release.gate import GateDecision

    catalog = write_window_catalog(lake_dir, window, contract)
    command, extra = pipeline_command(root, catalog, env_file)
    print("running:", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=root, env={**os.environ, **extra})
    if done.returncode != 0:
        raise MonitoringError(
            f"the training pipeline failed (exit {done.returncode}) on window {catalog.parent}: "
            "see its output above"
        )
    registered = json.loads((products_dir / "register.json").read_text(encoding="utf-8"))
    tags = registered["decision"]
    champion = None if tags["gate.champion"] == "none" else float(tags["gate.champion"])
    decision = GateDecision(
        promote=bool(registered["promoted"]),
        metric=tags["gate.metric"],
        challenger=float(tags["gate.challenger"]),
        champion=champion,
        reasons=tuple(tags["gate.reasons"].split("; ")),
    )
    trained = json.loads(
        (products_dir / "select.json").read_text(encoding="utf-8")
    )  # the grid's chosen cell
    return RetrainOutcome(
        retrained=True,
        reasons=reasons,
        decision=decision,
        model_name=registered["model_name"],
        version=str(registered["version"]),
        run_id=trained.get("run_id"),
        champion_version=registered.get("champion_version"),
        rows=len(window),
    )

"""Replay the bundled credit data as a sequence of drifting batches, with and without the retraining loop.

The scenario (deterministic for a seed):

* Half of the normalized data (seeded) is the past: the first model is trained
  on it, registered and made champion. Batches of ``batch_rows`` rows are drawn
  with replacement from the other half.
* From batch ``drift_start`` the drift grows linearly to full strength at the
  last batch (intensity t from 0 to 1):

  1. **Income shifts down**: every applicant's Income is multiplied by
     ``1 - income_drop * t`` (a covariate shift: outcomes do not change, so the
     frozen model over-predicts risk).
  2. **A new applicant segment grows** to ``segment_share * t`` of the batch:
     young part-time workers living with their parents (Job=partime,
     Home=parents, single, age 19-26, little seniority, low income, no records).
     In the past data part-time workers defaulted 60% of the time, so the
     frozen model scores the whole segment as risky; in fact they default
     about 15% of the time, and *which* of them default depends on the amount
     borrowed: P(bad) = sigmoid(segment_intercept + segment_slope * z(Amount)).
     That is a different default relationship, and it hurts the frozen model's
     ranking (ROC AUC) as the segment grows.

* Each batch is scored by the frozen first model and by the current champion
  of the loop; the loop monitors it against its champion's training data,
  receives its delayed labels, and when the monitor says retraining is due it
  retrains on the newest ``window_rows`` labelled rows and sends the
  challenger through the release gate and registry aliases
  (`retrain.retrain_in_process`). Performance per batch is always measured on
  that batch's labels by the model that scored it, before any retraining it
  triggers.

The simulation keeps its own lake and MLflow store in a work folder (a
temporary one by default), never the project's registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab2prod.data.contract import Contract
from lab2prod.errors import MonitoringError
from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.modeling.training import model_metrics
from lab2prod.monitoring import history
from lab2prod.monitoring.drift import DriftThresholds
from lab2prod.monitoring.monitor import MonitorConfig, monitor_frame
from lab2prod.monitoring.retrain import (
    RetrainConfig,
    newest_window,
    retrain_in_process,
    store_labelled,
)

MODEL_NAME = "credit-risk-simulated"
# what the simulation replays, whatever the project trains on (paths in the project folder)
BUNDLED_CATALOG = "data/sources/credit/catalog.yaml"
BUNDLED_CONTRACT = "data/contracts/credit.yaml"


@dataclass(frozen=True)
class Scenario:
    """The drift of the replay: when it starts and how strong it gets."""

    batches: int = 8
    batch_rows: int = 1000
    drift_start: int = 2
    income_drop: float = 0.4
    segment_share: float = 0.5
    segment_intercept: float = -2.0
    segment_slope: float = 1.8
    seed: int = 42

    def intensity(self, k: int) -> float:
        """Return the drift strength of batch `k`: 0 before `drift_start`, rising linearly to 1 at the last batch."""
        if k < self.drift_start:
            return 0.0
        return (k - self.drift_start + 1) / max(1, self.batches - self.drift_start)


def make_batch(pool: pd.DataFrame, contract: Contract, scenario: Scenario, k: int) -> pd.DataFrame:
    """Return batch `k` of the scenario (features and true outcome), drawn from `pool`; deterministic for the seed."""
    rng = np.random.default_rng([scenario.seed, k])
    t = scenario.intensity(k)
    n = scenario.batch_rows
    n_segment = int(round(n * scenario.segment_share * t))
    base = pool.iloc[rng.integers(0, len(pool), n - n_segment)].reset_index(drop=True)
    base = base.assign(Income=base["Income"] * (1 - scenario.income_drop * t))
    parts = [base]
    if n_segment:
        seg = pool.iloc[rng.integers(0, len(pool), n_segment)].reset_index(drop=True)
        amount = seg["Amount"].to_numpy(dtype="float64")
        z = (amount - pool["Amount"].mean()) / pool["Amount"].std()
        p_bad = 1 / (1 + np.exp(-(scenario.segment_intercept + scenario.segment_slope * z)))
        bad = rng.random(n_segment) < p_bad
        labels = contract.labels or ("bad", "good")
        negative = next(x for x in labels if x != contract.positive_label)
        seg = seg.assign(
            Job="partime",
            Home="parents",
            Marital="single",
            Records="no",
            Age=rng.integers(19, 27, n_segment),
            Seniority=rng.integers(0, 4, n_segment),
            Income=np.round(rng.uniform(40, 100, n_segment), 0),
            Assets=0.0,
            Debt=0.0,
            **{contract.target: np.where(bad, contract.positive_label, negative)},
        )
        seg[contract.target] = seg[contract.target].astype(base[contract.target].dtype)
        parts.append(seg)
    batch = pd.concat(parts, ignore_index=True)
    batch = batch.iloc[rng.permutation(len(batch))].reset_index(drop=True)
    return batch.assign(**{contract.id_column: [f"B{k:02d}-{i:05d}" for i in range(len(batch))]})


def _champion(released: Any) -> dict[str, Any]:
    """Return what the loop scores with once `released` (a retraining outcome) became champion."""
    from lab2prod import model_edge

    return {
        "model": model_edge.load_sklearn_model(model_edge.champion_uri(MODEL_NAME)),
        "version": released.version,
        "run_id": released.run_id,
        "train": released.candidate.train,
        "holdout": released.candidate.metrics,
    }


def run_simulation(
    data: pd.DataFrame,
    contract: Contract,
    scenario: Scenario,
    workdir: Path,
    retrain: RetrainConfig | None = None,
    monitor: MonitorConfig | None = None,
    progress: Callable[[str], None] | None = None,
    gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Replay `data` under `scenario`; return the per-batch table (frozen vs loop) and the retraining decisions.

    `workdir` holds the simulation's lake and its MLflow SQLite store. Without `retrain`, models
    are trained on twice a batch's rows and released with the gate values `gate` (an env file's
    gate_floors, gate_metric, gate_tolerance, threshold: `settings.gate_settings`).
    """
    import mlflow

    from lab2prod.tracking import mark_model_training

    if contract.task != "classification":
        raise MonitoringError(
            "the replay simulation is written for binary classification (the credit demo)"
        )
    if len(data) < 200:
        raise MonitoringError(f"{len(data)} rows: the simulation needs at least 200")
    retrain = retrain or RetrainConfig(
        window_rows=2 * scenario.batch_rows, seed=scenario.seed, **(gate or {})
    )
    monitor = monitor or MonitorConfig(thresholds=DriftThresholds(drift_share=0.25), tolerance=0.05)
    say = progress or (lambda _: None)
    workdir = Path(workdir)
    lake_dir = workdir / "lake"
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    try:
        client = mlflow.MlflowClient()
        found = client.get_experiment_by_name("simulation")
        experiment = (
            found.experiment_id
            if found
            else client.create_experiment(
                "simulation", artifact_location=(workdir / "mlartifacts").as_uri()
            )
        )
        mark_model_training(client, experiment, found.tags if found else {})
        past = data.sample(frac=0.5, random_state=scenario.seed)
        pool = data.drop(past.index).reset_index(drop=True)
        past = past.reset_index(drop=True)
        first = retrain_in_process(
            past, contract, retrain, MODEL_NAME, experiment, ["initial model"]
        )
        if not first.decision.promote:
            raise MonitoringError(
                "the initial model of the replay was not released ("
                + "; ".join(first.decision.reasons)
                + "): loosen gate_floors in env.yaml or replay more rows"
            )
        frozen = first.candidate.model
        champion = _champion(first)
        say(
            f"initial model v{first.version}: holdout roc_auc {first.candidate.metrics['roc_auc']:.4f}"
        )
        rows, decisions = [], []
        history_file = history.history_path(lake_dir)
        for k in range(scenario.batches):
            batch = make_batch(pool, contract, scenario, k)
            features = batch.drop(columns=[contract.target])
            labels = batch[[contract.id_column, contract.target]]
            scored = features.assign(
                probability=predict(
                    champion["model"], model_frame(features, contract), contract.task
                ),
                model_name=MODEL_NAME,
                model_version=champion["version"],
                run_id=champion["run_id"],
            )
            result = monitor_frame(
                scored,
                champion["train"],
                contract,
                f"batch{k:02d}",
                monitor,
                champion["model"],
                {
                    "model_name": MODEL_NAME,
                    "model_version": champion["version"],
                    "run_id": champion["run_id"],
                },
                labels=labels,
                holdout=champion["holdout"],
            )
            history.append_record(history_file, result.record())
            store_labelled(lake_dir, f"batch{k:02d}", batch, contract)
            frozen_m = model_metrics(frozen, batch, contract, monitor.cut)
            loop_m = model_metrics(champion["model"], batch, contract, monitor.cut)
            row = {
                "batch": k,
                "intensity": round(scenario.intensity(k), 3),
                "segment_share": round(
                    float((batch["Job"].eq("partime") & batch["Home"].eq("parents")).mean()), 3
                ),
                "drift_share": round(result.drift.drift_share, 3),
                "status": result.status,
                "frozen_roc_auc": round(frozen_m["roc_auc"], 4),
                "loop_roc_auc": round(loop_m["roc_auc"], 4),
                "frozen_log_loss": round(frozen_m["log_loss"], 4),
                "loop_log_loss": round(loop_m["log_loss"], 4),
                "loop_model_version": champion["version"],
                "retrained": False,
                "promoted": False,
            }
            say(
                f"batch {k}: t={row['intensity']:.2f} frozen {row['frozen_roc_auc']:.4f} loop {row['loop_roc_auc']:.4f} "
                f"[{result.status}]"
            )
            if result.retrain:
                window = newest_window(history_labelled(lake_dir, contract), retrain.window_rows)
                outcome = retrain_in_process(
                    window, contract, retrain, MODEL_NAME, experiment, result.triggers
                )
                history.append_record(history_file, outcome.record(f"batch{k:02d}"))
                row.update(retrained=True, promoted=outcome.decision.promote)
                decisions.append(
                    {
                        "after_batch": k,
                        "version": outcome.version,
                        "promoted": outcome.decision.promote,
                        "triggers": result.triggers,
                        "gate": list(outcome.decision.reasons),
                    }
                )
                say(
                    f"  retrained v{outcome.version}: {'promoted' if outcome.decision.promote else 'rejected'} "
                    f"({'; '.join(outcome.decision.reasons)})"
                )
                if outcome.decision.promote:
                    champion = _champion(outcome)
            rows.append(row)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    table = pd.DataFrame(rows)
    drifted = table[table["intensity"] > 0]
    return {
        "scenario": asdict(scenario),
        "retrain": asdict(retrain),
        "table": table,
        "decisions": decisions,
        "initial_holdout_roc_auc": round(first.candidate.metrics["roc_auc"], 4),
        "mean_after_drift": {
            "frozen_roc_auc": round(float(drifted["frozen_roc_auc"].mean()), 4),
            "loop_roc_auc": round(float(drifted["loop_roc_auc"].mean()), 4),
        },
        "history": str(history_file),
    }


def simulate_sources(
    catalog: Any,
    contract: Contract,
    scenario: Scenario,
    reports_dir: Path,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    gate: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Ingest `catalog` into the simulation's own lake, replay it, write the report and its JSON.

    Always the given sources (the bundled ones by default), never the project's lake: a retraining
    build may have replaced its data. `workdir` keeps the simulation's lake and MLflow store
    (a temporary folder when None); `gate` as for `run_simulation`. Returns the result and the
    paths written (report, json).
    """
    import tempfile

    from lab2prod.data.conditioning import read_normalized
    from lab2prod.data.ingest import ingest
    from lab2prod.data.lake import atomic_write_json

    say = progress or (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="lab2prod-sim-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        say(f"ingesting {catalog.location} into {work / 'source-lake'}")
        normalized = ingest(catalog, contract, work / "source-lake").normalized
        data = read_normalized(str(normalized), contract)
        result = run_simulation(data, contract, scenario, work, progress=progress, gate=gate)
    reports_dir = Path(reports_dir)
    report = render_simulation(result, reports_dir / "simulation.html")
    saved = atomic_write_json(
        reports_dir / "simulation.json",
        {
            **{k: v for k, v in result.items() if k != "table"},
            "table": result["table"].to_dict("records"),
        },
    )
    return result, {"report": report, "json": saved}


def history_labelled(lake_dir: Path, contract: Contract) -> list[pd.DataFrame]:
    """Return the simulation lake's labelled batches, oldest first."""
    from lab2prod.monitoring.retrain import read_labelled

    return read_labelled(lake_dir, contract)


def simulation_figure(table: pd.DataFrame):
    """Return the figure of ROC AUC per batch, frozen against the retraining loop, with the drift intensity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(table["batch"], table["frozen_roc_auc"], marker="o", label="frozen first model")
    ax.plot(table["batch"], table["loop_roc_auc"], marker="o", label="with the retraining loop")
    for _, row in table[table["promoted"]].iterrows():
        ax.axvline(row["batch"] + 0.5, ls=":", c="#17692c", lw=1)
    ax.set(
        xlabel="batch (dotted: a retrained model promoted after this batch)",
        ylabel="ROC AUC on delayed labels",
        title="Performance per batch",
    )
    twin = ax.twinx()
    twin.fill_between(
        table["batch"], table["intensity"], alpha=0.12, color="grey", label="drift intensity"
    )
    twin.set(ylim=(0, 1.05), ylabel="drift intensity")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def render_simulation(result: dict[str, Any], path: str | Path) -> Path:
    """Write reports/simulation.html (scenario, plot, per-batch table, retraining decisions); return the path."""
    import datetime as dt

    import matplotlib.pyplot as plt

    from lab2prod.reporting.render import figure_data_uri, render

    fig = simulation_figure(result["table"])
    plot = figure_data_uri(fig)
    plt.close(fig)
    return render(
        "simulation.html",
        path,
        title="Replay simulation: monitoring and continuous training",
        built_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M GMT"),
        scenario=result["scenario"],
        retrain=result["retrain"],
        plot=plot,
        rows=result["table"].to_dict("records"),
        decisions=result["decisions"],
        initial=result["initial_holdout_roc_auc"],
        after=result["mean_after_drift"],
        doc=__doc__,
    )


def table_markdown(table: pd.DataFrame) -> str:
    """Return the per-batch table as Markdown (for notes and the command's output)."""
    columns = [
        "batch",
        "intensity",
        "segment_share",
        "drift_share",
        "status",
        "frozen_roc_auc",
        "loop_roc_auc",
        "loop_model_version",
        "retrained",
        "promoted",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table[columns].itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)

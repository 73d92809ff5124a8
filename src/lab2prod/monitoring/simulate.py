"""Replay a project's table as a sequence of drifting batches, with and without the retraining loop.

Any table and task the contract describes: binary or multiclass classification, or regression.
The scenario (deterministic for a seed; every column it touches is one of its fields, so a
project names its own, from its env file or the command line):

* Half of the table (seeded) is the past: the first model is trained on it, registered and made
  champion. Batches of ``batch_rows`` rows are drawn with replacement from the other half.
* From batch ``drift_start`` the drift grows linearly to full strength at the last batch
  (intensity t from 0 to 1):

  1. **A covariate shift**: every row's ``shift_column`` (a numeric feature; by default the
     contract's first) is multiplied by ``1 - shift * t``. Outcomes do not change, so the frozen
     model's predictions drift away from them.
  2. **A new segment grows** to ``segment_share * t`` of the batch. Its rows take the values of
     ``segment_values`` (e.g. a job and a housing), and their outcome follows a relationship the
     past never showed, on z, the standardized ``segment_column`` (a numeric feature; by default
     the contract's last): binary, P(positive) = sigmoid(segment_intercept + segment_slope * z);
     multiclass, the classes in the reverse order of their past mean of that column, by quantile
     of z; regression, the target's past mean moving against z by ``segment_slope`` standard
     deviations per unit of z, against the past correlation. The frozen model's ranking and
     errors get worse as the segment grows.

* Each batch is scored by the frozen first model and by the current champion of the loop; the
  loop monitors it against its champion's training data, receives its delayed labels, and when
  the monitor says retraining is due it retrains on the newest ``window_rows`` labelled rows and
  sends the challenger through the release gate and registry aliases: the training pipeline's own
  steps, run in process on the window (`retrain.retrain_in_process`). Performance per batch (the
  gate's metric: ROC AUC, or RMSE for a regression, unless the gate names another) is always
  measured on that batch's labels by the model that scored it, before any retraining it triggers.

The simulation is a project of its own in a work folder (a temporary one by default): its lake,
its MLflow store, never the project's registry; its models are registered as ``model_name`` in
``experiment``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from lab2prod import model_edge
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.contract import Contract
from lab2prod.data.ingest import ingest
from lab2prod.data.lake import Lake, atomic_write_json
from lab2prod.errors import MonitoringError
from lab2prod.modeling.features import feature_columns, is_multiclass, model_frame
from lab2prod.modeling.metric_names import default_metric, is_better
from lab2prod.modeling.predict import predict
from lab2prod.modeling.training import model_metrics
from lab2prod.monitoring import history
from lab2prod.monitoring.drift import DriftThresholds
from lab2prod.monitoring.labelled import read_labelled, store_labelled
from lab2prod.monitoring.monitor import MonitorConfig, WatchedModel, monitor_frame
from lab2prod.monitoring.retrain import (
    RetrainConfig,
    RetrainOutcome,
    newest_window,
    retrain_in_process,
)
from lab2prod.project import Project
from lab2prod.reporting.render import figure_data_uri, render

# the fewest rows a replay takes: half train the first model, the other half feed the batches
MIN_ROWS = 100


@dataclass(frozen=True)
class Scenario:
    """The replay: its batches, their drift, and the name and experiment its models are registered under."""

    batches: int = 8
    batch_rows: int = 1000
    drift_start: int = 2
    shift: float = 0.4  # share by which shift_column falls at full drift
    shift_column: str = ""  # "": the contract's first numeric feature
    segment_share: float = 0.5
    segment_column: str = ""  # "": the contract's last numeric feature
    segment_intercept: float = -2.0
    segment_slope: float = 1.8
    segment_values: tuple[
        tuple[str, Any], ...
    ] = ()  # (column, value) pairs the segment's rows take
    seed: int = 42
    model_name: str = "simulated"
    experiment: str = "simulation"

    def __post_init__(self) -> None:
        """Refuse a scenario that cannot be replayed, in one line naming the option."""
        if self.batches < 1:
            raise MonitoringError(f"--batches {self.batches}: the replay needs at least one batch")
        if self.batch_rows < 10:
            raise MonitoringError(
                f"--batch-rows {self.batch_rows}: a batch needs at least 10 rows to be monitored"
            )
        if self.drift_start < 0:
            raise MonitoringError(
                f"--drift-start {self.drift_start}: give a batch number from 0 (the first batch)"
            )

    def intensity(self, k: int) -> float:
        """Return the drift strength of batch `k`: 0 before `drift_start`, rising linearly to 1 at the last batch."""
        if k < self.drift_start:
            return 0.0
        return (k - self.drift_start + 1) / max(1, self.batches - self.drift_start)

    def segment_rows(self, k: int) -> int:
        """Return how many rows of batch `k` belong to the new segment."""
        return int(round(self.batch_rows * self.segment_share * self.intensity(k)))


def drift_columns(contract: Contract, scenario: Scenario) -> tuple[str, str]:
    """Return the (shift, segment) columns of the replay: the scenario's, else the contract's first and last numeric features.

    Raises MonitoringError when the contract has no numeric feature or names a column that is not one.
    """
    numeric = feature_columns(contract)["numeric"]
    if not numeric:
        raise MonitoringError(
            "the replay drifts numeric features and the contract has none: add one or choose another table"
        )
    chosen = (scenario.shift_column or numeric[0], scenario.segment_column or numeric[-1])
    for column in chosen:
        if column not in numeric:
            raise MonitoringError(
                f"the replay drifts {column!r}, which is not a numeric feature of the contract "
                f"({', '.join(numeric)})"
            )
    return chosen


def _segment_outcome(
    pool: pd.DataFrame,
    contract: Contract,
    scenario: Scenario,
    z: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the new segment's outcomes: a relationship to z the past never showed (see the module)."""
    column = drift_columns(contract, scenario)[1]
    target = pool[contract.target]
    if contract.task == "regression":
        past = target.astype("float64")
        sign = np.sign(np.corrcoef(pool[column].astype("float64"), past)[0, 1]) or 1.0
        moved = past.mean() - sign * scenario.segment_slope * past.std() * z
        moved = moved + rng.normal(0.0, 0.1 * past.std(), len(z))
        return np.round(moved) if contract.rule(contract.target).type == "int" else moved
    labels = list(contract.labels or sorted(target.dropna().unique()))
    if is_multiclass(contract):
        means = pool.groupby(target.astype(str))[column].mean()
        order = sorted(labels, key=lambda label: -means.get(str(label), 0.0))
        cuts = np.quantile(z, np.linspace(0, 1, len(order) + 1)[1:-1])
        return np.asarray(order, dtype=object)[np.searchsorted(cuts, z)]
    p_positive = 1 / (1 + np.exp(-(scenario.segment_intercept + scenario.segment_slope * z)))
    positive = contract.positive_label or labels[-1]
    negative = next(x for x in labels if x != positive)
    return np.where(rng.random(len(z)) < p_positive, positive, negative)


def make_batch(pool: pd.DataFrame, contract: Contract, scenario: Scenario, k: int) -> pd.DataFrame:
    """Return batch `k` of the scenario (features and true outcome), drawn from `pool`; deterministic for the seed."""
    rng = np.random.default_rng([scenario.seed, k])
    t = scenario.intensity(k)
    n_segment = scenario.segment_rows(k)
    shift_column, segment_column = drift_columns(contract, scenario)
    base = pool.iloc[rng.integers(0, len(pool), scenario.batch_rows - n_segment)]
    parts = [base.reset_index(drop=True)]
    if n_segment:
        seg = pool.iloc[rng.integers(0, len(pool), n_segment)].reset_index(drop=True)
        values = pool[segment_column].astype("float64")
        z = (seg[segment_column].to_numpy(dtype="float64") - values.mean()) / (values.std() or 1.0)
        outcome = _segment_outcome(pool, contract, scenario, z, rng)
        seg = seg.assign(**dict(scenario.segment_values), **{contract.target: outcome})
        seg[contract.target] = seg[contract.target].astype(pool[contract.target].dtype)
        parts.append(seg)
    batch = pd.concat(parts, ignore_index=True)
    shifted = batch[shift_column] * (1 - scenario.shift * t)
    if contract.rule(shift_column).type == "int":  # a count stays a count
        shifted = shifted.round().astype(batch[shift_column].dtype)
    batch[shift_column] = shifted
    batch = batch.iloc[rng.permutation(len(batch))].reset_index(drop=True)
    ids = [f"B{k:02d}-{i:05d}" for i in range(len(batch))]
    return batch.assign(**{contract.id_column: ids}) if contract.id_column else batch


def _champion(released: RetrainOutcome, contract: Contract) -> dict[str, Any]:
    """Return what the loop scores with once `released` (a retraining outcome) became champion."""
    return {
        "model": model_edge.load_sklearn_model(model_edge.champion_uri(released.model_name)),
        "version": released.version,
        "run_id": released.run_id,
        # what it learnt from: the reference its batches are monitored against
        "train": read_normalized(released.window.split(contract.dataset, "train"), contract),
        "holdout": released.trained.valid_metrics,  # on the window's held-out rows
    }


def replay_project(workdir: Path, scenario: Scenario) -> Project:
    """Return the replay's own project in `workdir`: its lake, its SQLite store, its model and experiment."""
    return Project(
        root=workdir,
        model_name=scenario.model_name,
        experiment=scenario.experiment,
        lake_folder="lake",
        tracking_uri=f"sqlite:///{Path(workdir).resolve() / 'mlflow.db'}",
    )


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
    gate_floors, gate_metric, gate_tolerance, threshold: `settings.gate_settings`). The table's
    `frozen_<metric>` and `loop_<metric>` are the gate's metric on each batch's labels.
    Raises MonitoringError for a table of fewer than MIN_ROWS rows or without a numeric feature.
    """
    if len(data) < MIN_ROWS:
        raise MonitoringError(f"{len(data)} rows: the simulation needs at least {MIN_ROWS}")
    drift_columns(contract, scenario)  # a table the replay cannot drift fails before any training
    retrain = retrain or RetrainConfig(
        window_rows=2 * scenario.batch_rows, seed=scenario.seed, **(gate or {})
    )
    monitor = monitor or MonitorConfig(thresholds=DriftThresholds(drift_share=0.25), tolerance=0.05)
    metric = retrain.gate_metric or default_metric(contract.task)
    say = progress or (lambda _: None)
    project = replay_project(Path(workdir), scenario)
    lake: Lake = project.lake
    name = scenario.model_name
    previous_uri = mlflow.get_tracking_uri()
    try:
        past = data.sample(frac=0.5, random_state=scenario.seed)
        pool = data.drop(past.index).reset_index(drop=True)
        past = past.reset_index(drop=True)
        first = retrain_in_process(project, past, contract, retrain, ["initial model"])
        if not first.decision.promote:
            raise MonitoringError(
                "the initial model of the replay was not released ("
                + "; ".join(first.decision.reasons)
                + "): loosen gate_floors in env.yaml or replay more rows"
            )
        champion = _champion(first, contract)
        frozen = champion["model"]
        initial = first.trained.valid_metrics[metric]
        say(f"initial model v{first.version}: holdout {metric} {initial:.4f}")
        rows, decisions = [], []
        history_file = lake.history()
        for k in range(scenario.batches):
            batch = make_batch(pool, contract, scenario, k)
            features = batch.drop(columns=[contract.target])
            lineage = {
                "model_name": name,
                "model_version": champion["version"],
                "run_id": champion["run_id"],
            }
            scored = _scored(features, champion["model"], contract, lineage)
            labels = batch[[c for c in (contract.id_column, contract.target) if c]]
            result = monitor_frame(
                scored,
                champion["train"],
                contract,
                f"batch{k:02d}",
                monitor,
                WatchedModel(champion["model"], lineage, holdout=champion["holdout"]),
                labels=labels,
            )
            history.append_record(history_file, result.record())
            store_labelled(lake, f"batch{k:02d}", batch, contract)
            frozen_m = model_metrics(frozen, batch, contract, monitor.cut)
            loop_m = model_metrics(champion["model"], batch, contract, monitor.cut)
            row = {
                "batch": k,
                "intensity": round(scenario.intensity(k), 3),
                "segment_share": round(scenario.segment_rows(k) / scenario.batch_rows, 3),
                "drift_share": round(result.drift.drift_share, 3),
                "status": result.status,
                f"frozen_{metric}": round(frozen_m[metric], 4),
                f"loop_{metric}": round(loop_m[metric], 4),
                "loop_model_version": champion["version"],
                "retrained": False,
                "promoted": False,
            }
            say(
                f"batch {k}: t={row['intensity']:.2f} frozen {frozen_m[metric]:.4f} "
                f"loop {loop_m[metric]:.4f} [{result.status}]"
            )
            if result.retrain:
                window = newest_window(read_labelled(lake, contract), retrain.window_rows)
                outcome = retrain_in_process(project, window, contract, retrain, result.triggers)
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
                verdict = "promoted" if outcome.decision.promote else "rejected"
                say(
                    f"  retrained v{outcome.version}: {verdict} ({'; '.join(outcome.decision.reasons)})"
                )
                if outcome.decision.promote:
                    champion = _champion(outcome, contract)
            rows.append(row)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    table = pd.DataFrame(rows)
    drifted = table[table["intensity"] > 0]
    return {
        "scenario": asdict(scenario),
        "retrain": asdict(retrain),
        "metric": metric,
        "table": table,
        "decisions": decisions,
        f"initial_holdout_{metric}": round(initial, 4),
        "mean_after_drift": {
            f"frozen_{metric}": round(float(drifted[f"frozen_{metric}"].mean()), 4),
            f"loop_{metric}": round(float(drifted[f"loop_{metric}"].mean()), 4),
        },
        "history": str(history_file),
    }


def _scored(
    features: pd.DataFrame, model: Any, contract: Contract, lineage: dict[str, Any]
) -> pd.DataFrame:
    """Return `features` with `model`'s output as `lab2prod score` writes it, and its lineage."""
    output = predict(model, model_frame(features, contract), contract.task)
    if contract.task == "regression":
        columns = {"prediction": output}
    elif output.ndim == 2:
        columns = {f"probability_{label}": output[:, j] for j, label in enumerate(contract.labels)}
    else:
        columns = {"probability": output}
    return features.assign(**columns, **lineage)


def simulate_sources(
    catalog: Any,
    contract: Contract,
    scenario: Scenario,
    reports: Lake,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    gate: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Ingest `catalog` into the simulation's own lake, replay it, write the report and its JSON.

    Always the given sources, never the project's lake: a retraining build may have replaced its
    data. The pages go where the project's Lake `reports` puts them. `workdir` keeps the
    simulation's lake and MLflow store (a temporary folder when None); `gate` as for
    `run_simulation`. Returns the result and the paths written (report, json).
    """
    say = progress or (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="lab2prod-sim-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        replay_lake = replay_project(work, scenario).lake.lake
        say(f"ingesting {catalog.location} into {replay_lake}")
        normalized = ingest(catalog, contract, replay_lake).normalized
        data = read_normalized(str(normalized), contract)
        result = run_simulation(data, contract, scenario, work, progress=progress, gate=gate)
    pages = reports.simulation_pages()
    report = render_simulation(result, pages["report"])
    saved = atomic_write_json(
        pages["json"],
        {
            **{k: v for k, v in result.items() if k != "table"},
            "table": result["table"].to_dict("records"),
        },
    )
    return result, {"report": report, "json": saved}


def simulation_figure(table: pd.DataFrame, metric: str):
    """Return the figure of `metric` per batch, frozen against the retraining loop, with the drift intensity."""
    matplotlib.use("Agg")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(table["batch"], table[f"frozen_{metric}"], marker="o", label="frozen first model")
    ax.plot(table["batch"], table[f"loop_{metric}"], marker="o", label="with the retraining loop")
    for _, row in table[table["promoted"]].iterrows():
        ax.axvline(row["batch"] + 0.5, ls=":", c="#17692c", lw=1)
    ax.set(
        xlabel="batch (dotted: a retrained model promoted after this batch)",
        ylabel=f"{metric} on delayed labels",
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
    metric = result["metric"]
    fig = simulation_figure(result["table"], metric)
    plot = figure_data_uri(fig)
    plt.close(fig)
    rows = [
        {
            **row,
            "frozen": row[f"frozen_{metric}"],
            "loop": row[f"loop_{metric}"],
            "loop_better": is_better(metric, row[f"loop_{metric}"], row[f"frozen_{metric}"]),
        }
        for row in result["table"].to_dict("records")
    ]
    after = result["mean_after_drift"]
    return render(
        "simulation.html",
        path,
        title="Replay simulation: monitoring and continuous training",
        built_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M GMT"),
        scenario=result["scenario"],
        retrain=result["retrain"],
        metric=metric,
        plot=plot,
        rows=rows,
        decisions=result["decisions"],
        initial=result[f"initial_holdout_{metric}"],
        after={"frozen": after[f"frozen_{metric}"], "loop": after[f"loop_{metric}"]},
        doc=__doc__,
    )


def table_markdown(table: pd.DataFrame) -> str:
    """Return the per-batch table as Markdown (for notes and the command's output)."""
    metrics = [
        c for c in table.columns if c.startswith(("frozen_", "loop_")) and c != "loop_model_version"
    ]
    columns = [
        "batch",
        "intensity",
        "segment_share",
        "drift_share",
        "status",
        *metrics,
        "loop_model_version",
        "retrained",
        "promoted",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table[columns].itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)

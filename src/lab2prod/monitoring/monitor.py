"""Monitor one batch: drift against the training reference, realized performance when labels came, a status.

The batch contract (what ``lab2prod monitor --batch`` and the monitor notebook read):

* a file of any format the scorer reads (CSV, JSON lines, Parquet, Excel), one row per case,
  columns matched by name, cells read as the contract says (monitoring/cases.py);
* the contract's feature columns (for data drift) and its id column (to join
  delayed labels; without one, each row's line, as scoring numbers it). A predictions file as `lab2prod score` writes it carries no
  features: the monitor finds the scored input through the ``<stem>.summary.json``
  beside it (the input's path and SHA-256) and joins its rows by id; with no
  features to be had it refuses the batch and records nothing (a missing input
  is not drift). In a batch that carries features, a contract feature it lacks or
  a column the contract does not know is schema drift;
* optionally the model's output, as written by scoring: ``probability`` (the
  positive class, binary classification), ``probability_<label>`` for every
  label (multiclass) or ``prediction`` (regression), and lineage
  ``model_name``, ``model_version``, ``run_id``. Without an output column the
  model (``--model``, the lineage, or the champion) scores the batch here with
  the same `model_frame` + `predict` as every other path.

Status: ``ok`` (no alert), ``warning`` (something drifted but no retraining
threshold was crossed), ``alert`` (dataset drift or degraded performance:
retraining is due). Exit codes for a scheduler: 0 ok, 1 warning or alert,
2 unusable input (raised as a `MonitoringError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab2prod import model_edge
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.contract import Contract
from lab2prod.data.lake import atomic_write_json
from lab2prod.data.line_ids import rows_as_ids, with_line_ids
from lab2prod.errors import MonitoringError, RegistryError
from lab2prod.model_edge import run_threshold
from lab2prod.modeling.business import BusinessValue
from lab2prod.modeling.features import is_multiclass, model_frame
from lab2prod.modeling.metric_names import default_metric
from lab2prod.modeling.predict import class_probability_columns, predict
from lab2prod.monitoring import history
from lab2prod.monitoring.cases import (
    join_features,
    read_batch,
    read_features,
    read_labels,
    scored_input,
)
from lab2prod.monitoring.drift import DriftReport, DriftThresholds, drift_report
from lab2prod.monitoring.estimate import (
    Estimate,
    EstimateBasis,
    calibration_on,
    estimate_details,
    estimate_performance,
    estimated_drop,
    realized_value,
)
from lab2prod.monitoring.labelled import keep_labelled
from lab2prod.monitoring.performance import (
    Performance,
    holdout_metrics,
    join_labels,
    lineage,
    prediction_column,
    realized_performance,
)
from lab2prod.monitoring.places import MonitoringPlaces
from lab2prod.monitoring.report import render_monitoring
from lab2prod.serving.request_log import read_request_day

OK, WARNING, ALERT = "ok", "warning", "alert"
EXIT_CODES = {OK: 0, WARNING: 1, ALERT: 1}
MONITOR_EXPERIMENT = "lab2prod-monitoring"  # the MLflow experiment of monitoring runs


@dataclass(frozen=True)
class MonitorConfig:
    """The limits of one monitoring: drift thresholds, the watched metric and how far it may fall."""

    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    metric: str = ""  # "": the task's default metric (roc_auc, or rmse for regression)
    tolerance: float = 0.05  # realized metric may be this much worse than the holdout one
    # probability from which a case is predicted positive; None: the model's (its run's decision threshold), else 0.5
    threshold: float | None = None
    # retrain when the estimated metric (before labels) is plausibly this much below holdout; None: never
    estimated_tolerance: float | None = None

    @property
    def cut(self) -> float:
        """Return the decision threshold in force: the one set, else 0.5."""
        return 0.5 if self.threshold is None else float(self.threshold)

    @classmethod
    def of(cls, **values: Any) -> MonitorConfig:
        """Return the config with `values` (MonitorConfig's or DriftThresholds' field names) set; a None keeps the default."""
        values = {k: v for k, v in values.items() if v is not None and v != ""}
        drift_keys = {f.name for f in fields(DriftThresholds)}
        unknown = sorted(set(values) - drift_keys - {f.name for f in fields(cls)} - {"thresholds"})
        if unknown:
            raise MonitoringError(
                f"unknown monitoring setting(s) {', '.join(unknown)}: use "
                + ", ".join(
                    sorted(drift_keys | {"metric", "tolerance", "threshold", "estimated_tolerance"})
                )
            )
        drift = {k: values.pop(k) for k in list(values) if k in drift_keys}
        return cls(thresholds=DriftThresholds(**drift), **values)


@dataclass
class MonitorResult:
    """Everything one monitoring found, the status and the history record it leaves."""

    batch_id: str
    drift: DriftReport
    performance: Performance | None
    model: dict[str, str]
    status: str
    triggers: list[str]
    alerts: list[str]
    positive_rate: float | None
    drift_threshold: float = DriftThresholds.drift_share
    # share of rows outside the contract's expect: that drifts a feature (DriftThresholds')
    outside_expected_limit: float | None = None
    labelled: str = ""  # where the batch's labelled rows were kept for retraining, or why not
    # a day of REST requests (serving.request_log.ServingStats.summary): counts and latency
    serving: dict[str, Any] | None = None
    estimate: Estimate | None = (
        None  # metrics estimated from the probabilities (binary classification)
    )

    @property
    def exit_code(self) -> int:
        """Return the exit code a scheduler acts on (0 ok, 1 warning or alert)."""
        return EXIT_CODES[self.status]

    @property
    def retrain(self) -> bool:
        """Return True when a retraining threshold was crossed."""
        return bool(self.triggers)

    def record(self) -> dict[str, Any]:
        """Return the history row of this monitoring."""
        pred = self.drift.prediction or {}
        perf = self.performance
        table = self.drift.features.set_index("feature")
        return {
            "kind": "monitor",
            "batch_id": self.batch_id,
            "model_name": self.model.get("model_name"),
            "model_version": self.model.get("model_version"),
            "run_id": self.model.get("run_id"),
            "rows": self.drift.rows,
            "drift_share": self.drift.drift_share,
            "dataset_drift": self.drift.dataset_drift,
            "drifted_features": self.drift.drifted_features,
            "prediction_drift": pred.get("drifted"),
            "positive_rate": self.positive_rate,
            "reference_positive_rate": pred.get("reference_positive_rate"),
            "metric": perf.metric if perf else None,
            "realized": perf.realized if perf else None,
            "holdout": perf.reference if perf else None,
            "degraded": perf.degraded if perf else None,
            "status": self.status,
            "decision": "retrain" if self.retrain else "none",
            "details": {
                "effects": {k: round(float(v), 4) for k, v in table["effect"].items() if v == v},
                "triggers": self.triggers,
                "rows_labelled": perf.rows_labelled if perf else 0,
                "outside_expected": {
                    k: round(v, 4) for k, v in self.drift.outside_expected.items()
                },
                **({"serving": self.serving} if self.serving else {}),
                **estimate_details(self.estimate, self.performance),
            },
        }

    def status_dict(self) -> dict[str, Any]:
        """Return the machine-readable status (the JSON a scheduler reads)."""
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "retrain": self.retrain,
            "triggers": self.triggers,
            "alerts": self.alerts,
            "model": self.model,
            "positive_rate": self.positive_rate,
            "drift_threshold": self.drift_threshold,
            "outside_expected_limit": self.outside_expected_limit,
            "labelled": self.labelled,
            "serving": self.serving,
            "drift": self.drift.summary(),
            "performance": self.performance.summary() if self.performance else None,
            "estimate": self.estimate.summary() if self.estimate else None,
            "features": json.loads(self.drift.features.to_json(orient="records")),
        }


@dataclass(frozen=True)
class WatchedModel:
    """The model a batch is monitored against: the fitted pipeline, its lineage and its baselines.

    `model` None: prediction drift is not measured (unless the batch carries predictions);
    `holdout` the training run's metrics on the holdout; `basis` the business values and the
    validation split's calibration that the metrics estimated before labels use.
    """

    model: Any = None
    info: dict[str, str] = field(default_factory=dict)  # model_name, model_version, run_id, uri
    holdout: dict[str, float] = field(default_factory=dict)
    basis: EstimateBasis | None = None


@dataclass(frozen=True)
class BatchFiles:
    """One batch to monitor: its file (or a day's folder of the REST server's requests) and the files that complete it."""

    path: Path
    batch_id: str | None = None  # None: from the file's name (batch_id_of)
    labels: Path | None = None  # delayed labels: the id and the target
    features: Path | None = None  # None: the batch's own, else the scored input its summary names


@dataclass(frozen=True)
class ModelChoice:
    """Which model explains a batch: `uri`, else the batch's lineage, else `name`@champion; none when not `use`."""

    name: str  # the registered model
    uri: str | None = None
    use: bool = True


def monitor_frame(
    batch: pd.DataFrame,
    reference: pd.DataFrame,
    contract: Contract,
    batch_id: str,
    config: MonitorConfig | None = None,
    watched: WatchedModel | None = None,
    labels: pd.DataFrame | None = None,
    labels_origin: str = "labels",
) -> MonitorResult:
    """Return the monitoring of one batch: drift, prediction drift, realized performance when labels are given, status.

    The watched model (a fitted pipeline) scores the reference, and the batch too when it
    carries no prediction column; without it prediction drift is not measured.
    A binary classifier's batch also gets metrics estimated from its probabilities, labels or
    not (the watched model's `basis`), and with business values its realized value when labels came.
    """
    config = config or MonitorConfig()
    watched = watched or WatchedModel()
    model, basis, holdout = watched.model, watched.basis, watched.holdout
    task = contract.task
    multiclass = is_multiclass(contract)
    columns = class_probability_columns(contract.labels) if multiclass else []
    column = None if multiclass else prediction_column(batch, task)
    batch_pred = None
    if multiclass and all(c in batch.columns for c in columns):
        batch_pred = batch[columns].apply(pd.to_numeric, errors="coerce").to_numpy("float64")
    elif column is not None:
        batch_pred = pd.to_numeric(batch[column], errors="coerce").to_numpy(dtype="float64")
    elif model is not None:
        try:
            batch_pred = predict(model, model_frame(batch, contract), task)
        except KeyError as exc:
            raise MonitoringError(
                f"the batch has no prediction column and cannot be scored: {exc.args[0]}"
            ) from None
    ref_pred = predict(model, model_frame(reference, contract), task) if model is not None else None
    # a threshold makes a predicted positive rate of binary probabilities only
    cut = config.cut if task == "classification" and not multiclass else None
    drift = drift_report(
        reference,
        batch,
        contract,
        config.thresholds,
        ref_pred,
        batch_pred,
        cut,
        classes=contract.labels if multiclass else None,
    )
    positive_rate = (
        float(np.nanmean(batch_pred >= cut)) if batch_pred is not None and cut is not None else None
    )
    estimate = None
    if cut is not None and batch_pred is not None:
        estimate = estimate_performance(
            batch_pred,
            cut,
            business=basis.business if basis else None,
            calibration=basis.calibration if basis else None,
        )
    performance = None
    if labels is not None:
        if batch_pred is None:
            raise MonitoringError(
                "labels were given but the batch has no predictions and no model to score it: "
                "pass --model or a scored batch"
            )
        try:  # no id column: the labels of this in-memory batch are its rows, in order
            keyed, rows, labels = rows_as_ids(contract, batch, labels)
        except ValueError as exc:
            raise MonitoringError(f"{labels_origin}: {exc}: give the labels an id column") from None
        # multiclass: one column per class, _prediction_0.._prediction_{k-1}
        outputs = (
            [f"_prediction_{j}" for j in range(batch_pred.shape[1])]
            if batch_pred.ndim == 2
            else ["_prediction"]
        )
        scored = pd.DataFrame(
            {
                keyed.id_column: rows[keyed.id_column]
                if keyed.id_column in rows
                else pd.Series(dtype=str),
                **dict(zip(outputs, batch_pred.reshape(len(batch_pred), -1).T)),
            }
        )
        joined, unmatched = join_labels(scored, labels, keyed, origin=labels_origin)
        performance = realized_performance(
            joined,
            contract,
            outputs if batch_pred.ndim == 2 else "_prediction",
            holdout,
            metric=config.metric or default_metric(task),
            threshold=config.cut,
            tolerance=config.tolerance,
            unmatched=unmatched,
        )
        business = basis.business if basis else None
        if business is not None and business.fits(task, contract.labels):
            value = realized_value(joined, contract, outputs, business, config.cut)
            performance = replace(performance, metrics={**performance.metrics, "value": value})
    triggers = []
    if drift.dataset_drift:
        triggers.append(
            f"dataset drift {drift.drift_share:.0%} >= {config.thresholds.drift_share:.0%}"
        )
    alerts = list(drift.alerts)
    if performance is not None and performance.degraded:
        message = (
            f"performance degraded: {performance.metric} {performance.realized:.4f} vs holdout "
            f"{performance.reference:.4f} (tolerance {performance.tolerance})"
        )
        triggers.append(message)
        alerts.insert(0, message)
    dropped = (
        estimated_drop(estimate, holdout, config.metric, config.estimated_tolerance)
        if performance is None
        else None
    )
    if dropped:
        triggers.append(dropped)
        alerts.insert(0, dropped)
    status = ALERT if triggers else WARNING if alerts else OK
    return MonitorResult(
        batch_id=batch_id,
        drift=drift,
        performance=performance,
        model=dict(watched.info),
        status=status,
        triggers=triggers,
        alerts=alerts,
        positive_rate=positive_rate,
        drift_threshold=config.thresholds.drift_share,
        outside_expected_limit=config.thresholds.outside_expected_share,
        estimate=estimate,
    )


# --- the edge: files, the registry, MLflow ------------------------------------------------------------------------


def resolve_model(
    uri: str | None, carried: dict[str, str], model_name: str
) -> tuple[Any, dict[str, str]]:
    """Return (the fitted model, its name/version/run id/uri): `uri`, else the batch's lineage, else `model_name`@champion.

    (None, {}) when no model can be found: monitoring then goes on without prediction drift.
    """
    if uri is None and carried.get("model_name") and carried.get("model_version"):
        uri = model_edge.model_uri(carried["model_name"], version=carried["model_version"])
    if uri is None:
        if model_edge.version_by_alias(model_name, model_edge.CHAMPION) is None:
            return None, dict(carried)
        uri = model_edge.champion_uri(model_name)
    try:
        ref = model_edge.load_model(uri)
    except RegistryError as exc:
        raise MonitoringError(str(exc)) from None
    registered = (
        {"model_name": ref.name, "model_version": ref.version, "run_id": ref.run_id}
        if ref.name
        else {}
    )
    return ref.model, {**carried, **registered, "model_uri": uri}


def _holdout(run_id: str | None, needed: bool) -> dict[str, float]:
    """Return the training run's holdout metrics; without labels a run the store lacks only loses the estimate's baseline."""
    try:
        return holdout_metrics(run_id)
    except MonitoringError:
        if needed:
            raise
        return {}


def batch_id_of(path: str | Path) -> str:
    """Return a batch's id from its file: the stem, or the folder's name for a generic file name.

    A generic name is one like predictions.csv; a day of requests (a folder) is ``requests-<day>``.
    """
    path = Path(path).absolute()  # a generic name in the working folder: the folder's name
    if path.is_dir():
        return f"requests-{path.name}"
    return (
        path.parent.name if path.stem in ("predictions", "batch", "scored", "part-0") else path.stem
    )


def run_monitoring(
    root: Path,
    contract: Contract,
    batch: BatchFiles,
    places: MonitoringPlaces,
    config: MonitorConfig,
    model: ModelChoice,
    experiment: str | None = MONITOR_EXPERIMENT,
    business: BusinessValue | None = None,
) -> tuple[MonitorResult, dict[str, Path]]:
    """Monitor one batch file end to end: history row, MLflow metrics, reports/monitoring.html and the JSON status.

    `batch.path` is a file, or a day's folder of the REST server's request log
    (`serving.request_log`): its answered rows are the batch, its counts and latency the
    result's `serving`. `places.reference` None: the lake's train split of the contract's dataset
    (what the model trained on); `experiment` None: no MLflow run.
    """
    # MLflow's import waits until a run is logged (docs/explanation/layout.md, "Imports")
    from lab2prod import tracking

    # no id column: each row's line is its id, as scoring wrote it
    contract = with_line_ids(contract)
    rows, serving = _batch_rows(batch, contract)
    reference_path = places.reference_file(contract.dataset)
    if not reference_path.is_file():
        raise MonitoringError(
            f"reference {reference_path} not found: run the training pipeline (its train split is the "
            "reference) or pass --reference"
        )
    reference = read_normalized(str(reference_path), contract)
    labels = read_labels(batch.labels, contract) if batch.labels is not None else None
    tracking.use_store(root)
    fitted, info = (
        resolve_model(model.uri, lineage(rows), model.name) if model.use else (None, lineage(rows))
    )
    holdout = _holdout(info.get("run_id"), needed=labels is not None)
    if config.threshold is None:  # the threshold the model was chosen with (evaluate records it)
        config = replace(config, threshold=run_threshold(info.get("run_id")))
    valid_path = places.lake.split(contract.dataset, "valid")
    valid = read_normalized(str(valid_path), contract) if valid_path.is_file() else None
    basis = EstimateBasis(business=business, calibration=calibration_on(fitted, valid, contract))
    result = monitor_frame(
        rows,
        reference,
        contract,
        batch.batch_id or batch_id_of(batch.path),
        config,
        WatchedModel(fitted, info, holdout, basis),
        labels,
        labels_origin=str(batch.labels),
    )
    result.serving = serving
    if labels is not None:
        result.labelled = keep_labelled(places.lake, result.batch_id, rows, labels, contract)
    record = result.record()
    history_file = history.append_record(places.lake.history(), record)
    table = history.read_history(history_file)
    if experiment:
        experiment_id = tracking.connect(root, experiment)
        history.log_metrics_to_mlflow(
            record, experiment_id, step=int((table["kind"] == "monitor").sum())
        )
    report = render_monitoring(
        table,
        result.status_dict(),
        places.lake.monitoring_page(),
        config.thresholds.drift_share,
        str(history_file),
    )
    status = atomic_write_json(
        places.status_file(),
        {**result.status_dict(), "report": str(report), "history": str(history_file)},
    )
    return result, {"history": history_file, "report": report, "status": status}


def _batch_rows(
    batch: BatchFiles, contract: Contract
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """Return the batch's rows with their features (joined from the scored input when it has none) and its serving counts."""
    serving = None
    if Path(batch.path).is_dir():
        rows, stats = read_request_day(batch.path, contract)
        serving = stats.summary()
    else:
        rows = read_batch(batch.path, contract)
    features_path = batch.features
    try:
        if features_path is None and not any(f in rows for f in contract.features):
            features_path = scored_input(batch.path)
        if features_path is not None:
            rows = join_features(
                rows, read_features(features_path, contract), contract, str(features_path)
            )
        if not any(f in rows for f in contract.features):
            raise MonitoringError(
                f"neither batch {batch.path} nor {features_path} carries any of the contract's "
                f"features ({', '.join(contract.features[:3])}, ...): pass the scored input with --features"
            )
    except MonitoringError as exc:
        if batch.labels is None:
            raise
        raise MonitoringError(f"{exc}; labels {batch.labels} not stored") from None
    return rows, serving

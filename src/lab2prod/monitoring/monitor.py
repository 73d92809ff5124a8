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

from lab2prod.data.contract import Contract
from lab2prod.data.line_ids import with_line_ids
from lab2prod.errors import MonitoringError
from lab2prod.modeling.business import BusinessValue
from lab2prod.modeling.features import is_multiclass, model_frame
from lab2prod.modeling.metrics import default_metric
from lab2prod.modeling.predict import class_probability_columns, predict
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
from lab2prod.monitoring.performance import (
    Performance,
    join_labels,
    prediction_column,
    realized_performance,
)
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


def read_table(path: str | Path, what: str = "batch") -> pd.DataFrame:
    """Return a CSV or Parquet file as a frame, text columns kept as text; one-line errors when unusable."""
    path = Path(path)
    if not path.is_file():
        raise MonitoringError(f"{what} file {path} not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - pyarrow and pandas raise many types for a bad file
        raise MonitoringError(
            f"{what} file {path} cannot be read: {str(exc).splitlines()[0]}"
        ) from None
    raise MonitoringError(f"{what} file {path}: use a .csv or .parquet file")


def monitor_frame(
    batch: pd.DataFrame,
    reference: pd.DataFrame,
    contract: Contract,
    batch_id: str,
    config: MonitorConfig | None = None,
    model: Any = None,
    model_info: dict[str, str] | None = None,
    labels: pd.DataFrame | None = None,
    holdout: dict[str, float] | None = None,
    labels_origin: str = "labels",
    basis: EstimateBasis | None = None,
) -> MonitorResult:
    """Return the monitoring of one batch: drift, prediction drift, realized performance when labels are given, status.

    `model` (a fitted pipeline) scores the reference, and the batch too when it
    carries no prediction column; without it prediction drift is not measured.
    A binary classifier's batch also gets metrics estimated from its probabilities, labels or
    not (`basis`: the business values and the validation split's calibration), and with business
    values its realized value when labels came.
    """
    config = config or MonitorConfig()
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
        # multiclass: one column per class, _prediction_0.._prediction_{k-1}
        outputs = (
            [f"_prediction_{j}" for j in range(batch_pred.shape[1])]
            if batch_pred.ndim == 2
            else ["_prediction"]
        )
        scored = pd.DataFrame(
            {
                contract.id_column or "_id": batch[contract.id_column]
                if contract.id_column in batch
                else pd.Series(dtype=str),
                **dict(zip(outputs, batch_pred.reshape(len(batch_pred), -1).T)),
            }
        )
        joined, unmatched = join_labels(scored, labels, contract, origin=labels_origin)
        performance = realized_performance(
            joined,
            contract,
            outputs if batch_pred.ndim == 2 else "_prediction",
            holdout or {},
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
        estimated_drop(estimate, holdout or {}, config.metric, config.estimated_tolerance)
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
        model=dict(model_info or {}),
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
    from lab2prod import model_edge
    from lab2prod.errors import RegistryError

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


def scored_input(batch_path: str | Path) -> Path:
    """Return the input file a predictions file was scored from: found through its summary, its SHA-256 checked.

    `lab2prod score --output preds.csv` writes ``preds.summary.json`` with the
    input's absolute path and digest. A one-line `MonitoringError` says what to
    pass when there is no summary, or the input is gone or has changed since.
    """
    from lab2prod.data.lake import sha256_file
    from lab2prod.scoring.summary import summary_path_for

    batch_path = Path(batch_path)
    summary = summary_path_for(batch_path)
    if not summary.is_file():
        raise MonitoringError(
            f"batch {batch_path} carries none of the contract's features and has no {summary.name} "
            "beside it to find its scored input: pass --features <the scored input>, or a batch with "
            "the feature columns"
        )
    try:
        facts = json.loads(summary.read_text(encoding="utf-8"))
        source, digest = Path(facts["input"]), str(facts["input_sha256"])
    except (ValueError, KeyError, TypeError):
        raise MonitoringError(
            f"{summary} is not a scoring summary (no 'input' and 'input_sha256'): "
            "pass --features <the scored input>"
        ) from None
    if (
        not source.is_absolute()
    ):  # summaries written before paths were absolute: relative to the summary
        source = summary.parent / source
    if not source.is_file():
        raise MonitoringError(
            f"the scored input of {batch_path} ({source}, named in {summary.name}) is gone: "
            "pass --features <a copy of that input>"
        )
    if sha256_file(source) != digest:
        raise MonitoringError(
            f"the scored input of {batch_path} ({source}) has changed since it was scored (SHA-256 "
            f"differs from {summary.name}): pass --features <the file as it was scored>"
        )
    return source


def join_features(batch: pd.DataFrame, features: pd.DataFrame, contract: Contract, origin: str):
    """Return the batch with the feature columns of `features` joined by the contract's id column (as text)."""
    key = contract.id_column
    if not key or key not in batch or key not in features:
        raise MonitoringError(
            f"joining {origin} to the batch needs id column {key!r} in both files"
        )
    extra = features.drop(columns=[c for c in features if c in batch and c != key])
    try:
        return batch.assign(**{key: batch[key].astype(str)}).merge(
            extra.assign(**{key: extra[key].astype(str)}), on=key, how="left", validate="one_to_one"
        )
    except pd.errors.MergeError:
        raise MonitoringError(
            f"{origin} or the batch repeats values of id column {key!r}: each case once per file"
        ) from None


def _keep_labelled(
    lake_dir: Path, batch_id: str, batch: pd.DataFrame, labels: pd.DataFrame, contract: Contract
) -> str:
    """Store the batch's labelled rows for retraining; return one line saying where, or why they were not kept."""
    from lab2prod.monitoring.retrain import store_labelled

    key, target = contract.id_column, contract.target
    absent = [c for c in (key, *contract.features) if c and c not in batch]
    if absent or key not in labels or target not in labels:
        lacking = (
            f"the batch lacks {', '.join(absent)}"
            if absent
            else f"the labels lack {key!r} or {target!r}"
        )
        return f"labels not kept for retraining: {lacking}"
    keyed = labels[[key, target]].assign(**{key: labels[key].astype(str)})
    rows = batch.drop(columns=[target], errors="ignore").assign(**{key: batch[key].astype(str)})
    rows = rows.merge(keyed, on=key, how="inner")
    if rows.empty:
        return f"labels not kept for retraining: none of their {key!r} values is in the batch"
    path = store_labelled(lake_dir, batch_id, rows, contract)
    return f"{len(rows)} labelled rows kept for retraining: {path}"


def _holdout(run_id: str | None, needed: bool) -> dict[str, float]:
    """Return the training run's holdout metrics; without labels a run the store lacks only loses the estimate's baseline."""
    from lab2prod.monitoring.performance import holdout_metrics

    try:
        return holdout_metrics(run_id)
    except MonitoringError:
        if needed:
            raise
        return {}


def batch_id_of(path: str | Path) -> str:
    """Return a batch's id from its file: the stem, or the folder's name for generic names like
    predictions.csv; a day of requests (a folder) is ``requests-<day>``."""
    path = Path(path).absolute()  # a generic name in the working folder: the folder's name
    if path.is_dir():
        return f"requests-{path.name}"
    return (
        path.parent.name if path.stem in ("predictions", "batch", "scored", "part-0") else path.stem
    )


def status_file(reports_dir: str | Path) -> Path:
    """Return where the monitor writes its status by default, and `lab2prod retrain` reads it."""
    return Path(reports_dir) / "monitoring.json"


def run_monitoring(
    root: Path,
    contract: Contract,
    batch_path: Path,
    reference_path: Path | None,
    lake_dir: Path,
    reports_dir: Path,
    config: MonitorConfig,
    labels_path: Path | None = None,
    features_path: Path | None = None,
    model_uri: str | None = None,
    model_name: str = "credit-risk",
    batch_id: str | None = None,
    experiment: str | None = MONITOR_EXPERIMENT,
    status_path: Path | None = None,
    use_model: bool = True,
    business: BusinessValue | None = None,
) -> tuple[MonitorResult, dict[str, Path]]:
    """Monitor one batch file end to end: history row, MLflow metrics, reports/monitoring.html and the JSON status.

    `batch_path` is a file, or a day's folder of the REST server's request log
    (`serving.request_log`): its answered rows are the batch, its counts and latency the
    result's `serving`. `reference_path` None: the lake's train split of the contract's dataset
    (what the model trained on); `experiment` None: no MLflow run.
    """
    from lab2prod import tracking
    from lab2prod.data.conditioning import read_normalized
    from lab2prod.data.lake import atomic_write_json
    from lab2prod.monitoring import history
    from lab2prod.monitoring.cases import read_batch, read_features, read_labels
    from lab2prod.monitoring.performance import lineage
    from lab2prod.monitoring.report import render_monitoring

    # no id column: each row's line is its id, as scoring wrote it
    contract = with_line_ids(contract)
    serving = None
    if Path(batch_path).is_dir():
        batch, stats = read_request_day(batch_path, contract)
        serving = stats.summary()
    else:
        batch = read_batch(batch_path, contract, read_table)
    try:
        if features_path is None and not any(f in batch for f in contract.features):
            features_path = scored_input(batch_path)
        if features_path is not None:
            batch = join_features(
                batch, read_features(features_path, contract), contract, str(features_path)
            )
        if not any(f in batch for f in contract.features):
            raise MonitoringError(
                f"neither batch {batch_path} nor {features_path} carries any of the contract's "
                f"features ({', '.join(contract.features[:3])}, ...): pass the scored input with --features"
            )
    except MonitoringError as exc:
        if labels_path is None:
            raise
        raise MonitoringError(f"{exc}; labels {labels_path} not stored") from None
    if reference_path is None:
        reference_path = Path(lake_dir) / "splits" / contract.dataset / "train.csv"
    if not Path(reference_path).is_file():
        raise MonitoringError(
            f"reference {reference_path} not found: run the training pipeline (its train split is the "
            "reference) or pass --reference"
        )
    reference = read_normalized(str(reference_path), contract)
    labels = read_labels(labels_path, contract) if labels_path is not None else None
    tracking.use_store(root)
    model, info = (
        resolve_model(model_uri, lineage(batch), model_name)
        if use_model
        else (None, lineage(batch))
    )
    holdout = _holdout(info.get("run_id"), needed=labels is not None)
    if config.threshold is None:  # the threshold the model was chosen with (evaluate records it)
        from lab2prod.model_edge import run_threshold

        config = replace(config, threshold=run_threshold(info.get("run_id")))
    valid_path = Path(lake_dir) / "splits" / contract.dataset / "valid.csv"
    valid = read_normalized(str(valid_path), contract) if valid_path.is_file() else None
    basis = EstimateBasis(business=business, calibration=calibration_on(model, valid, contract))
    result = monitor_frame(
        batch,
        reference,
        contract,
        batch_id or batch_id_of(batch_path),
        config,
        model,
        info,
        labels,
        holdout,
        labels_origin=str(labels_path),
        basis=basis,
    )
    result.serving = serving
    if labels is not None:
        result.labelled = _keep_labelled(lake_dir, result.batch_id, batch, labels, contract)
    record = result.record()
    history_file = history.append_record(history.history_path(lake_dir), record)
    table = history.read_history(history_file)
    if experiment:
        experiment_id = tracking.connect(root, experiment)
        history.log_metrics_to_mlflow(
            record, experiment_id, step=int((table["kind"] == "monitor").sum())
        )
    report = render_monitoring(
        table,
        result.status_dict(),
        Path(reports_dir) / "monitoring.html",
        config.thresholds.drift_share,
        str(history_file),
    )
    status = atomic_write_json(
        status_path or status_file(reports_dir),
        {**result.status_dict(), "report": str(report), "history": str(history_file)},
    )
    return result, {"history": history_file, "report": report, "status": status}

"""The monitoring report: trends over the history, the latest batch's per-feature table and its alerts, as one HTML file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from lab2prod.reporting.render import figure_data_uri, render, shown_path

TOP_FEATURES = 5


def _per_batch(history: pd.DataFrame) -> pd.DataFrame:
    """Return one row per batch in arrival order: its latest monitoring, and its latest realized performance."""
    monitored = history[history["kind"] == "monitor"]
    if monitored.empty:
        return monitored
    order = monitored.drop_duplicates("batch_id", keep="first")["batch_id"].tolist()
    latest = monitored.drop_duplicates("batch_id", keep="last").set_index("batch_id")
    labelled = (
        monitored.dropna(subset=["realized"])
        .drop_duplicates("batch_id", keep="last")
        .set_index("batch_id")
    )
    latest["realized"] = labelled["realized"].reindex(latest.index)
    latest["holdout"] = labelled["holdout"].reindex(latest.index)
    metric = labelled["metric"].dropna().iloc[-1] if labelled["metric"].notna().any() else "roc_auc"
    estimates = [_estimated(d, metric) for d in latest["details"]]
    for i, end in enumerate(("estimated", "estimated_low", "estimated_high")):
        latest[end] = [e[i] for e in estimates]
    return latest.loc[order].reset_index()


def _estimated(details: Any, metric: str) -> tuple[float | None, float | None, float | None]:
    """Return (estimate, low, high) of `metric` kept in a history row's details, Nones when absent."""
    try:
        found = (
            json.loads(details).get("estimate", {}).get(metric)
            if isinstance(details, str)
            else None
        )
    except ValueError:
        found = None
    if not found:
        return (None, None, None)
    return (found.get("value"), found.get("low"), found.get("high"))


def decision_sentence(details: Any) -> str:
    """Return a retraining row's details as a person reads them: why it ran or not, then the gate's reasons.

    Details that are not the JSON `lab2prod retrain` writes are shown as they are.
    """
    try:
        found = json.loads(details) if isinstance(details, str) else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        return "" if details is None else str(details)
    return "; ".join([*found.get("reasons", []), *found.get("gate", [])])


def trend_figures(history: pd.DataFrame, drift_share_limit: float) -> list[str]:
    """Return the trend plots (drift share, feature shifts, predicted positive rate, realized performance) as data URIs."""
    batches = _per_batch(history)
    if batches.empty:
        return []
    x = list(range(len(batches)))
    labels = batches["batch_id"].tolist()
    figures = []

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(x, batches["drift_share"], marker="o", label="share of drifted features")
    ax.axhline(drift_share_limit, ls="--", c="#a3261b", lw=1, label="dataset drift threshold")
    ax.set(ylim=(0, 1.02), ylabel="share", title="Data drift per batch")
    ax.legend(fontsize=7)
    figures.append(fig)

    effects = pd.DataFrame(
        [
            json.loads(d).get("effects", {}) if isinstance(d, str) and d else {}
            for d in batches["details"]
        ]
    )
    if not effects.empty:
        top = effects.max().sort_values(ascending=False).index[:TOP_FEATURES]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name in top:
            ax.plot(x, effects[name], marker=".", label=name)
        ax.set(ylabel="effect size", title="Largest feature shifts")
        ax.legend(fontsize=7)
        figures.append(fig)

    if batches["positive_rate"].notna().any():
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(x, batches["positive_rate"], marker="o", label="batch")
        ax.plot(
            x, batches["reference_positive_rate"], ls="--", c="grey", label="training reference"
        )
        ax.set(ylabel="rate", title="Predicted positive rate")
        ax.legend(fontsize=7)
        figures.append(fig)

    estimated = pd.to_numeric(batches["estimated"], errors="coerce")
    if batches["realized"].notna().any() or estimated.notna().any():
        fig, ax = plt.subplots(figsize=(5, 3.2))
        if estimated.notna().any():
            ax.fill_between(
                x,
                pd.to_numeric(batches["estimated_low"], errors="coerce"),
                pd.to_numeric(batches["estimated_high"], errors="coerce"),
                color="#4c72b0",
                alpha=0.2,
                label="estimated, 95% interval",
            )
            ax.plot(x, estimated, marker=".", ls=":", c="#4c72b0", label="estimated (no labels)")
        ax.plot(x, batches["realized"], marker="o", label="realized (delayed labels)")
        ax.plot(x, batches["holdout"], ls="--", c="grey", label="holdout at training")
        metric = (
            batches["metric"].dropna().iloc[-1] if batches["metric"].notna().any() else "metric"
        )
        ax.set(ylabel=metric, title=f"Estimated and realized {metric}")
        ax.legend(fontsize=7)
        figures.append(fig)

    uris = []
    for fig in figures:
        ax = fig.axes[0]
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
        fig.tight_layout()
        uris.append(figure_data_uri(fig))
        plt.close(fig)
    return uris


def render_monitoring(
    history: pd.DataFrame,
    status: dict[str, Any] | None,
    path: str | Path,
    drift_share_limit: float,
    history_file: str = "",
) -> Path:
    """Write the monitoring report to `path` from the history and the latest status (`MonitorResult.status_dict`).

    The history file is shown relative to the project (the folder above the page's folder).
    """
    batches = _per_batch(history)
    retrains = history[history["kind"] == "retrain"]
    features = [
        # a status without `outside_expected` (read back by `lab2prod retrain`) shows it empty
        {"outside_expected": ""}
        | {k: ("" if v is None or (isinstance(v, float) and v != v) else v) for k, v in row.items()}
        for row in (status or {}).get("features", [])
    ]
    context: dict[str, Any] = {
        "title": "Monitoring report",
        "built_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M GMT"),
        "history_file": shown_path(history_file, Path(path).resolve().parent.parent) or "",
        "plots": trend_figures(history, drift_share_limit),
        "result": status,
        "features": features,
        "batches": batches.fillna("").to_dict("records"),
        "retrains": retrains.assign(details=retrains["details"].map(decision_sentence))
        .fillna("")
        .to_dict("records"),
    }
    return render("monitoring.html", path, **context)

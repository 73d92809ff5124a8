"""The model card and the pipeline report, assembled from the build's evidence (products/*.json), never typed by hand."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lab2prod.data.contract import Contract, contract_to_dict
from lab2prod.data.lake import Lake, link
from lab2prod.modeling.features import is_multiclass
from lab2prod.modeling.metric_names import HIGHER_IS_BETTER
from lab2prod.reporting.dag import dag_section
from lab2prod.reporting.render import render, shown_path
from lab2prod.tracking_server import ui_url

STEPS = (
    "ingest",
    "validate",
    "split",
    "start",
    "select",
    "evaluate",
    "check",
    "register",
    "report",
)


def _read(lake: Lake, name: str) -> dict[str, Any]:
    path = lake.summary(name)
    return json.loads(path.read_text()) if path.exists() else {}


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _period(contract: Contract, normalized: Path | None) -> str:
    dates = contract.features_of("date")
    if not dates or normalized is None:
        return "no date column declared: the data carry no period"
    frame = pd.read_csv(normalized, usecols=[dates[0]])
    stamp = pd.to_datetime(frame[dates[0]], errors="coerce")
    return f"{dates[0]} from {stamp.min():%Y-%m-%d} to {stamp.max():%Y-%m-%d}"


def default_limitations(contract: Contract, facts: dict[str, Any]) -> list[str]:
    """Return the limitations that follow from the evidence itself (sample size, small slices, gate)."""
    out = []
    rows_test = facts["evaluation"].get("rows_test", 0)
    out.append(
        f"Holdout metrics rest on {rows_test} test rows; the intervals show how far they may move."
    )
    small = [
        f"{s['column']}={s['value']} ({s['rows']} rows)"
        for s in facts["evaluation"].get("slices", [])
        if len(s) <= 3
    ]
    if small:
        out.append("No metrics for slices too small or single-class: " + ", ".join(small[:8]) + ".")
    out.append(
        f"Valid only for data meeting the contract {facts['data']['contract']}; rows outside it are quarantined, not scored."
    )
    if is_multiclass(contract):
        out.append(
            f"One probability per class of '{contract.target}' ({', '.join(contract.labels)}); the "
            "predicted label is the most probable class, with no threshold: per-class errors are in "
            "the confusion matrix, and a rare class may be poorly served even when accuracy is high."
        )
    elif contract.task == "classification":
        out.append(
            f"Probabilities are of '{contract.positive_label}'; decisions at threshold "
            f"{facts['evaluation'].get('threshold', 0.5)} trade recall for precision as the confusion matrix shows."
        )
    if not contract.features_of("date"):
        out.append(
            "No date column: the split is random, so performance on future periods is not measured."
        )
    left_out = contract.left_out()
    if left_out:
        out.append(
            "Not used as features: "
            + "; ".join(f"{name} ({why})" for name, why in left_out.items())
            + "."
        )
    return out


def pipeline_dag(lake: Lake, pipeline: dict[str, Any]) -> dict[str, Any]:
    """Return the DAG picture of the parsed `pipeline` (a data URI) and each task's status in the last build.

    The previous report's summary (products/report.json) dates the previous build: a task that
    finished after it ran in this build, the others were up to date.
    """

    return dag_section(pipeline, lake, previous=lake.summary("report"), writing="report")


@dataclass(frozen=True)
class CardText:
    """What a person writes for the model card: its intended use and the limitations they know of."""

    intended_use: str = ""  # "": the contract's task says it
    limitations: tuple[str, ...] = ()  # beside those the evidence shows (default_limitations)


def build_facts(
    lake: Lake,
    contract: Contract,
    commit: str,
    tracking_uri: str,
    text: CardText | None = None,
    lake_file: Path | None = None,
    pipeline: dict[str, Any] | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Return everything the report and the model card show, read from the step summaries of `lake`.

    With `pipeline` (the parsed pipeline.yaml) the facts hold its DAG picture; with `root` the
    contract's path is shown relative to the project; `text` is what a person wrote for the card.
    """
    text = text or CardText()
    intended_use, limitations = text.intended_use, text.limitations
    ingest, validate = _read(lake, "ingest"), _read(lake, "validate")
    chosen, evaluation, release = (
        _read(lake, "select"),
        _read(lake, "evaluate"),
        _read(lake, "register"),
    )
    start = _read(lake, "start")
    normalized = Path(ingest.get("normalized", "")) if ingest.get("normalized") else lake_file
    facts: dict[str, Any] = {
        "built_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M GMT"),
        "task": contract.task,
        "classes": list(contract.labels) if is_multiclass(contract) else [],
        "dataset": contract.dataset,
        "intended_use": intended_use
        or (
            f"Score {contract.dataset} records that meet the data contract: "
            + (
                f"the probability of each class of '{contract.target}' "
                f"({', '.join(contract.labels)}) and the most probable one."
                if is_multiclass(contract)
                else f"the probability that '{contract.target}' is '{contract.positive_label}'."
                if contract.task == "classification"
                else f"an estimate of '{contract.target}'."
            )
            + " A decision aid to be reviewed by a person, not an automated decision on its own."
        ),
        "data": {
            "sha256": validate.get("sha256") or chosen.get("data_sha256", ""),
            "rows": _count(validate.get("rows", ingest.get("rows_normalized"))),
            "quarantined": _count(validate.get("quarantined", ingest.get("rows_quarantined"))),
            "period": _period(contract, normalized if normalized and normalized.exists() else None),
            "contract": _relative(contract.origin, root),
            "target": contract.target,
            "columns": contract_to_dict(contract).get("columns", {}),
        },
        "grid": chosen.get("grid", []),
        "select_metric": chosen.get("select_metric"),
        "chosen": {
            "cell": chosen.get("cell"),
            "family": chosen.get("family"),
            "params": chosen.get("model_params"),
        },
        "evaluation": evaluation,
        "release": release,
        "floors": [
            f"{k[len('gate.floor.') :]} {'≥' if HIGHER_IS_BETTER.get(k[len('gate.floor.') :], True) else '≤'} {v}"
            for k, v in sorted((release.get("decision") or {}).items())
            if k.startswith("gate.floor.")
        ],
        "lineage": {
            "run_id": chosen.get("run_id"),
            "parent_run_id": start.get("run_id") or chosen.get("parent_run_id"),
            "model_name": release.get("model_name"),
            "version": release.get("version"),
            "champion_version": release.get("champion_version"),
            "commit": commit,
            "tracking_uri": _relative_uri(tracking_uri, root),
            "experiment_id": start.get("experiment_id"),
            "ui_url": ui_url(tracking_uri, start["experiment_id"], start.get("run_id"))
            if start.get("experiment_id")
            else None,
            "model_uri": chosen.get("model_uri"),
        },
    }
    facts["limitations"] = list(limitations) + default_limitations(contract, facts)
    facts["dag"] = pipeline_dag(lake, pipeline) if pipeline else None
    return facts


def _relative_uri(uri: str | None, root: Path | None) -> str | None:
    """Return a SQLite store's URI as a page shows it: its path relative to the project, never absolute."""
    if uri and uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if not Path(path).is_absolute():
            return uri
        inside = root is not None and Path(path).resolve().is_relative_to(Path(root).resolve())
        where = "in the project folder" if inside else "outside the project folder"
        return f"sqlite:///{shown_path(path, root)} ({where})"
    return uri


def _relative(path: str | None, root: Path | None) -> str | None:
    """Return `path` relative to the project `root` when it lies inside it (else its name)."""
    return path if root is None else shown_path(path, root)


def write_reports(facts: dict[str, Any], lake: Lake) -> dict[str, Path]:
    """Render the Lake's index page and model card from `facts`; return their paths."""
    page = lake.index_page()
    # links relative to the index: the report step's own HTML appears only after it finishes
    notebooks = [
        (s, link(lake.notebook_page(s), page))
        for s in STEPS
        if s == "report" or lake.notebook_page(s).exists()
    ]
    notebooks += [(p.stem, link(p, page)) for p in lake.grid_pages()]
    quality = lake.data_quality_page()
    index = render(
        "index.html",
        page,
        title="Training pipeline report",
        f=facts,
        notebooks=notebooks,
        # the readiness page: the report step writes it right after this page
        links=[
            ("Model card", link(lake.model_card_page(), page)),
            ("ML Test Score (readiness)", link(lake.readiness_pages()["html"], page)),
        ]
        + ([("Data quality", link(quality, page))] if quality.exists() else []),
    )
    card = render(
        "model_card.html",
        lake.model_card_page(),
        title=f"Model card: {facts['lineage']['model_name']}"
        + (f" v{facts['lineage']['version']}" if facts["lineage"].get("version") else ""),
        f=facts,
    )
    return {"index": index, "model_card": card}

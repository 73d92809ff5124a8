"""The batch summary a person reads after a scoring run: counts, label shares, score distribution, quarantine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pv
import pyarrow.parquet as pq

from lab2prod.data.lake import Lake, atomic_write_json, link
from lab2prod.data.lake import scored_facts_path as summary_path_for

__all__ = [
    "batch_links",
    "batch_summary",
    "render_batch_summary",
    "summary_path_for",
    "write_facts",
]


def write_facts(result_summary: dict[str, Any], path: str | Path) -> Path:
    """Write the facts of a scoring run (ScoreResult.summary()) as JSON, atomically."""
    return atomic_write_json(Path(path), result_summary)


def _read_column(path: Path, column: str) -> np.ndarray:
    if path.suffix.lower() == ".parquet":
        table = pq.read_table(path, columns=[column])
    else:
        table = pv.read_csv(path, convert_options=pv.ConvertOptions(include_columns=[column]))
    return table.column(column).to_numpy()


def batch_summary(facts: dict[str, Any]) -> dict[str, Any]:
    """Return what the HTML summary shows, computed from a run's facts and its output and quarantine files.

    Only the prediction column is read back, so a summary of millions of rows stays small.
    """
    output, quarantine = Path(facts["output"]), Path(facts["quarantine"])
    column = "probability" if _has_column(output, "probability") else "value"
    if column == "value" and not _has_column(output, "value"):
        column = "probability of the predicted label"  # multiclass: probability_<label> columns
    labels = None
    if column == "probability of the predicted label":
        values = np.max(
            [_read_column(output, c).astype("float64") for c in _probability_columns(output)],
            axis=0,
        )
    else:
        values = _read_column(output, column).astype("float64")
    if column != "value":
        labels = pd.Series(_read_column(output, "label")).value_counts().sort_index().to_dict()
    reasons: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    if quarantine.is_file() and quarantine.stat().st_size:
        q = pd.read_csv(quarantine, usecols=["line", "reason"])
        reasons = (
            q["reason"].str.split("; ").explode().str.split(":").str[0].value_counts().to_dict()
        )
        examples = q.head(10).to_dict("records")
    quantiles = (
        {f"p{int(q * 100)}": float(np.quantile(values, q)) for q in (0.01, 0.1, 0.5, 0.9, 0.99)}
        if len(values)
        else {}
    )
    return {
        "facts": facts,
        "column": column,
        "rows": int(len(values)),
        "mean": float(values.mean()) if len(values) else None,
        "quantiles": quantiles,
        "labels": labels,
        "quarantine_reasons": reasons,
        "quarantine_examples": examples,
        "values": values,
    }


def _probability_columns(path: Path) -> list[str]:
    """Return the multiclass `probability_<label>` columns of an output file, in file order."""
    if path.suffix.lower() == ".parquet":
        names = pq.read_schema(path).names
    else:
        with open(path, encoding="utf-8") as fh:
            names = [n.strip().strip('"') for n in fh.readline().split(",")]
    found = [n for n in names if n.startswith("probability_")]
    if not found:
        raise ValueError(f"{path}: no probability, probability_<label> or value column")
    return found


def _has_column(path: Path, column: str) -> bool:
    if path.suffix.lower() == ".parquet":
        return column in pq.read_schema(path).names
    with open(path, encoding="utf-8") as fh:
        header = fh.readline()
    return f'"{column}"' in header.split(",") or column in header.strip().split(",")


def batch_links(page: Path, lake: Lake, batch_name: str | None, tasks: list[str]) -> dict[str, Any]:
    """Return what the batch page links, relative to it: the monitoring verdict and the executed notebooks.

    The verdict is the latest of the Lake's monitoring status (the scoring pipeline's monitor task
    writes it after scoring), with the batch it is about. The notebooks are the Lake's notebook pages
    `<task>-<batch_name>` of `tasks` that exist, and the last task's (the one writing the page: its
    HTML appears once it ends).
    """
    monitoring = None
    status_file = lake.monitoring_status()
    if status_file.is_file():
        try:
            status = json.loads(status_file.read_text(encoding="utf-8"))
        except ValueError:
            status = {}
        monitoring = {
            "status": status.get("status", "unknown"),
            "batch_id": status.get("batch_id"),
            "this_batch": batch_name is None or str(status.get("batch_id")) == str(batch_name),
            "retrain": bool(status.get("retrain")),
            "alerts": list(status.get("alerts") or []),
            "href": link(lake.monitoring_page(), page),
        }
    notebooks = []
    if batch_name is not None:
        for i, task in enumerate(tasks):
            target = lake.notebook_page(f"{task}-{batch_name}")
            if i == len(tasks) - 1 or target.is_file():
                notebooks.append((task, link(target, page)))
    return {"monitoring": monitoring, "notebooks": notebooks}


def render_batch_summary(
    facts: dict[str, Any],
    path: str | Path,
    lake: Lake,
    title: str | None = None,
    dag: dict[str, Any] | None = None,
    batch_name: str | None = None,
) -> Path:
    """Write the batch summary (counts, lineage, histogram of scores, quarantine reasons) as one HTML file.

    With `dag` (reporting.dag.dag_section of pipeline.score.yaml) the page shows the scoring
    pipeline's picture and each task's status; with `batch_name` it links the monitoring verdict of
    the batch and its executed notebooks, where the Lake `lake` keeps them. Files are shown
    relative to the Lake's project folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lab2prod.reporting.render import figure_data_uri, render, shown_path

    summary = batch_summary(facts)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(summary["values"], bins=50, color="#3b6ea8")
    ax.set_xlabel(summary["column"])
    ax.set_ylabel("rows")
    ax.set_title("distribution of the predictions")
    fig.tight_layout()
    plot = figure_data_uri(fig)
    plt.close(fig)
    summary.pop("values")
    path = Path(path)
    shown = {
        key: shown_path(facts[key], lake.root)
        for key in ("input", "output", "quarantine", "model_uri")
        if isinstance(facts.get(key), str) and Path(facts[key]).is_absolute()
    }
    tasks = [t.name for t in dag["tasks"]] if dag else ["score", "monitor", "score_summary"]
    return render(
        "score_batch.html",
        path,
        title=title or f"Scoring of {Path(facts['input']).name}",
        plot=plot,
        summary=summary,
        facts={**facts, **shown},
        facts_json=json.dumps(facts, indent=2, sort_keys=True),
        dag=dag,
        links=batch_links(path, lake, batch_name, tasks),
    )

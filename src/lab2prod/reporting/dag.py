"""The pipeline's DAG as a picture: each task with its status and duration in the last build.

The tasks and their edges come from `pipeline.yaml` (read by settings.py and handed over as a dict);
each task's status and duration come from its executed notebook (`products/notebooks/<task>.ipynb`,
whose papermill metadata records start, end, duration and whether it raised). networkx lays the
graph out in layers, matplotlib draws it. Nothing here knows Ploomber.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import networkx as nx
from matplotlib.patches import Patch

from lab2prod.data.lake import Lake
from lab2prod.reporting.render import figure_data_uri

RAN, UP_TO_DATE, FAILED, NOT_RUN = "ran", "up to date", "failed", "not run"
COLORS = {
    RAN: "#c8e6c9",
    UP_TO_DATE: "#e0e0e0",
    FAILED: "#ffcdd2",
    NOT_RUN: "#ffffff",
}


@dataclass(frozen=True)
class TaskStatus:
    """One task of the last build: its status, when it finished and how long it took."""

    name: str
    status: str
    seconds: float | None = None
    finished: str | None = None

    @property
    def label(self) -> str:
        """Return the text of the task's box: name, status, then duration (one decimal)."""
        took = f"\n{self.seconds:.1f} s" if self.seconds is not None else ""
        return f"{self.name}\n{self.status}{took}"


def task_graph(spec: dict[str, Any], executed: list[str]) -> nx.DiGraph:
    """Return the DAG of a parsed `pipeline.yaml`: a grid task ("train-") becomes its executed cells.

    `executed` names the tasks that left an executed notebook (train-0, train-1, ...); a grid task
    with none stays one node named "train-*". Raises ValueError naming a task whose upstream is unknown.
    """
    graph = nx.DiGraph()
    expanded: dict[str, list[str]] = {}
    for task in spec.get("tasks", []):
        name = task.get("name") or Path(task["source"]).stem
        if "grid" in task:
            cells = sorted(
                (e for e in executed if re.fullmatch(re.escape(name) + r"\d+", e)),
                key=lambda e: int(e[len(name) :]),
            )
            expanded[name] = cells or [f"{name}*"]
        else:
            expanded[name] = [name]
    for task in spec.get("tasks", []):
        name = task.get("name") or Path(task["source"]).stem
        for node in expanded[name]:
            graph.add_node(node)
            for up in task.get("upstream", []) or []:
                matches = [
                    n
                    for key, nodes in expanded.items()
                    if key == up or (up.endswith("*") and key.startswith(up[:-1]))
                    for n in nodes
                ]
                if not matches:
                    raise ValueError(
                        f"pipeline.yaml: task {name!r} names upstream {up!r}, which is no task"
                    )
                graph.add_edges_from((m, node) for m in matches)
    return graph


def _papermill(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return {}


def task_statuses(
    graph: nx.DiGraph,
    lake: Lake,
    build_started: dt.datetime | None,
    writing: str | None,
    suffix: str = "",
) -> dict[str, TaskStatus]:
    """Return each task's status from its executed notebook, the Lake's `executed_notebook(<task><suffix>)`.

    A task that finished after `build_started` ran in this build; one that finished before is up to
    date (Ploomber skipped it). `writing` is the task drawing the picture: a person reads the page
    once that task is done, so it shows as ran, finished now. `suffix` is what the pipeline appends
    to the notebook's name (the scoring pipeline: "-<batch_name>").
    """
    out = {}
    for name in graph.nodes:
        if name == writing:
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S GMT")
            out[name] = TaskStatus(name, RAN, finished=now)
            continue
        meta = _papermill(lake.executed_notebook(f"{name}{suffix}"))
        if not meta:
            out[name] = TaskStatus(name, NOT_RUN)
            continue
        end = meta.get("end_time")
        finished = dt.datetime.fromisoformat(end) if end else None
        if meta.get("exception"):
            status = FAILED
        elif build_started is None or finished is None or finished >= build_started:
            status = RAN
        else:
            status = UP_TO_DATE
        seconds = meta.get("duration")
        out[name] = TaskStatus(
            name,
            status,
            seconds=None if seconds is None else float(seconds),
            finished=None if finished is None else finished.strftime("%Y-%m-%d %H:%M:%S GMT"),
        )
    return out


def dag_figure(graph: nx.DiGraph, statuses: dict[str, TaskStatus]):
    """Return a matplotlib figure of `graph` left to right, each box coloured by its task's status."""

    matplotlib.use("Agg")

    # layers left to right (networkx's topological generations), each layer's tasks in name order
    generations = [sorted(nodes) for nodes in nx.topological_generations(graph)]
    pos = {
        node: (float(layer), (len(nodes) - 1) / 2 - i)
        for layer, nodes in enumerate(generations)
        for i, node in enumerate(nodes)
    }
    tallest = max((len(nodes) for nodes in generations), default=1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(generations)), 0.95 * tallest + 1.2))
    # an edge that skips a layer bends, so it does not run hidden behind the boxes between its ends;
    # it stops at its box's edge (networkx takes a node as a circle: one as wide as its longest line)
    layer = {node: x for node, (x, _) in pos.items()}
    nodes = list(graph.nodes)
    widths = [max(map(len, statuses[n].label.split("\n"))) * 5.6 + 18 for n in nodes]
    for skips, style in ((False, "arc3"), (True, "arc3,rad=-0.25")):
        edges = [(a, b) for a, b in graph.edges if (layer[b] - layer[a] > 1) == skips]
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=edges,
            ax=ax,
            arrows=True,
            arrowsize=12,
            edge_color="#888",
            nodelist=nodes,
            node_size=[w * w for w in widths],
            connectionstyle=style,
        )
    for node, (x, y) in pos.items():
        status = statuses[node]
        ax.text(
            x,
            y,
            status.label,
            ha="center",
            va="center",
            fontsize=9,
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": COLORS[status.status],
                "edgecolor": "#555",
            },
        )
    ax.legend(
        handles=[
            Patch(facecolor=c, edgecolor="#555", label=s)
            for s, c in COLORS.items()
            if any(t.status == s for t in statuses.values())
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=5,
        frameon=False,
        fontsize=8,
    )
    ax.set_axis_off()
    ax.margins(x=0.08, y=0.2)
    fig.tight_layout()
    return fig


def pipeline_picture(
    spec: dict[str, Any],
    lake: Lake,
    build_started: dt.datetime | None = None,
    writing: str | None = None,
    suffix: str = "",
) -> tuple[Any, list[TaskStatus]]:
    """Return (figure, statuses in pipeline order) of the pipeline `spec` as its notebooks last ran.

    The executed notebooks are the Lake's, named `<task><suffix>`.
    """
    stems = lake.executed_names(suffix)
    executed = [s[: len(s) - len(suffix)] if suffix else s for s in stems]
    graph = task_graph(spec, executed)
    statuses = task_statuses(graph, lake, build_started, writing, suffix)
    order = list(nx.topological_sort(graph))
    return dag_figure(graph, statuses), [statuses[n] for n in order]


def dag_section(
    spec: dict[str, Any],
    lake: Lake,
    previous: Path | None = None,
    writing: str | None = None,
    suffix: str = "",
) -> dict[str, Any]:
    """Return a report's DAG section: `{"figure": PNG data URI, "tasks": statuses in pipeline order}`.

    `previous` is a file the pipeline's last task writes at its end (the training pipeline's
    products/report.json, the scoring pipeline's note): its time dates the previous build, so a
    task that finished after it ran in this build and the others were up to date. `writing` is the
    task writing the page (shown as ran).
    """

    started = (
        dt.datetime.fromtimestamp(Path(previous).stat().st_mtime, dt.timezone.utc)
        if previous is not None and Path(previous).exists()
        else None
    )
    fig, tasks = pipeline_picture(spec, lake, started, writing=writing, suffix=suffix)
    uri = figure_data_uri(fig)
    plt.close(fig)
    return {"figure": uri, "tasks": tasks}

"""The DAG picture: tasks and edges from a parsed pipeline.yaml, status and duration from the executed notebooks."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from lab2prod.data.lake import Lake
from lab2prod.reporting.dag import (
    FAILED,
    NOT_RUN,
    RAN,
    UP_TO_DATE,
    dag_section,
    pipeline_picture,
    task_graph,
)

SPEC = {
    "tasks": [
        {"source": "notebooks/split.ipynb", "name": "split"},
        {
            "source": "notebooks/train.ipynb",
            "name": "train-",
            "upstream": ["split"],
            "grid": "{{grid}}",
        },
        {"source": "notebooks/select.ipynb", "name": "select", "upstream": ["train-*"]},
        {"source": "notebooks/report.ipynb", "name": "report", "upstream": ["select"]},
    ]
}


def executed(lake, name, end, duration, exception=None):
    meta = {"papermill": {"end_time": end, "duration": duration, "exception": exception}}
    notebook = lake.executed_notebook(name)
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text(json.dumps({"cells": [], "metadata": meta}))


def test_a_grid_task_becomes_its_executed_cells():
    graph = task_graph(SPEC, ["split", "train-0", "train-1", "train-10"])
    assert set(graph.predecessors("select")) == {"train-0", "train-1", "train-10"}
    assert list(graph.successors("split")) == ["train-0", "train-1", "train-10"]
    assert "train-*" in task_graph(SPEC, [])


def test_an_unknown_upstream_is_named():
    spec = {"tasks": [{"source": "a.ipynb", "name": "a", "upstream": ["nowhere"]}]}
    with pytest.raises(ValueError, match="task 'a' names upstream 'nowhere', which is no task"):
        task_graph(spec, [])


def test_each_task_gets_its_status_and_duration(tmp_path):
    lake = Lake.of(tmp_path)
    executed(lake, "split", "2026-12-01T07:00:00.000000+00:00", 3.04)
    executed(lake, "train-0", "2026-12-01T08:00:00.000000+00:00", 12.25)
    executed(lake, "train-1", "2026-12-01T08:00:01.000000+00:00", 1.0, exception=True)
    started = dt.datetime(2026, 12, 1, 7, 30, tzinfo=dt.UTC)
    fig, tasks = pipeline_picture(SPEC, lake, started, writing="report")
    by_name = {t.name: t for t in tasks}
    assert tasks[0].name == "split" and tasks[-1].name == "report"
    assert (by_name["split"].status, by_name["split"].label) == (
        UP_TO_DATE,
        "split\nup to date\n3.0 s",
    )
    assert (by_name["train-0"].status, by_name["train-0"].seconds) == (RAN, 12.25)
    assert by_name["train-1"].status == FAILED
    # the task writing the page is done by the time a person reads it: ran, finished now
    assert (by_name["select"].status, by_name["report"].status) == (NOT_RUN, RAN)
    assert by_name["report"].finished.startswith(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"))
    assert fig.axes[0].texts  # one box per task


SCORE_SPEC = {  # pipeline.score.yaml's wiring
    "tasks": [
        {"source": "notebooks/score.ipynb", "name": "score"},
        {"source": "notebooks/monitor.ipynb", "name": "monitor", "upstream": ["score"]},
        {
            "source": "notebooks/score_summary.ipynb",
            "name": "score_summary",
            "upstream": ["score", "monitor"],
        },
    ]
}


def test_the_scoring_pipeline_reads_the_notebooks_of_its_batch(tmp_path):
    lake = Lake.of(tmp_path)
    executed(lake, "score-batch-1", "2026-12-01T08:00:00.000000+00:00", 4.5)
    executed(lake, "monitor-batch-1", "2026-12-01T08:00:09.000000+00:00", 2.0)
    executed(lake, "monitor-batch-2", "2026-12-01T09:00:00.000000+00:00", 1.0, exception=True)
    executed(lake, "train-0", "2026-12-01T07:00:00.000000+00:00", 9.0)  # the training build's
    # the previous run of batch-1 ended between score and monitor: score was skipped this time
    previous = tmp_path / "score_summary-batch-1.json"
    previous.write_text("{}")
    stamp = dt.datetime(2026, 12, 1, 8, 0, 5, tzinfo=dt.UTC).timestamp()
    os.utime(previous, (stamp, stamp))
    section = dag_section(SCORE_SPEC, lake, previous, writing="score_summary", suffix="-batch-1")
    assert section["figure"].startswith("data:image/png;base64,")
    assert [(t.name, t.status, t.seconds) for t in section["tasks"]] == [
        ("score", UP_TO_DATE, 4.5),
        ("monitor", RAN, 2.0),
        ("score_summary", RAN, None),
    ]
    # another batch's notebooks are not this one's: batch-2's monitor failed, its score never ran
    other = {t.name: t.status for t in dag_section(SCORE_SPEC, lake, suffix="-batch-2")["tasks"]}
    assert other == {"score": NOT_RUN, "monitor": FAILED, "score_summary": NOT_RUN}


def test_a_scoring_spec_with_an_unknown_upstream_is_named(tmp_path):
    spec = {"tasks": [*SCORE_SPEC["tasks"][:1], {"source": "m.ipynb", "upstream": ["scorer"]}]}
    with pytest.raises(ValueError, match="task 'm' names upstream 'scorer', which is no task"):
        dag_section(spec, Lake.of(tmp_path), suffix="-credit")

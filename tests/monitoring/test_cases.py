"""The monitor reads what the scorer reads, the way the scorer reads it (issue 24)."""

from __future__ import annotations

import pandas as pd

from lab2prod.data.contract import contract_from_dict
from lab2prod.data.line_ids import with_line_ids
from lab2prod.monitoring.cases import read_batch, read_features, read_labels
from lab2prod.monitoring.monitor import MonitorConfig, WatchedModel, monitor_frame


def _contract(id_column=None):
    return contract_from_dict(
        {
            "task": "regression",
            "target": "y",
            "id_column": id_column,
            "columns": {
                **({id_column: {"type": "string", "nullable": False}} if id_column else {}),
                "pce": {"type": "float", "thousands": ","},
                "when": {"type": "date", "format": "%d/%m/%Y"},
                "y": {"type": "float"},
            },
        }
    )


def test_monitor_reads_any_format_the_scorer_reads(tmp_path):
    contract = with_line_ids(_contract())
    path = tmp_path / "batch.jsonl"
    path.write_text(
        '{"pce": "3,504.5", "when": "31/07/1967", "y": 1}\n{"pce": "12", "when": "01/08/1967", "y": 2}\n'
    )
    batch = read_batch(path, contract)
    assert batch["pce"].tolist() == [3504.5, 12.0]
    assert batch["when"].dt.month.tolist() == [7, 8]
    assert batch["line"].tolist() == ["1", "2"]  # the lines, the ids scoring gives rows without one
    labels = read_labels(path, contract)
    assert labels[["line", "y"]].astype(str).values.tolist() == [["1", "1"], ["2", "2"]]


def test_scored_input_with_blank_and_repeated_ids_is_monitored_as_scored(tmp_path):
    contract = _contract("k")
    path = tmp_path / "input.csv"
    path.write_text(
        "k,pce,when,y\na,1,01/01/2000,1\n,2,01/01/2000,2\na,3,01/01/2000,3\nb,4,01/01/2000,4\n"
    )
    features = read_features(path, contract)
    # scoring scores the first row of an id and quarantines a blank id: the monitor joins those
    assert features["k"].tolist() == ["a", "b"] and features["pce"].tolist() == [1.0, 4.0]
    labels = read_labels(path, contract)  # the batch itself as labels: the same rows
    assert labels["k"].tolist() == ["a", "b"] and labels["y"].tolist() == ["1", "4"]


def test_monitor_metric_defaults_from_the_task():
    contract = with_line_ids(_contract())
    frame = pd.DataFrame(
        {
            "pce": [float(i) for i in range(40)],
            "when": pd.date_range("2000-01-01", periods=40),
            "y": [float(i % 7) for i in range(40)],
            "line": [str(i + 2) for i in range(40)],
        }
    )
    batch = frame.assign(value=frame["y"] + 0.5)
    result = monitor_frame(
        batch,
        frame,
        contract,
        "b",
        MonitorConfig(),
        WatchedModel(holdout={"rmse": 0.5}),
        labels=frame[["line", "y"]],
    )
    assert result.performance.metric == "rmse" and result.performance.realized == 0.5

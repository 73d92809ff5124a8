import json

import pytest

from conftest import empty_store
from lab2prod.data.lake import history_path
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.history import (
    append_record,
    log_metrics_to_mlflow,
    read_history,
)


def test_append_never_rewrites_earlier_rows(tmp_path):
    path = history_path(tmp_path / "lake")
    append_record(
        path,
        {
            "kind": "monitor",
            "batch_id": "b1",
            "model_version": "1",
            "drift_share": 0.0,
            "dataset_drift": False,
            "drifted_features": [],
            "details": {"note": 'a, "quoted" one'},
        },
    )
    before = path.read_bytes()
    append_record(
        path,
        {
            "kind": "monitor",
            "batch_id": "b2",
            "model_version": "1",
            "drift_share": 0.4,
            "dataset_drift": True,
            "drifted_features": ["Income", "Age"],
            "realized": 0.7,
        },
    )
    after = path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    history = read_history(path)
    assert history["batch_id"].tolist() == ["b1", "b2"]
    assert history["dataset_drift"].tolist() == [False, True]
    assert history.loc[1, "drifted_features"] == "Income;Age" and history.loc[1, "realized"] == 0.7
    assert json.loads(history.loc[0, "details"]) == {"note": 'a, "quoted" one'}


def test_history_refuses_bad_records_and_foreign_files(tmp_path):
    path = history_path(tmp_path)
    with pytest.raises(MonitoringError, match="unknown field"):
        append_record(path, {"kind": "monitor", "colour": "red"})
    with pytest.raises(MonitoringError, match="kind 'train'"):
        append_record(path, {"kind": "train"})
    path.write_text("a,b\n1,2\n")
    with pytest.raises(MonitoringError, match="header is not this version"):
        append_record(path, {"kind": "monitor"})
    assert path.read_text() == "a,b\n1,2\n"
    with pytest.raises(MonitoringError, match="not a monitoring history"):
        read_history(path)
    assert read_history(tmp_path / "none.csv").empty


def test_headline_numbers_go_to_mlflow(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{empty_store(tmp_path)}")
    experiment = mlflow.create_experiment("mon", artifact_location=(tmp_path / "art").as_uri())
    run_id = log_metrics_to_mlflow(
        {
            "kind": "monitor",
            "batch_id": "b1",
            "drift_share": 0.25,
            "dataset_drift": True,
            "realized": 0.71,
        },
        experiment,
        step=3,
    )
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.data.metrics == {"drift_share": 0.25, "dataset_drift": 1.0, "realized": 0.71}
    assert run.data.tags["monitoring.batch_id"] == "b1"

import json

import mlflow
import pandas as pd
import pytest

from lab2prod.cli import main
from lab2prod.data.lake import atomic_write_csv
from lab2prod.errors import MonitoringError
from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.monitoring.history import history_path, read_history
from lab2prod.monitoring.monitor import ALERT, OK, WARNING, monitor_frame
from lab2prod.monitoring.retrain import RetrainConfig, fit_candidate, retrain_in_process

from .conftest import PROJECT


def _shift(frame):
    return frame.assign(
        Income=frame["Income"] * 0.5,
        Amount=frame["Amount"] * 1.8,
        Price=frame["Price"] * 1.8,
        Age=frame["Age"] + 12,
    )


def test_monitor_frame_statuses(credit_halves):
    contract, reference, batch = credit_halves
    model = fit_candidate(reference, contract, RetrainConfig()).model
    calm = monitor_frame(batch, reference, contract, "b1", model=model)
    assert calm.status == OK and calm.exit_code == 0 and not calm.retrain
    assert 0 < calm.positive_rate < 1 and not calm.drift.prediction["drifted"]
    one = monitor_frame(
        batch.assign(Income=batch["Income"] * 0.6), reference, contract, "b2", model=model
    )
    assert one.status == WARNING and one.exit_code == 1 and not one.retrain
    labels = batch[["applicant_id", "Status"]]
    hit = monitor_frame(
        _shift(batch),
        reference,
        contract,
        "b3",
        model=model,
        labels=labels,
        holdout={"roc_auc": 0.99},
    )
    assert hit.status == ALERT and hit.retrain
    assert hit.triggers[0].startswith("dataset drift") and hit.triggers[1].startswith(
        "performance degraded"
    )
    record = hit.record()
    assert (
        record["realized"] == pytest.approx(hit.performance.realized)
        and record["decision"] == "retrain"
    )
    with pytest.raises(MonitoringError, match="no predictions and no model"):
        monitor_frame(batch, reference, contract, "b4", labels=labels)
    with pytest.raises(MonitoringError, match="cannot be scored: input lacks feature column"):
        monitor_frame(batch.drop(columns=["Age"]), reference, contract, "b5", model=model)


@pytest.mark.integration  # retrains through the command line: over a minute on 2 cores
def test_monitor_and_retrain_commands(credit_halves, tmp_path, monkeypatch, capsys):
    contract, reference, batch = credit_halves
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.MlflowClient().create_experiment(
        "lab2prod-credit", artifact_location=(tmp_path / "art").as_uri()
    )
    champion = retrain_in_process(
        reference, contract, RetrainConfig(), "credit-risk", experiment, ["first model"]
    )
    assert champion.decision.promote
    atomic_write_csv(tmp_path / "data/lake/splits/credit/train.csv", reference)
    common = ["--root", str(tmp_path), "--contract", str(PROJECT / "data/contracts/credit.yaml")]

    atomic_write_csv(tmp_path / "calm.csv", batch.drop(columns=["Status"]))
    assert main(["monitor", "--batch", str(tmp_path / "calm.csv"), *common]) == 0
    status = json.loads((tmp_path / "reports/monitoring.json").read_text())
    assert (
        status["status"] == "ok"
        and status["model"]["model_version"] == "1"
        and not status["retrain"]
    )

    atomic_write_csv(tmp_path / "drifted.csv", _shift(batch).drop(columns=["Status"]))
    atomic_write_csv(tmp_path / "labels.csv", batch[["applicant_id", "Status"]])
    code = main(
        [
            "monitor",
            "--batch",
            str(tmp_path / "drifted.csv"),
            "--labels",
            str(tmp_path / "labels.csv"),
            *common,
        ]
    )
    assert code == 1
    status = json.loads((tmp_path / "reports/monitoring.json").read_text())
    assert status["retrain"] and status["performance"]["rows_labelled"] == len(batch)
    assert "Income" in status["drift"]["drifted_features"]
    html = (tmp_path / "reports/monitoring.html").read_text()
    assert html.count("data:image/png;base64") == 4 and "dataset drift" in html
    history = read_history(history_path(tmp_path / "data/lake"))
    assert history["batch_id"].tolist() == ["calm", "drifted"] and pd.isna(
        history.loc[0, "realized"]
    )
    assert history.loc[1, "realized"] > 0.5
    runs = mlflow.search_runs(experiment_names=["lab2prod-monitoring"])
    assert len(runs) == 2 and "metrics.drift_share" in runs

    assert main(["retrain", "--in-process", "--window-rows", "2000", *common]) == 0
    history = read_history(history_path(tmp_path / "data/lake"))
    assert history.loc[2, "kind"] == "retrain" and history.loc[2, "decision"] in (
        "promote",
        "reject",
    )
    assert history.loc[2, "model_version"] == "2"
    assert "Retraining decisions" in (tmp_path / "reports/monitoring.html").read_text()

    # a scored file of ids and probabilities only, its features named apart
    scored = pd.DataFrame(
        {
            "applicant_id": batch["applicant_id"],
            "model_name": "credit-risk",
            "model_version": 1,
            "probability": predict(
                champion.candidate.model, model_frame(batch, contract), "classification"
            ),
        }
    )
    atomic_write_csv(tmp_path / "predictions.csv", scored)
    assert (
        main(
            [
                "monitor",
                "--batch",
                str(tmp_path / "predictions.csv"),
                "--features",
                str(tmp_path / "calm.csv"),
                "--batch-id",
                "calm2",
                *common,
            ]
        )
        == 0
    )
    calm_status = json.loads((tmp_path / "reports/monitoring.json").read_text())
    assert not calm_status["retrain"] and calm_status["model"]["model_version"] == "1"
    assert calm_status["positive_rate"] == pytest.approx((scored["probability"] >= 0.5).mean())
    assert main(["retrain", "--in-process", *common]) == 0
    assert "no retraining" in capsys.readouterr().out
    history = read_history(history_path(tmp_path / "data/lake"))
    assert history.iloc[-1]["decision"] == "skip"
    assert len(mlflow.MlflowClient().search_model_versions("name='credit-risk'")) == 2

    assert main(["monitor", "--batch", str(tmp_path / "nope.csv"), *common]) == 2
    assert "error: batch file" in capsys.readouterr().err

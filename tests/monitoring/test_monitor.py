import json

import mlflow
import pandas as pd
import pytest

from conftest import CREDIT_BUSINESS, empty_store
from lab2prod.cli import main
from lab2prod.data.lake import Lake, atomic_write_csv, history_path
from lab2prod.errors import MonitoringError
from lab2prod.model_edge import load_sklearn_model
from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.monitoring.drift import DriftThresholds
from lab2prod.monitoring.history import read_history
from lab2prod.monitoring.monitor import (
    ALERT,
    MONITOR_EXPERIMENT,
    OK,
    WARNING,
    MonitorConfig,
    WatchedModel,
    monitor_frame,
)
from lab2prod.monitoring.retrain import RetrainConfig, retrain_in_process
from lab2prod.project import Project

from .conftest import PROJECT, fit_on


def _shift(frame):
    return frame.assign(
        Income=frame["Income"] * 0.5,
        Amount=frame["Amount"] * 1.8,
        Price=frame["Price"] * 1.8,
        Age=frame["Age"] + 12,
    )


@pytest.mark.readiness("monitor 7")
def test_monitor_frame_statuses(credit_halves):
    contract, reference, batch = credit_halves
    model = fit_on(reference, contract)[0].model
    calm = monitor_frame(batch, reference, contract, "b1", watched=WatchedModel(model))
    assert calm.status == OK and calm.exit_code == 0 and not calm.retrain
    assert 0 < calm.positive_rate < 1 and not calm.drift.prediction["drifted"]
    one = monitor_frame(
        batch.assign(Income=batch["Income"] * 0.6),
        reference,
        contract,
        "b2",
        watched=WatchedModel(model),
    )
    assert one.status == WARNING and one.exit_code == 1 and not one.retrain
    labels = batch[["applicant_id", "Status"]]
    hit = monitor_frame(
        _shift(batch),
        reference,
        contract,
        "b3",
        watched=WatchedModel(model, holdout={"roc_auc": 0.99}),
        labels=labels,
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
        monitor_frame(
            batch.drop(columns=["Age"]), reference, contract, "b5", watched=WatchedModel(model)
        )


def test_monitor_config_of_sorts_drift_and_monitor_settings_and_refuses_unknown_ones():
    config = MonitorConfig.of(alpha=0.2, drift_share=None, tolerance=0.1)
    assert config.thresholds.alpha == 0.2 and config.tolerance == 0.1
    assert config.thresholds.drift_share == DriftThresholds().drift_share  # None: the default
    assert MonitorConfig.of() == MonitorConfig()
    with pytest.raises(MonitoringError, match="unknown monitoring setting.s. alhpa: use alpha"):
        MonitorConfig.of(alhpa=0.2)


def test_the_monitor_command_takes_its_limits_from_the_scoring_env_file_then_the_dataclass(
    tmp_path,
):
    # one place per default: an option given, else env.score.yaml (the pipeline's monitor step), else
    # MonitorConfig's; the command line holds no number of its own
    from lab2prod.cli import build_parser
    from lab2prod.cli.monitoring import monitor_config
    from lab2prod.cli.options import with_project_defaults

    # env.yaml's `experiment` holds the training runs: the monitor's runs never go there
    (tmp_path / "env.yaml").write_text("experiment: training-runs\ncontract: c.yaml\n")

    def parsed(*options):
        args = build_parser().parse_args(
            ["monitor", "--batch", "b.csv", "--root", str(tmp_path), *options]
        )
        with_project_defaults(args)
        return args

    assert monitor_config(parsed(), tmp_path) == (MonitorConfig(), MONITOR_EXPERIMENT)
    (tmp_path / "env.score.yaml").write_text(
        "drift_share: 0.5\nthreshold: 0.3\nmonitor_experiment: watch\n"
    )
    config, experiment = monitor_config(parsed("--threshold", "0.7"), tmp_path)
    assert config == MonitorConfig.of(drift_share=0.5, threshold=0.7) and experiment == "watch"
    assert monitor_config(parsed("--no-mlflow"), tmp_path)[1] is None
    assert monitor_config(parsed("--experiment", "mine"), tmp_path)[1] == "mine"


@pytest.mark.integration  # retrains through the command line: over a minute on 2 cores
def test_monitor_and_retrain_commands(credit_halves, tmp_path, monkeypatch, capsys):
    contract, reference, batch = credit_halves
    uri = f"sqlite:///{empty_store(tmp_path)}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.MlflowClient().create_experiment(
        "lab2prod-credit", artifact_location=(tmp_path / "art").as_uri()
    )
    project = Project(root=tmp_path, model_name="credit-risk", experiment="lab2prod-credit")
    champion = retrain_in_process(project, reference, contract, RetrainConfig(), ["first model"])
    assert champion.decision.promote
    # the project's registered model: env.yaml names it (no demo name stands in for it)
    (tmp_path / "env.yaml").write_text("model_name: credit-risk\nexperiment: lab2prod-credit\n")
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
                load_sklearn_model(champion.trained.model_uri),
                model_frame(batch, contract),
                "classification",
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


def test_a_batch_beyond_what_training_saw_is_scored_and_the_monitor_names_the_column(
    inferred_halves, tmp_path, monkeypatch
):
    from lab2prod.model_edge import ModelRef
    from lab2prod.monitoring.monitor import BatchFiles, ModelChoice, MonitorConfig, run_monitoring
    from lab2prod.monitoring.places import MonitoringPlaces
    from lab2prod.scoring.score import ScoreOptions, score_file

    contract, reference, batch = inferred_halves  # expect: what training saw, no hard bounds
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model = fit_on(reference, contract)[0].model
    top = contract.rule("Age").expect_max
    older = batch.assign(  # one row in ten older than anyone in training
        Age=batch["Age"].where(batch.index % 10 != 0, top + 5)
    ).drop(columns=["Status"])
    atomic_write_csv(tmp_path / "older.csv", older)
    atomic_write_csv(tmp_path / "train.csv", reference)

    scored = score_file(
        tmp_path / "older.csv",
        tmp_path / "scored" / "older.csv",
        ModelRef(model=model, uri="test", name="credit-risk", version="1", run_id=""),
        contract,
        options=ScoreOptions(scored_at="2026-01-01T00:00:00Z", workers=0),
    )
    assert scored.rows_quarantined == 0 and scored.rows_scored == len(batch)  # not quarantined

    result, paths = run_monitoring(
        tmp_path,
        contract,
        # predictions only: the features are joined from the scored input by id
        BatchFiles(scored.output, features=tmp_path / "older.csv"),
        MonitoringPlaces(Lake.of(tmp_path, "lake"), reference=tmp_path / "train.csv"),
        MonitorConfig(),
        ModelChoice("credit-risk", use=False),
        experiment=None,
    )
    share = (batch.index % 10 == 0).mean()
    assert result.drift.outside_expected["Age"] == pytest.approx(share)
    assert "Age" in result.drift.drifted_features and result.status != OK
    status = json.loads(paths["status"].read_text())
    assert status["drift"]["outside_expected"]["Age"] == pytest.approx(share)
    assert status["outside_expected_limit"] == MonitorConfig().thresholds.outside_expected_share
    age = next(f for f in status["features"] if f["feature"] == "Age")
    assert age["outside_expected"] == pytest.approx(share)
    assert any(
        a.startswith("feature Age drifted:")
        and f"{share:.1%} of rows outside what training saw (min 18, max {top})" in a
        for a in status["alerts"]
    )
    html = paths["report"].read_text()
    assert "rows outside what training saw" in html and f"Age {share:.1%}" in html
    history = read_history(paths["history"])
    assert json.loads(history["details"].iloc[-1])["outside_expected"]["Age"] == pytest.approx(
        share, abs=1e-4
    )

    # a status written before these columns existed (as `lab2prod retrain` reads it back) still renders
    from lab2prod.monitoring.report import render_monitoring

    older_status = {k: v for k, v in status.items() if k != "outside_expected_limit"}
    older_status["drift"] = {k: v for k, v in status["drift"].items() if k != "outside_expected"}
    older_status["features"] = [
        {k: v for k, v in f.items() if k != "outside_expected"} for f in status["features"]
    ]
    render_monitoring(history, older_status, tmp_path / "older.html", 0.25)
    assert "rows outside what training saw</th><td>none" in (tmp_path / "older.html").read_text()


@pytest.mark.integration  # logs a model to a store, then the command twice: MLflow runs and artifacts
def test_the_monitor_command_prints_estimates_with_intervals_and_beside_them_the_realized_figures(
    credit_halves, tmp_path, monkeypatch, capsys
):
    from lab2prod import model_logging, tracking
    from lab2prod.settings import write_yaml

    contract, reference, batch = credit_halves
    batch = batch.sample(800, random_state=3)  # enough rows for an interval, fewer to score
    uri = f"sqlite:///{empty_store(tmp_path)}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    trained, train, held_out = fit_on(reference, contract)
    tracking.connect(tmp_path, "lab2prod-credit")
    run = model_logging.log_training_run(
        trained,
        train,
        contract,
        run_name="train",
        record=model_logging.RunRecord(
            metrics={f"test_{k}": v for k, v in trained.metrics.items()}
        ),
    )
    mlflow.MlflowClient().log_metric(run.run_id, "decision_threshold", 0.3)  # as evaluate does
    splits = tmp_path / "data/lake/splits/credit"
    atomic_write_csv(splits / "train.csv", train)
    atomic_write_csv(splits / "valid.csv", held_out)  # calibration is checked there
    write_yaml({"business": CREDIT_BUSINESS}, tmp_path / "env.yaml")
    common = [
        "--root",
        str(tmp_path),
        "--contract",
        str(PROJECT / "data/contracts/credit.yaml"),
        "--model",
        run.model_uri,
    ]
    scored = batch.drop(columns=["Status"]).assign(
        run_id=run.run_id
    )  # the lineage of a scored file
    atomic_write_csv(tmp_path / "b1.csv", scored)
    assert main(["monitor", "--batch", str(tmp_path / "b1.csv"), *common]) == 0
    out = capsys.readouterr().out
    assert "roc_auc: estimated 0." in out and "value: estimated " in out and "realized" not in out
    assert "EUR per 1,000 cases" in out and "no labels yet" in out
    status = json.loads((tmp_path / "reports/monitoring.json").read_text())
    estimate = status["estimate"]
    assert estimate["threshold"] == 0.3 and estimate["unit"] == "EUR"
    auc = estimate["metrics"]["roc_auc"]
    assert auc["low"] < auc["value"] < auc["high"] and status["performance"] is None

    atomic_write_csv(tmp_path / "labels.csv", batch[["applicant_id", "Status"]])
    main(
        [
            "monitor",
            "--batch",
            str(tmp_path / "b1.csv"),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--batch-id",
            "b1-labelled",
            *common,
        ]
    )
    out = capsys.readouterr().out
    assert "; realized 0." in out and "labels of" in out
    status = json.loads((tmp_path / "reports/monitoring.json").read_text())
    realized = status["performance"]["metrics"]
    assert {"roc_auc", "value"} <= set(realized) and abs(
        realized["roc_auc"] - status["estimate"]["metrics"]["roc_auc"]["value"]
    ) < 0.05
    html = (tmp_path / "reports/monitoring.html").read_text()
    assert "performance estimated from the probabilities" in html and "EUR per 1,000 cases" in html
    history = read_history(history_path(tmp_path / "data/lake"))
    assert json.loads(history.loc[1, "details"])["realized_value"] == pytest.approx(
        realized["value"]
    )
    runs = mlflow.search_runs(experiment_names=[MONITOR_EXPERIMENT])
    assert {
        "metrics.estimated_roc_auc",
        "metrics.estimated_value_low",
        "metrics.realized_value",
    } <= set(runs.columns)


def test_the_labels_of_a_batch_without_an_id_column_are_its_rows_in_order(credit_halves):
    # an in-memory batch of a table without ids (the replay's): label k belongs to row k
    from dataclasses import replace

    contract, reference, batch = credit_halves
    bare = replace(
        contract,
        id_column=None,
        columns=tuple(c for c in contract.columns if c.name != contract.id_column),
    )
    reference, batch = (f.drop(columns=[contract.id_column]) for f in (reference, batch))
    model = fit_on(reference, bare)[0].model
    shuffled = batch.sample(frac=1.0, random_state=3)  # rows in any index order, as the replay's
    keyed = monitor_frame(
        shuffled.assign(applicant_id=[f"a{i}" for i in range(len(shuffled))]),
        reference,
        contract,
        "ids",
        watched=WatchedModel(model),
        labels=shuffled[[contract.target]].assign(
            applicant_id=[f"a{i}" for i in range(len(shuffled))]
        ),
    )
    rows = monitor_frame(
        shuffled,
        reference,
        bare,
        "rows",
        watched=WatchedModel(model),
        labels=shuffled[[contract.target]],
    )
    assert rows.performance.rows_labelled == len(batch) and rows.performance.rows_unmatched == 0
    assert rows.performance.metrics == pytest.approx(keyed.performance.metrics)
    with pytest.raises(
        MonitoringError,
        match=rf"^labels: 10 labels for {len(batch)} rows and no id column to join them on: "
        "give the labels an id column$",
    ):
        monitor_frame(
            batch, reference, bare, "short", watched=WatchedModel(model), labels=batch[:10]
        )

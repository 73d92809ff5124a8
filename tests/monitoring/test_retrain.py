import mlflow
import pandas as pd
import pytest

from lab2prod import tracking
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.retrain import (
    RetrainConfig,
    newest_window,
    pipeline_command,
    retrain_in_process,
    retrain_needed,
    write_window_catalog,
)
from lab2prod.release import registry


def test_retrain_needed_follows_the_status():
    assert retrain_needed(
        {"status": "alert", "retrain": True, "triggers": ["dataset drift 40% >= 25%"]}
    ) == (True, ["dataset drift 40% >= 25%"])
    due, reasons = retrain_needed({"status": "warning", "retrain": False, "batch_id": "b7"})
    assert not due and "no retraining threshold crossed" in reasons[0]
    with pytest.raises(MonitoringError, match="no 'retrain' field"):
        retrain_needed({"batch_id": "b"})


def test_newest_window_takes_the_latest_rows():
    batches = [pd.DataFrame({"i": range(k * 10, k * 10 + 10)}) for k in range(5)]
    window = newest_window(batches, 25)
    assert window["i"].tolist() == list(range(25, 50))
    with pytest.raises(MonitoringError, match="no labelled batch yet"):
        newest_window([], 100)
    with pytest.raises(MonitoringError, match="at least 10 rows"):
        newest_window(batches, 5)


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient().create_experiment(
        "retrain", artifact_location=(tmp_path / "art").as_uri()
    )


def test_a_retrained_model_that_is_not_better_is_not_promoted(credit_lake, store):
    contract, frame, _ = credit_lake
    config = RetrainConfig(window_rows=2000, seed=1)
    window = frame.sample(n=2000, random_state=3).reset_index(drop=True)
    first = retrain_in_process(window, contract, config, "m", store, ["first"])
    assert first.decision.promote and first.champion_version == first.version == "1"
    # a one-split stump retrained on the same rows is worse than the champion on the same held-out rows
    stump = RetrainConfig(
        window_rows=2000,
        seed=1,
        family="random_forest",
        model_params={"n_estimators": 1, "max_depth": 1},
    )
    second = retrain_in_process(window, contract, stump, "m", store, ["drift"])
    assert not second.decision.promote and "not better" in "; ".join(second.decision.reasons)
    assert registry.version_by_alias("m", registry.CHAMPION).version == "1"
    assert registry.version_by_alias("m", registry.CHALLENGER).version == "2"
    metrics, _, tags = tracking.run_data(second.run_id)
    assert (
        tags["gate.decision"] == "reject"
        and "test_roc_auc" in metrics
        and "champion_roc_auc" in metrics
    )
    assert second.record("b9")["decision"] == "reject"


def test_pipeline_path_gets_a_window_catalog(credit_lake, tmp_path):
    from lab2prod import settings

    contract, frame, _ = credit_lake
    catalog = write_window_catalog(tmp_path / "lake", frame.head(50), contract)
    loaded = settings.load_catalog(catalog)
    assert loaded.key == "applicant_id" and loaded.sources[0].path.name == "window.csv"
    command, env = pipeline_command(tmp_path, catalog, "env.test.yaml")
    assert command[1:4] == ["build", "--force", "--env--data"] and env == {
        "PLOOMBER_ENV_FILENAME": "env.test.yaml"
    }
    assert command[4] == str(catalog.relative_to(tmp_path))
    assert command[5:] == ["--env--lake", str(catalog.relative_to(tmp_path).parent / "lake")]
    with pytest.raises(MonitoringError, match="outside the project"):
        pipeline_command(tmp_path / "elsewhere", catalog)

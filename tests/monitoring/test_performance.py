import numpy as np
import pandas as pd
import pytest

from conftest import empty_store
from lab2prod.errors import MonitoringError
from lab2prod.monitoring.performance import (
    favourable_bound,
    holdout_metrics,
    join_labels,
    lineage,
    prediction_column,
    realized_performance,
)


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(0, 2, n)
    proba = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    return pd.DataFrame(
        {
            "id": [f"i{i}" for i in range(n)],
            "probability": proba,
            "model_name": "m",
            "model_version": 3,
            "run_id": "abc",
        }
    ), y


@pytest.mark.readiness("monitor 7")
def test_join_and_realized_performance(scored, contract):
    frame, y = scored
    labels = pd.DataFrame(
        {
            "id": list(frame["id"][:150]) + ["ghost"],
            "y": list(np.where(y[:150] == 1, "bad", "good")) + ["good"],
        }
    )
    joined, unmatched = join_labels(frame, labels, contract)
    assert len(joined) == 150 and unmatched == 1
    good = realized_performance(
        joined,
        contract,
        prediction_column(frame, "classification"),
        {"roc_auc": 0.70},
        tolerance=0.05,
        unmatched=unmatched,
    )
    assert good.realized > 0.8 and not good.degraded
    worse = realized_performance(
        joined.assign(probability=1 - joined["probability"]),
        contract,
        "probability",
        {"roc_auc": 0.70},
        tolerance=0.05,
    )
    assert worse.degraded and worse.summary()["holdout"] == 0.70
    assert lineage(frame) == {"model_name": "m", "model_version": "3", "run_id": "abc"}


def test_a_drop_within_the_batch_noise_is_not_degradation(scored, contract):
    frame, y = scored
    labels = pd.DataFrame({"id": frame["id"][:60], "y": np.where(y[:60] == 1, "bad", "good")})
    joined, _ = join_labels(frame, labels, contract)
    small = realized_performance(joined, contract, "probability", {"roc_auc": 0.95}, tolerance=0.05)
    # 60 rows: the point value is more than 0.05 below holdout, the favourable bound is not
    assert small.realized < 0.90 < small.favourable and not small.degraded
    assert small.summary()["favourable"] == small.favourable
    flipped = joined.assign(probability=1 - joined["probability"])
    assert realized_performance(flipped, contract, "probability", {"roc_auc": 0.95}).degraded
    bound = favourable_bound(
        np.r_[y, y], np.r_[frame["probability"], frame["probability"]], "classification", "roc_auc"
    )
    assert bound == favourable_bound(
        np.r_[y, y], np.r_[frame["probability"], frame["probability"]], "classification", "roc_auc"
    )
    assert favourable_bound(np.ones(50), np.linspace(0, 1, 50), "classification", "roc_auc") is None
    rmse = favourable_bound(np.zeros(100), np.linspace(-1, 1, 100), "regression", "rmse")
    assert rmse < float(
        np.sqrt(np.mean(np.linspace(-1, 1, 100) ** 2))
    )  # lower is better: the low end
    with pytest.raises(MonitoringError, match="unknown metric 'auc'"):
        realized_performance(joined, contract, "probability", {}, metric="auc")


def test_bad_labels_are_refused(scored, contract):
    frame, _ = scored
    with pytest.raises(MonitoringError, match="labels.csv has no target column 'y'"):
        join_labels(frame, pd.DataFrame({"id": ["i1"]}), contract, origin="labels.csv")
    with pytest.raises(MonitoringError, match="id 'i1' has more than one label"):
        join_labels(frame, pd.DataFrame({"id": ["i1", "i1"], "y": ["bad", "good"]}), contract)
    with pytest.raises(MonitoringError, match="has label 'maybe'; expected one of bad, good"):
        join_labels(frame, pd.DataFrame({"id": ["i1"], "y": ["maybe"]}), contract)
    with pytest.raises(MonitoringError, match="none of its 1 ids is in the scored batch"):
        join_labels(frame, pd.DataFrame({"id": ["zz"], "y": ["bad"]}), contract)
    with pytest.raises(MonitoringError, match="one model"):
        lineage(frame.assign(model_version=[1, 2] * 100))
    one_class = pd.DataFrame({"id": frame["id"][:10], "y": ["bad"] * 10})
    joined, _ = join_labels(frame, one_class, contract)
    with pytest.raises(MonitoringError, match="both classes"):
        realized_performance(joined, contract, "probability", {})


def test_holdout_metrics_from_a_real_run(tmp_path, monkeypatch):
    import mlflow

    empty_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.MlflowClient().create_experiment(
        "e", artifact_location=(tmp_path / "art").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metrics({"test_roc_auc": 0.81, "valid_roc_auc": 0.7})
    assert holdout_metrics(run.info.run_id) == {"roc_auc": 0.81}
    assert holdout_metrics(None) == {}
    with pytest.raises(MonitoringError, match="cannot read the training run nope"):
        holdout_metrics("nope")


def test_multiclass_realized_performance_and_its_bound():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lab2prod.modeling.metric_names import MULTICLASS_METRICS
    from lab2prod.monitoring.performance import favourable_bound

    x, y = load_wine(return_X_y=True)
    # scaled first: on the raw measurements lbfgs needs thousands of iterations (a second or more)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    proba = model.fit(x[::2], y[::2]).predict_proba(x[1::2])
    # 20 resamples, not the default 200: each computes every multiclass metric (seconds of CPU)
    bound = favourable_bound(y[1::2], proba, "classification", "roc_auc", rounds=20)
    assert bound is not None and 0.9 < bound <= 1.0
    f1 = favourable_bound(y[1::2], proba, "classification", "f1_macro", rounds=20)
    assert f1 is not None and f1 >= 0.8
    assert set(MULTICLASS_METRICS) >= {"roc_auc", "f1_macro"}
    # too few rows of a class for half the resamples to hold every class: no bound, no verdict
    assert (
        favourable_bound(
            np.array([0, 0, 0, 1, 2]), np.eye(3)[[0, 0, 0, 1, 2]], "classification", "roc_auc"
        )
        is None
    )


def test_the_multiclass_bound_is_sklearns_roc_auc_over_the_same_resamples():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from lab2prod.monitoring.performance import favourable_bound

    x, y = load_wine(return_X_y=True)
    # a weak model (two measurements), so that the resampled AUCs spread below 1
    proba = LogisticRegression().fit(x[::2, :2], y[::2]).predict_proba(x[1::2, :2])
    y = y[1::2]
    rng, values = np.random.default_rng(3), []
    for _ in range(40):  # favourable_bound's resampling, with scikit-learn's own metric
        idx = rng.integers(0, len(y), size=len(y))
        if len(np.unique(y[idx])) == 3:
            values.append(roc_auc_score(y[idx], proba[idx], multi_class="ovr", average="macro"))
    expected = float(np.quantile(values, 0.95))
    bound = favourable_bound(y, proba, "classification", "roc_auc", rounds=40, seed=3)
    assert 0.7 < bound < 1.0 and bound == pytest.approx(expected, abs=1e-12)

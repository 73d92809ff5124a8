import numpy as np
import pytest

from lab2prod.modeling import metrics


def test_classification_metrics_on_a_known_case():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = metrics.classification_metrics(y, p, threshold=0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_classification_metrics_need_two_classes():
    with pytest.raises(ValueError, match="both classes"):
        metrics.classification_metrics(np.array([1, 1]), np.array([0.2, 0.9]))


def test_regression_metrics():
    m = metrics.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))
    with pytest.raises(ValueError, match="at least two"):
        metrics.regression_metrics(np.array([1.0]), np.array([1.0]))


def test_is_better_knows_the_direction():
    assert metrics.is_better("roc_auc", 0.8, 0.7)
    assert metrics.is_better("rmse", 1.0, 2.0)
    assert not metrics.is_better("log_loss", 0.5, 0.4)
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.is_better("speed", 1, 2)


def test_default_metric_per_task():
    assert metrics.default_metric("classification") == "roc_auc"
    assert metrics.default_metric("regression") == "rmse"
    with pytest.raises(KeyError, match="unknown task"):
        metrics.default_metric("ranking")

import numpy as np
import pytest

from lab2prod.modeling import metric_names, metrics


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


# ---- multiclass: (n, k) probabilities against class codes 0..k-1


def _three_classes():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.4, 0.5, 0.1],  # wrong: class 1 is the most probable
            [0.1, 0.8, 0.1],
            [0.2, 0.6, 0.2],
            [0.1, 0.1, 0.8],
            [0.3, 0.2, 0.5],
        ]
    )
    return y, p


def test_multiclass_metrics_on_a_known_case():
    from sklearn import metrics as skm

    y, p = _three_classes()
    m = metrics.classification_metrics(y, p)
    assert set(m) == set(metric_names.MULTICLASS_METRICS)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, p.argmax(axis=1), average="macro"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
    assert m["log_loss"] == pytest.approx(-np.mean(np.log(p[np.arange(6), y])))
    # halved multiclass Brier: 0 for certainty, 1 at worst, like the binary one
    assert m["brier"] == pytest.approx(np.mean(np.sum((p - np.eye(3)[y]) ** 2, axis=1)) / 2)
    assert metric_names.metrics_kind(m) == "multiclass"
    assert metrics.metrics_defined(y, p) and not metrics.metrics_defined(y[:4], p[:4])


def test_multiclass_metrics_need_every_class_and_codes():
    y, p = _three_classes()
    with pytest.raises(ValueError, match=r"no row of class\(es\) \[2\]"):
        metrics.classification_metrics(y[:4], p[:4])
    with pytest.raises(ValueError, match="class codes 0..2"):
        metrics.classification_metrics(y + 1, p)

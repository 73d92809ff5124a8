import pytest

from lab2prod.modeling import metric_names


def test_is_better_knows_the_direction():
    assert metric_names.is_better("roc_auc", 0.8, 0.7)
    assert metric_names.is_better("rmse", 1.0, 2.0)
    assert not metric_names.is_better("log_loss", 0.5, 0.4)
    with pytest.raises(KeyError, match="unknown metric"):
        metric_names.is_better("speed", 1, 2)


def test_default_metric_per_task():
    assert metric_names.default_metric("classification") == "roc_auc"
    assert metric_names.default_metric("regression") == "rmse"
    with pytest.raises(KeyError, match="unknown task"):
        metric_names.default_metric("ranking")


def test_metric_kinds():
    assert metric_names.metrics_kind({"roc_auc": 0.8, "f1": 0.5}) == "binary"
    assert metric_names.metrics_kind({"rmse": 1.0}) == "regression"
    assert "pr_auc" not in metric_names.kind_metrics("multiclass")
    with pytest.raises(KeyError, match="unknown kind of model 'ternary'"):
        metric_names.kind_metrics("ternary")

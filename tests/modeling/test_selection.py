"""Choosing the grid's best cell on validation metrics."""

import pytest

from lab2prod.errors import ConfigError
from lab2prod.modeling.selection import select_best


def _cell(name, **metrics):
    return {"cell": name, "family": "f", "valid_metrics": metrics}


@pytest.mark.readiness("model 3", "model 5")
def test_best_follows_the_direction_of_the_metric():
    cells = [
        _cell("a", roc_auc=0.7, log_loss=0.5),
        _cell("b", roc_auc=0.8, log_loss=0.6),
        _cell("c", roc_auc=0.75, log_loss=0.4),
    ]
    assert select_best(cells, "roc_auc")["cell"] == "b"
    assert select_best(cells, "log_loss")["cell"] == "c"


def test_ties_go_to_the_earlier_cell():
    assert select_best([_cell("a", rmse=1.0), _cell("b", rmse=1.0)], "rmse")["cell"] == "a"


def test_unusable_inputs_are_named():
    with pytest.raises(ConfigError, match="select_metric 'auc' is unknown"):
        select_best([_cell("a", roc_auc=0.7)], "auc")
    with pytest.raises(
        ConfigError, match="no grid cell has validation metric 'rmse' \\(they have: roc_auc\\)"
    ):
        select_best([_cell("a", roc_auc=0.7)], "rmse")
    with pytest.raises(ConfigError, match="no trained cell"):
        select_best([], "rmse")


def test_select_metric_defaults_to_the_tasks_metric():
    from lab2prod.modeling.selection import resolve_metric, select_best

    cells = [
        {"run_id": "a", "valid_metrics": {"rmse": 3.0, "r2": 0.1}},
        {"run_id": "b", "valid_metrics": {"rmse": 2.0, "r2": 0.2}},
    ]
    assert resolve_metric(cells, "") == "rmse"
    assert select_best(cells, "")["run_id"] == "b"
    assert resolve_metric([{"valid_metrics": {"roc_auc": 0.8}}], "") == "roc_auc"

"""Choose the best cell of a parameter grid on the validation split. Pure: the test split is never seen here."""

from __future__ import annotations

from typing import Any

from lab2prod.errors import ConfigError
from lab2prod.modeling.metric_names import HIGHER_IS_BETTER


def resolve_metric(cells: list[dict[str, Any]], metric: str) -> str:
    """Return `metric`, or when it is empty the task's default read off the cells' metrics (roc_auc or rmse)."""
    if metric:
        return metric
    have = {k for c in cells for k in (c.get("valid_metrics") or {})}
    return "roc_auc" if "roc_auc" in have else "rmse"


def select_best(cells: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Return the cell whose `valid_metrics[metric]` is best; ties go to the earlier cell (grid order).

    Each cell is a train summary: {'run_id', 'model_uri', 'family', 'model_params', 'valid_metrics', ...}.
    """
    metric = resolve_metric(cells, metric)
    if metric not in HIGHER_IS_BETTER:
        raise ConfigError(
            f"select_metric {metric!r} is unknown; use one of: {', '.join(HIGHER_IS_BETTER)}"
        )
    if not cells:
        raise ConfigError(
            "the grid produced no trained cell: check the train tasks in pipeline.yaml"
        )
    scored = [c for c in cells if metric in (c.get("valid_metrics") or {})]
    if not scored:
        have = sorted({k for c in cells for k in (c.get("valid_metrics") or {})})
        raise ConfigError(
            f"no grid cell has validation metric {metric!r} (they have: {', '.join(have) or 'none'}): "
            "set select_metric to a metric of the task, and valid_size above 0"
        )
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    best = scored[0]
    for cell in scored[1:]:
        if sign * cell["valid_metrics"][metric] > sign * best["valid_metrics"][metric]:
            best = cell
    return best

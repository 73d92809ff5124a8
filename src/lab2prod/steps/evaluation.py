"""The evaluate step: the model chosen on validation, scored once on the untouched test split.

It chooses the decision threshold on validation (value-maximising with `business:`, a hand-set
`threshold` wins), then measures the test split with bootstrap intervals, slices, permutation
importance and value per 1,000 cases; it writes the figures, the test predictions and
evaluate.json, and logs all of it to the chosen run (the headline metrics to the build's run).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from lab2prod import model_edge, settings, tracking
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.contract import Contract
from lab2prod.data.lake import atomic_write_csv
from lab2prod.modeling import features
from lab2prod.modeling.predict import class_probability_columns, predict
from lab2prod.project import Project
from lab2prod.release import evaluate as ev
from lab2prod.release.valuation import value_model
from lab2prod.steps.results import EvaluateResult, SelectResult


def evaluate(project: Project) -> EvaluateResult:
    """Measure select's model on the test split; write figures, test predictions and evaluate.json; log them."""
    contract = settings.load_contract(project.contract_path())
    lake = project.lake
    chosen = SelectResult.read(lake.summary("select"))
    tracking.use_store(project.root, project.tracking_uri)
    test, valid = (
        read_normalized(lake.split(contract.dataset, part), contract) for part in ("test", "valid")
    )
    model = model_edge.load_sklearn_model(chosen.model_uri)
    valuation = value_model(
        model,
        valid,
        test,
        contract,
        project.business,
        hand=project.threshold,
        rounds=project.bootstrap_rounds,
        seed=project.seed,
    )
    threshold = valuation.threshold
    X_test, y_test = features.model_frame(test, contract), features.target_vector(test, contract)
    scores = predict(model, X_test, contract.task)
    intervals = ev.bootstrap_intervals(
        y_test, scores, contract.task, threshold, rounds=project.bootstrap_rounds, seed=project.seed
    )
    test_metrics = {k: v["value"] for k, v in intervals.items()}
    present = [c for c in project.slice_columns if c in test.columns]  # the ones this data has
    slices = ev.slice_metrics(test[present], y_test, scores, contract.task, threshold)
    importance = ev.importance_table(
        model, X_test, y_test, contract.task, seed=project.seed, repeats=project.importance_repeats
    )
    figures = ev.evaluation_plots(
        y_test,
        scores,
        contract.task,
        threshold,
        # multiclass: the labels of codes 0..k-1; binary: (negative, positive)
        classes=contract.labels
        if scores.ndim == 2
        else ev.class_names(contract.labels, contract.positive_label),
    )
    figures["importance"] = ev.importance_plot(importance)
    lake.figures().mkdir(parents=True, exist_ok=True)
    atomic_write_csv(lake.test_predictions(), prediction_table(test, y_test, scores, contract))
    with mlflow.start_run(run_id=chosen.run_id):
        mlflow.log_metrics({f"test_{k}": v for k, v in test_metrics.items()})
        mlflow.log_metrics(
            {f"test_{k}_{end}": v[end] for k, v in intervals.items() for end in ("low", "high")}
        )
        # scoring and monitoring read it back as the model's threshold (model_edge.recorded_threshold)
        mlflow.log_metric("decision_threshold", threshold)
        mlflow.set_tag("decision_threshold.origin", valuation.origin)
        if valuation.value is not None:
            mlflow.log_metric("test_value", valuation.value)
        for name, fig in figures.items():
            fig.savefig(lake.figure(name), dpi=90)
            plt.close(fig)
            # the PNG just written: the run keeps the report's image, rendered once
            mlflow.log_artifact(str(lake.figure(name)), "evaluation")
        tracking.log_json(
            {
                "intervals": intervals,
                "slices": slices,
                "importance": importance,
                "valuation": valuation.as_dict(),
            },
            "evaluation/evaluation.json",
        )
    if chosen.parent_run_id:
        client = mlflow.MlflowClient()
        for k, v in test_metrics.items():
            client.log_metric(chosen.parent_run_id, f"test_{k}", v)
    result = EvaluateResult(
        run_id=chosen.run_id,
        test_metrics=test_metrics,
        intervals=intervals,
        rows_test=len(test),
        bootstrap_rounds=project.bootstrap_rounds,
        slices=slices,
        importance=importance,
        threshold=threshold,
        valuation=valuation,
        # each figure relative to the reports folder
        figures=sorted(lake.figure(n).relative_to(lake.reports).as_posix() for n in figures),
    )
    result.write(lake.summary("evaluate"))
    return result


def prediction_table(
    test: pd.DataFrame, y_test: np.ndarray, scores: np.ndarray, contract: Contract
) -> pd.DataFrame:
    """Return the test split's predictions: actual and predicted (multiclass: each class's probability too)."""
    if (
        scores.ndim == 2
    ):  # multiclass: the labels, the most probable one and one probability per class
        labels = pd.Series(contract.labels)
        predictions = pd.DataFrame(
            {
                "actual": labels[y_test].to_numpy(),
                "prediction": labels[scores.argmax(axis=1)].to_numpy(),
                **dict(zip(class_probability_columns(contract.labels), scores.T)),
            }
        )
    else:
        predictions = pd.DataFrame({"actual": y_test, "prediction": scores})
    if contract.id_column:
        predictions.insert(0, contract.id_column, test[contract.id_column].to_numpy())
    return predictions


def figure_paths(project: Project, result: EvaluateResult) -> list[Path]:
    """Return the evaluation's figures as files, in the order evaluate.json lists them."""
    return [project.lake.reports / figure for figure in result.figures]

"""Logging a fitted model to MLflow: the training run with its dataset, the contract model, the plain sklearn flavor.

`log_training_run` is what the train step, retraining and the tests log a grid cell with; the
store and the runs' tags are `lab2prod.tracking`'s. Kept apart from it so that the notebooks that
only open runs and set tags (start, select, check, report) import neither scikit-learn nor the
serving model.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import ColSpec, Schema

from lab2prod import settings
from lab2prod.data.contract import contract_to_dict
from lab2prod.errors import RegistryError
from lab2prod.modeling.estimators import trusted_types
from lab2prod.serving.answer import answer_request
from lab2prod.serving.model import CODE_FILE, CONTRACT_ARTIFACT, PIPELINE_ARTIFACT
from lab2prod.tracking import package_versions


def pip_requirements() -> list[str]:
    """Return exact pins for the logged model's environment (explicit: MLflow's inference costs seconds)."""
    return [
        f"{name}=={version}" for name, version in package_versions().items() if name != "python"
    ]


def log_dataset(
    frame: pd.DataFrame, name: str, source: str, target: str, digest: str, context: str
) -> None:
    """Log a dataset into the active run with the lake's content digest (SHA-256 of the normalized file).

    Grid cells running at once log the same dataset into one experiment: MLflow's store looks the
    dataset up, then inserts it, and the slower of two processes fails on the table's unique key
    (experiment, name, digest). Its transaction is rolled back whole, so logging again finds the
    dataset the other process stored and only links it to this run.
    """
    dataset = mlflow.data.from_pandas(
        frame, source=source, targets=target, name=name, digest=digest[:32]
    )
    for attempt in range(DATASET_ATTEMPTS):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except MlflowException as exc:
            text = str(exc).lower()
            if attempt + 1 == DATASET_ATTEMPTS or "unique" not in text or "dataset" not in text:
                raise


DATASET_ATTEMPTS = 3  # logging a dataset another process is inserting at the same moment


@dataclass(frozen=True)
class LoggedRun:
    """The MLflow run of one training and the URI of the model it logged."""

    run_id: str
    model_uri: str


@dataclass(frozen=True)
class RunRecord:
    """What a training run records beside its model: numbers, tags, its training rows' lake file, where it nests.

    `counts` are logged as params (rows_train ...), `metrics` as named (``valid_roc_auc``,
    ``test_rmse``); with `data_source` and `data_sha256` the training rows are logged as the run's
    input dataset (the lake's SHA-256, not MLflow's digest). `parent_run_id` nests the run under a
    build's run; `experiment_id` None: the active experiment.
    """

    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    data_source: str | None = None
    data_sha256: str | None = None
    parent_run_id: str | None = None
    experiment_id: str | None = None


def log_training_run(
    trained: Any,
    train: pd.DataFrame,
    contract: Any,
    *,
    run_name: str,
    threshold: float = 0.5,
    record: RunRecord | None = None,
) -> LoggedRun:
    """Log one training as an MLflow run (params, metrics, tags, dataset, model); return the run and model.

    `trained` is a `lab2prod.modeling.training.Trained`. Params: family, seed, threshold, the row
    counts and ``model.<param>``; metrics and tags as `record` holds them, beside dataset, task and
    ``version.<package>``. The model is `log_contract_model`'s: the pipeline saved with skops
    behind the contract, so MLflow's own clients condition their input as `lab2prod score` does.
    """

    record = record or RunRecord()
    counts, metrics, tags = record.counts, record.metrics, record.tags
    data_source, data_sha256 = record.data_source, record.data_sha256
    parent_run_id, experiment_id = record.parent_run_id, record.experiment_id

    with mlflow.start_run(
        run_name=run_name, parent_run_id=parent_run_id, experiment_id=experiment_id
    ) as run:
        mlflow.log_params(
            {
                "family": trained.family,
                "seed": trained.seed,
                "threshold": threshold,
                **(counts or {}),
                **{f"model.{k}": v for k, v in trained.params.items()},
            }
        )
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "dataset": contract.dataset,
                "task": contract.task,
                # who trained it: the team server's login (the release path keeps trainer and approver apart)
                "lab2prod.trained_by": settings.identity(),
                **({"data.sha256": data_sha256} if data_sha256 else {}),
                **{f"version.{k}": v for k, v in package_versions().items()},
                **(tags or {}),
            }
        )
        if data_source and data_sha256:
            log_dataset(
                train, contract.dataset, data_source, contract.target, data_sha256, "training"
            )
        model_uri = log_contract_model(
            trained.model,
            contract,
            trusted_types(trained.family),
            example=train.head(5),
            threshold=threshold,
            run_id=run.info.run_id,
        )
    return LoggedRun(run_id=run.info.run_id, model_uri=model_uri)


def log_contract_model(
    model: Any,
    contract: Any,
    trusted: list[str],
    example: pd.DataFrame,
    threshold: float | None = None,
    run_id: str = "",
) -> str:
    """Log the fitted pipeline behind its contract as a "models from code" pyfunc; return its URI.

    The model file is `serving/model_code.py`; its artifacts are the pipeline saved with skops
    (the types to trust checked now, as `mlflow.sklearn` checks them) and the contract as YAML;
    its config holds the threshold, the run and the skops types. The signature names the answer's
    columns and declares no input schema: the contract, not MLflow's schema enforcement, decides
    what a valid row is and says why one is not (a labelled file is scored as `lab2prod score`
    scores it, a column the contract does not know is dropped as the contract says). The
    model's metadata lists the contract's columns under `input_columns`.
    """
    import skops.io  # imports every scikit-learn estimator (seconds): only when a model is logged

    with tempfile.TemporaryDirectory(prefix="lab2prod-pyfunc-") as folder:
        pipeline = Path(folder) / "model.skops"
        skops.io.dump(model, pipeline)
        untrusted = sorted(set(skops.io.get_untrusted_types(file=pipeline)) - set(trusted))
        if untrusted:
            raise RegistryError(
                f"the fitted model holds types skops does not trust ({', '.join(untrusted)}): "
                "declare them in modeling.estimators.SKOPS_TRUSTED_TYPES"
            )
        contract_file = settings.write_yaml(
            contract_to_dict(contract), Path(folder) / "contract.yaml"
        )
        rows = example.drop(columns=[contract.target], errors="ignore")
        # a date column with a declared format is sent written that way, as a client writes it
        rows = rows.assign(
            **{
                c.name: pd.to_datetime(rows[c.name]).dt.strftime(c.format)
                for c in contract.columns
                if c.type == "date" and c.format and c.name in rows.columns
            }
        )
        # the example as a client sends it: JSON values (dates as ISO text, missing as null)
        sample = pd.DataFrame(json.loads(rows.to_json(orient="records", date_format="iso")))
        answer = answer_request(sample, model, contract, 0.5 if threshold is None else threshold)
        if not answer.answered:
            raise RegistryError(
                f"the model's input example is refused by its contract: {answer.message}"
            )
        # outputs only: MLflow enforces an input schema cell by cell before `predict` runs, and
        # the contract checks every request anyway; the input example and the contract artifact
        # show what a request holds, `input_columns` in the model's metadata names the columns
        signature = infer_signature(None, answer.predictions)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(CODE_FILE),
            artifacts={PIPELINE_ARTIFACT: str(pipeline), CONTRACT_ARTIFACT: str(contract_file)},
            model_config={
                "threshold": threshold,
                "run_id": run_id,
                "skops_trusted_types": list(trusted),
            },
            signature=signature,
            input_example=sample,
            metadata={"input_columns": [rule.name for rule in contract.columns]},
            pip_requirements=pip_requirements(),
        )
    return info.model_uri


def input_schema(example: pd.DataFrame, contract: Any) -> Schema:
    """Return the model's MLflow input schema: the example's types, a column optional when the contract lets it be missing.

    Declared from the contract rather than inferred from a few rows, which would call a nullable
    column required whenever those rows happen to be complete.
    """
    kinds = {"i": "long", "f": "double"}
    columns = []
    for name in example.columns:
        rule = contract.rule(
            name.split("__", 1)[0]
        )  # a date's parts (<date>__year ...) follow the date
        columns.append(
            ColSpec(kinds.get(example[name].dtype.kind, "string"), name, required=not rule.nullable)
        )
    return Schema(columns)


def log_sklearn_model(
    model: Any,
    example: pd.DataFrame,
    trusted: list[str],
    predict_fn: str,
    inputs: Schema | None = None,
) -> str:
    """Log a fitted sklearn model with skops, a signature, an input example and pinned requirements; return its URI.

    The signature's inputs are `inputs` when given, else inferred from `example`.
    """
    with warnings.catch_warnings():
        # MLflow warns that an integer column cannot hold a missing value: the contract says which
        # integers are required (long) and which may be missing (double), see features.signature_frame
        warnings.filterwarnings("ignore", message=r"Hint: Inferred schema contains integer")
        signature = infer_signature(example, getattr(model, predict_fn)(example))
    if inputs is not None:
        signature = ModelSignature(inputs=inputs, outputs=signature.outputs)
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        serialization_format="skops",
        skops_trusted_types=trusted,
        signature=signature,
        input_example=example.head(5),
        pip_requirements=pip_requirements(),
        pyfunc_predict_fn=predict_fn,
    )
    return info.model_uri

"""The registered model as MLflow's clients see it: a "models from code" pyfunc that carries the contract.

`serving/model_code.py` is the file MLflow logs as the model (`mlflow.models.set_model`); its
artifacts are the fitted pipeline saved with skops and the contract as YAML. `mlflow models serve`,
`mlflow models predict` and `mlflow.pyfunc.load_model(...).predict` all run `ContractModel.predict`:
the request conditioned by the contract in score mode and predicted by `scoring.chunk.score_chunk`
(through `serving.answer`), the code `lab2prod score` runs on every chunk. No pickle: the pipeline
is loaded with skops under lab2prod's allow-list (`modeling.estimators.load_skops`).

A request with a row that breaks the contract raises an `MlflowException` with error code
INVALID_PARAMETER_VALUE, which MLflow's scoring server answers with HTTP 400 and the message.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

from lab2prod import model_edge, settings
from lab2prod.data.contract import contract_from_dict
from lab2prod.modeling.estimators import load_skops
from lab2prod.serving.answer import answer_request, request_frame
from lab2prod.serving.request_log import ANSWERED, REFUSED, RequestLog, utc_stamp

PIPELINE_ARTIFACT = "pipeline"  # the fitted scikit-learn pipeline, saved with skops
CONTRACT_ARTIFACT = "contract"  # the contract YAML the model scores by
CODE_FILE = Path(__file__).with_name("model_code.py")


class ContractRefused(MlflowException):
    """A request refused by the contract: HTTP 400, its message kept to the refusal's one line.

    MLflow's scoring server prefixes a failed prediction's message with the whole request's text;
    a refusal keeps its own line, which names each row and reason.
    """

    def __init__(self, message: str):
        self._line = message
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        """Return the refusal's one line, in `lab2prod score`'s words."""
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        pass  # the refusal's line stays as it is


class ContractModel(mlflow.pyfunc.PythonModel):
    """The fitted pipeline behind the contract: named outputs, refusals in the contract's words, a request log."""

    # MLflow checks `predict`'s type hints when the class is defined and warns without them; the
    # contract, not a type hint or an input schema, says what a request may hold
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        """Load the pipeline (skops, allow-list), the contract and the threshold; open the request log when asked."""

        config = dict(context.model_config or {})
        self.model = load_skops(
            Path(context.artifacts[PIPELINE_ARTIFACT]), config.get("skops_trusted_types") or []
        )
        path = Path(context.artifacts[CONTRACT_ARTIFACT])
        self.contract = contract_from_dict(settings.read_yaml(path), origin=str(path.name))
        # the threshold lab2prod score uses: the run's decision_threshold when evaluate chose one
        # after training (read from the store the model came from), else the one logged with it
        threshold = config.get("threshold")
        if is_tracking_uri_set():
            threshold = model_edge.run_threshold(config.get("run_id")) or threshold
        self.threshold = 0.5 if threshold is None else float(threshold)
        folder = settings.request_log_dir()
        lineage = {"run_id": config.get("run_id", ""), "model_uri": settings.served_model_uri()}
        self.log = RequestLog(folder, lineage) if folder is not None else None

    def predict(self, context, model_input, params=None):
        """Return the named predictions of `model_input` (a frame of the contract's columns), or refuse it."""
        if self.log is not None:
            started, received_at = time.perf_counter(), utc_stamp()
        frame = request_frame(model_input)
        answer = answer_request(frame, self.model, self.contract, self.threshold)
        if self.log is not None:
            statuses = (
                [(ANSWERED, "")] * answer.rows
                if answer.answered
                else [(REFUSED, answer.refused.get(i, "")) for i in range(answer.rows)]
            )
            self.log.write(
                frame,
                statuses,
                answer.predictions,
                received_at,
                (time.perf_counter() - started) * 1000,
            )
        if not answer.answered:
            raise ContractRefused(answer.message)
        return answer.predictions

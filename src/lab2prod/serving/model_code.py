"""The file MLflow logs as the model ("models from code"): it names the model object, nothing else."""

from mlflow.models import set_model

from lab2prod.serving.model import ContractModel

set_model(ContractModel())

"""lab2prod: notebook-first MLOps, from JupyterLab exploration to a reproducible batch system."""

import os

__version__ = "0.1.0"

# MLflow 3 sends usage telemetry to mlflow-telemetry.io unless told not to. lab2prod never phones home:
# off by default for every process that imports lab2prod (and the MLflow commands it starts);
# MLFLOW_DISABLE_TELEMETRY=false in the environment opts in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

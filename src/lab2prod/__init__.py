"""lab2prod: notebook-first MLOps, from JupyterLab exploration to a reproducible batch system."""

import os
import warnings

__version__ = "0.1.0"

# MLflow 3 sends usage telemetry to mlflow-telemetry.io unless told not to. lab2prod never phones home:
# off by default for every process that imports lab2prod (and the MLflow commands it starts);
# MLFLOW_DISABLE_TELEMETRY=false in the environment opts in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow draws a tqdm.auto bar per artifact it downloads: in a notebook without ipywidgets that is a
# TqdmWarning ("IProgress not found") and a bar per model file. lab2prod prints its own progress
# lines; MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=true in the environment brings MLflow's bars back.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# `import mlflow` imports tqdm.auto (its GenAI simulators); in a Jupyter kernel without ipywidgets
# tqdm then warns "IProgress not found" on every notebook that imports lab2prod's MLflow edge, though
# no bar is drawn (its plain-text bar is used, and lab2prod turns MLflow's off above)
warnings.filterwarnings("ignore", message=r"IProgress not found", module=r"tqdm\.auto")

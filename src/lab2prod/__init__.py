"""lab2prod: notebook-first MLOps, from JupyterLab exploration to a reproducible batch system."""

__version__ = "0.1.0"

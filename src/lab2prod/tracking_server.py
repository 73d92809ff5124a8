"""A tracking server that cannot be reached fails at once, in one line.

MLflow retries a refused HTTP request with exponential backoff (7 retries by default,
MLFLOW_HTTP_REQUEST_MAX_RETRIES, backoff factor 2): a closed port costs minutes and ends in a
traceback. Before the first MLflow call, the commands, the pipelines' notebooks and the Ploomber
hook (lab2prod_ploomber.hooks) open one TCP connection to the server instead; no MLflow import.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from lab2prod.errors import Lab2ProdError

CONNECT_TIMEOUT = 5.0


class TrackingServerUnreachable(Lab2ProdError):
    """The MLflow tracking server named by the tracking URI does not answer."""


def check_reachable(uri: str | None, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise TrackingServerUnreachable (one line: the URI, what to do) when an http(s) `uri` does not accept a connection.

    Other URIs (None, sqlite:, file:, a database URL) are local or left to MLflow: nothing is checked.
    """
    if not uri:
        return
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TrackingServerUnreachable(
            f"MLFLOW_TRACKING_URI={uri}: not a valid URL (bad port): fix MLFLOW_TRACKING_URI"
        ) from None
    host = parts.hostname or ""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = None if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise TrackingServerUnreachable(
            f"MLflow tracking server {uri} is unreachable ({reason or f'no answer in {timeout:g} s'}): "
            "start it (make mlflow-server) or point MLFLOW_TRACKING_URI at a running server "
            "(unset it to use the project's mlflow.db)"
        ) from None


# `make mlflow-ui`'s address: a local store's runs are read through it
LOCAL_UI = "http://127.0.0.1:5000"


def ui_url(tracking_uri: str, experiment_id: str, run_id: str | None = None) -> str:
    """Return the MLflow UI's page of an experiment's runs (or of one run) for a person to open.

    MLflow 3.17's UI opens an experiment on its GenAI view (traces) whatever the experiment's kind
    tag says: the page's `workflowType=machine_learning` opens the runs table instead. A local
    store (SQLite, files) is read through `make mlflow-ui`'s server, a tracking server through itself.
    """
    base = (
        tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI
    )
    page = f"/runs/{run_id}" if run_id else "/runs"
    return f"{base}/#/experiments/{experiment_id}{page}?workflowType=machine_learning"

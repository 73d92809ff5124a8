"""DAG-level hooks that pipeline.yaml names (`on_render`): checks made before any task runs."""

from __future__ import annotations

import sys

from lab2prod import settings
from lab2prod.tracking_server import TrackingServerUnreachable, check_reachable


def check_tracking_server() -> None:
    """Stop the build at once, in one line, when MLFLOW_TRACKING_URI names a server that does not answer.

    Without it the first task that logs to MLflow would retry for minutes, then fail with a traceback.
    """
    try:
        check_reachable(settings.tracking_uri(None))
    except TrackingServerUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None

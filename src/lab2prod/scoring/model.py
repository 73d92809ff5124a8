"""The model a scoring run uses: found in the registry, loaded with skops.

A registered model in a local SQLite store is found in milliseconds by
`registry_lookup`, without MLflow. Any other model is resolved through the
MLflow registry in a forked process: this module imports no pandas,
scikit-learn or MLflow at import time, so that a caller decides what the forked
process inherits. `lab2prod score` imports pandas (MLflow needs it too), starts
the fetch, then imports pandera, scikit-learn and skops: MLflow's import and
registry lookup run beside those imports, seconds of one core each.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelRef:
    """A loaded model and where it came from: the lineage every prediction carries."""

    model: Any
    uri: str
    name: str
    version: str
    run_id: str
    threshold: float | None = None


def load_model(uri: str, tracking_uri: str | None = None) -> ModelRef:
    """Load the sklearn model at an MLflow URI and resolve its registered name, version, run and threshold.

    ``models:/<name>@<alias>`` and ``models:/<name>/<version>`` resolve through
    the registry; other URIs (``runs:/``, ``models:/m-...``) keep an empty name
    and version. The run's logged ``threshold`` parameter comes along.
    """
    from lab2prod import tracking

    found = _look_up(uri, tracking_uri)
    if found is not None:
        return _loaded(uri, found)
    with tempfile.TemporaryDirectory(prefix="lab2prod-model-") as folder:
        return _loaded(uri, tracking.fetch_model(uri, Path(folder), tracking_uri))


def _look_up(uri: str, tracking_uri: str | None) -> dict[str, Any] | None:
    """Return the model's facts from the SQLite store when registry_lookup can answer exactly, else None."""
    from lab2prod import settings
    from lab2prod.scoring import registry_lookup

    return registry_lookup.lookup(uri, tracking_uri, settings.mlflow_workspaces())


def _loaded(uri: str, facts: dict[str, Any]) -> ModelRef:
    """Load the model from the folder in `facts` (name, version, run_id, threshold, path)."""
    # imported here: scikit-learn must not be imported before the fetch process is forked
    from lab2prod.modeling.estimators import load_model_dir

    facts = dict(facts)
    return ModelRef(model=load_model_dir(Path(facts.pop("path"))), uri=uri, **facts)


class ModelFetch:
    """Find a registered model: in the SQLite store at once, else through MLflow in a forked process.

    A model `registry_lookup` can answer for is found before this returns.
    Otherwise importing MLflow and opening its store costs seconds of one core,
    and so does importing pandas, scikit-learn and skops: on 2 cores they run
    side by side. Start it before those imports (`lab2prod score` does) and
    hand it to `score_file` in place of the URI.
    The child only talks to MLflow and sends back the model's facts; the model
    itself is loaded here, from the files it copied.
    """

    def __init__(self, uri: str, tracking_uri: str | None):
        import multiprocessing

        self.uri = uri
        self._process = None
        self.folder: Path | None = None
        self._found = _look_up(uri, tracking_uri)
        if self._found is not None:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="lab2prod-model-"))
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_fetch_in_child,
            args=(uri, self.folder, tracking_uri, send),
            name="lab2prod-model-fetch",
            daemon=True,
        )
        self._process.start()
        send.close()

    def result(self) -> ModelRef:
        """Wait for the child, load the model from the copied files and remove them."""
        from lab2prod.errors import RegistryError

        if self._found is not None:
            return _loaded(self.uri, self._found)
        try:
            try:
                status, payload = self._receive.recv()
            except EOFError:
                self._process.join()
                raise RegistryError(
                    f"cannot load model {self.uri}: the process resolving it died "
                    f"(exit code {self._process.exitcode})"
                ) from None
            self._process.join()
            if status == "error":
                raise RegistryError(payload)
            return _loaded(self.uri, payload)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs and remove the copied files (idempotent)."""
        if self._process is None:
            return
        self._receive.close()
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        shutil.rmtree(self.folder, ignore_errors=True)


def _fetch_in_child(uri: str, folder: Path, tracking_uri: str | None, send) -> None:
    import logging
    import warnings

    # a forked child must not write to the parent's streams (in a Jupyter kernel they are sockets)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 open until the child exits
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    try:
        from lab2prod import tracking

        send.send(("ok", tracking.fetch_model(uri, folder, tracking_uri)))
    except Exception as exc:  # noqa: BLE001 every failure goes back as one line; the parent raises it
        from lab2prod.errors import Lab2ProdError

        message = (
            str(exc)
            if isinstance(exc, Lab2ProdError)
            else f"cannot load model {uri}: {type(exc).__name__}: {exc}"
        )
        send.send(("error", message))
    finally:
        send.close()


def import_model_libraries() -> None:
    """Import what loading and running the model needs (scikit-learn, skops): seconds, overlapped with the fetch."""
    import skops.io  # noqa: F401  (imports scikit-learn)

    from lab2prod.modeling import estimators  # noqa: F401

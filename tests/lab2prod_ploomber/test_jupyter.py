"""JupyterLab's contents manager: a pipeline notebook opens with its injected cell and saves back unchanged.

The project's contents manager (src/lab2prod_ploomber/jupyter.py) in this process on a fresh copy,
as JupyterLab calls it: `get` to open, `save` with the model the browser sends back. Ploomber's
injection alone also wrote the installed kernel's display name and papermill's metadata (every
parameter, with this machine's absolute paths) into the saved file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tornado.web import HTTPError

from tests.conftest import copy_pipelines


@pytest.fixture
def manager(tmp_path, monkeypatch):
    from lab2prod_ploomber.jupyter import InjectingContentsManager

    root = copy_pipelines(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.delenv("PLOOMBER_ENV_FILENAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return InjectingContentsManager(root_dir=str(root))


def injected(model: dict) -> list:
    cells = model["content"]["cells"]
    return [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]


def test_opening_then_saving_a_pipeline_notebook_gives_the_committed_bytes_back(manager):
    root = Path(manager.root_dir)

    async def open_and_save(name: str) -> dict:
        model = await manager.get(f"notebooks/{name}")
        sent = json.loads(json.dumps(model["content"]))  # what the browser sends back
        await manager.save({"type": "notebook", "format": "json", "content": sent}, model["path"])
        return model

    for name in ("split.ipynb", "train.ipynb", "report.ipynb"):
        committed = (root / "notebooks" / name).read_bytes()
        model = asyncio.run(open_and_save(name))
        cells = injected(model)
        assert len(cells) == 1 and f'root = "{root}"' in cells[0]["source"], name
        assert model["content"]["metadata"] == json.loads(committed)["metadata"], name
        assert (root / "notebooks" / name).read_bytes() == committed, name


def test_a_notebook_outside_the_pipeline_opens_as_it_is(manager):
    model = asyncio.run(manager.get("notebooks/exploratory/credit_eda.ipynb"))
    assert model["type"] == "notebook" and not injected(model)


def test_a_missing_notebook_is_a_404(manager):
    with pytest.raises(HTTPError, match="404"):
        asyncio.run(manager.get("notebooks/nowhere.ipynb"))

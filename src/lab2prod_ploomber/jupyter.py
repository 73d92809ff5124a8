"""Ploomber's cell injection in JupyterLab, on a contents manager that is asynchronous.

A pipeline notebook opened in JupyterLab shows the values `ploomber build` would pass it (a cell
tagged `injected-parameters` below the `parameters` cell); the cell is removed again when the
notebook is saved, so the committed source never holds it.

Ploomber 0.23.3's own server extension (`ploomber.jupyter.manager.PloomberContentsManager`) reads
the result of its base class's `get` synchronously, but jupytext 1.19's contents manager (and
jupyter_server 2's default) is asynchronous: every `GET /api/contents/...` then fails with
"'coroutine' object is not subscriptable" and JupyterLab lists and opens nothing. The class below
keeps Ploomber's DAG loading and injection and awaits the base class; the injection adds the cell
and nothing else, so a notebook opened and saved is the committed file byte for byte. The
project's `jupyter_server_config.py` names it; Ploomber's extension sees that it is already a
Ploomber manager (it has `load_dag`) and leaves it in place.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from jupytext import AsyncTextFileContentsManager
from ploomber.jupyter.manager import check_metadata_filter, derive_class
from ploomber.sources.notebooksource import _cleanup_rendered_nb, inject_cell

# Ploomber's class on jupytext's asynchronous manager: its DAG loading is used as it is, its
# synchronous get/save/checkpoint methods are replaced below
_PloomberOnJupytext = derive_class(AsyncTextFileContentsManager)


class InjectingContentsManager(_PloomberOnJupytext):
    """jupytext's asynchronous contents manager with Ploomber's parameter-cell injection."""

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Return the model at `path`; a pipeline notebook gets the pipeline's parameters injected."""
        if content and self.spec is None:
            self.load_dag(log=False)
        model = await super(_PloomberOnJupytext, self).get(
            path, content=content, type=type, format=format, **kwargs
        )
        check_metadata_filter(self.log, model)
        if model["content"] and model["type"] == "notebook":
            self.load_dag(starting_dir=Path(self.root_dir, model["path"]).parent, model=model)
            if self._model_in_dag(model):
                own = copy.deepcopy(model["content"]["metadata"])
                inject_cell(model=model, params=self.dag_mapping[model["path"]]._params)
                # only the cell is Ploomber's: its injection also rewrote the kernelspec (the installed
                # kernel's display name) and added papermill's metadata (every parameter, this
                # machine's absolute paths), which a save would write into the committed notebook
                model["content"]["metadata"] = own
        return model

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """Save `model` without the injected cell; Ploomber re-runs a saved pipeline notebook's task."""
        check_metadata_filter(self.log, model)
        key = self._model_in_dag(model, path)
        if key:
            content = model["content"]
            if not content.get("metadata", {}).get("ploomber", {}).get("injected_manually"):
                model["content"] = _cleanup_rendered_nb(content)
            self.dag_mapping.delete_metadata(key)
        return await super(_PloomberOnJupytext, self).save(model, path)

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        """Return the checkpoints of `path` (the base class's, awaited)."""
        return await super(_PloomberOnJupytext, self).list_checkpoints(path)

    async def create_checkpoint(self, path: str) -> dict[str, Any]:
        """Create a checkpoint of `path` (the base class's, awaited)."""
        return await super(_PloomberOnJupytext, self).create_checkpoint(path)

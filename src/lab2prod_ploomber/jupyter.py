"""Ploomber's cell injection in JupyterLab, on a contents manager that is asynchronous.

A pipeline notebook opened in JupyterLab shows the values `ploomber build` would pass it (a cell
tagged `injected-parameters` below the `parameters` cell); the cell is removed again when the
notebook is saved, so the committed source never holds it.

Ploomber 0.23.3's own server extension (`ploomber.jupyter.manager.PloomberContentsManager`) reads
the result of its base class's `get` synchronously, but jupytext 1.19's contents manager (and
jupyter_server 2's default) is asynchronous: every `GET /api/contents/...` then fails with
"'coroutine' object is not subscriptable" and JupyterLab lists and opens nothing. The class below
keeps Ploomber's DAG loading and injection and awaits the base class; the injection adds the cell
and nothing else, so a notebook opened and saved is the committed file byte for byte.

JupyterLab writes the kernel's metadata (the kernelspec's display name, ipykernel's
`language_info`) into a notebook as soon as its kernel answers, and marks it changed when that
differs from the file. The manager serves a notebook with that metadata already in place (it opens
unmodified) and saves it with the file's own (a save writes only what the person changed), so
the committed notebooks keep the short metadata nbstripout leaves. The
project's `jupyter_server_config.py` names it; Ploomber's extension sees that it is already a
Ploomber manager (it has `load_dag`) and leaves it in place.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupytext import AsyncTextFileContentsManager
from ploomber.jupyter.manager import check_metadata_filter, derive_class
from ploomber.sources.notebooksource import _cleanup_rendered_nb, inject_cell

# the kernel the committed notebooks name; its metadata is what JupyterLab writes into a notebook
# once the kernel answers (ipykernel's `language_info`, the kernelspec's display name)
PYTHON_KERNEL = "python3"


def kernel_metadata(kernelspec: dict[str, Any]) -> dict[str, Any]:
    """Return the notebook metadata JupyterLab sets when the Python kernel `kernelspec` starts.

    `kernelspec` is the installed kernel's (name, display_name, language); `language_info` is
    ipykernel's for this Python (the server starts a "python" kernel with its own interpreter).
    """
    return {
        "kernelspec": {
            "display_name": kernelspec["display_name"],
            "language": kernelspec.get("language", "python"),
            "name": kernelspec["name"],
        },
        "language_info": {
            "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
            "file_extension": ".py",
            "mimetype": "text/x-python",
            "name": "python",
            "nbconvert_exporter": "python",
            "pygments_lexer": "ipython3",
            "version": sys.version.split()[0],
        },
    }


def as_on_disk(metadata: dict[str, Any], on_disk: dict[str, Any] | None) -> dict[str, Any]:
    """Return `metadata` with the kernel's entries of the file on disk, when it names the same kernel.

    JupyterLab writes the kernel's display name and `language_info` into every notebook it saves;
    keeping the file's own makes a save change only what the person changed.
    """
    if not on_disk:
        return metadata
    spec, disk_spec = metadata.get("kernelspec") or {}, on_disk.get("kernelspec") or {}
    if spec.get("name") != disk_spec.get("name"):
        return metadata  # another kernel chosen: that is the person's change
    kept = {k: v for k, v in metadata.items() if k not in ("kernelspec", "language_info")}
    for key in ("kernelspec", "language_info"):
        if key in on_disk:
            kept[key] = on_disk[key]
    # the keys in the order of the file on disk, so json's output is the same bytes
    order = [k for k in on_disk if k in kept] + [k for k in kept if k not in on_disk]
    return {k: kept[k] for k in order}


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
        if model["content"] and model["type"] == "notebook":
            self._as_jupyterlab_writes(model["content"]["metadata"])
        return model

    def _as_jupyterlab_writes(self, metadata: dict[str, Any]) -> None:
        """Give a notebook of the Python kernel the metadata JupyterLab will set, so it opens unmodified.

        JupyterLab marks a notebook changed when the kernel's metadata differs from the file's;
        `save` puts the file's own back.
        """
        if (metadata.get("kernelspec") or {}).get("name") != PYTHON_KERNEL:
            return
        specs = getattr(self.parent, "kernel_spec_manager", None) or KernelSpecManager()
        try:
            spec = specs.get_kernel_spec(PYTHON_KERNEL)
        except NoSuchKernel:  # JupyterLab asks which kernel to start: nothing to match
            return
        metadata.update(
            kernel_metadata(
                {
                    "name": PYTHON_KERNEL,
                    "display_name": spec.display_name,
                    "language": spec.language,
                }
            )
        )

    def _on_disk_metadata(self, path: str) -> dict[str, Any] | None:
        file = Path(self.root_dir, path.strip("/"))
        if file.suffix != ".ipynb" or not file.is_file():
            return None
        try:
            return json.loads(file.read_text(encoding="utf-8")).get("metadata") or {}
        except (OSError, ValueError):
            return None

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """Save `model` without the injected cell; Ploomber re-runs a saved pipeline notebook's task."""
        check_metadata_filter(self.log, model)
        key = self._model_in_dag(model, path)
        if key:
            content = model["content"]
            if not content.get("metadata", {}).get("ploomber", {}).get("injected_manually"):
                model["content"] = _cleanup_rendered_nb(content)
            self.dag_mapping.delete_metadata(key)
        if model.get("type") == "notebook" and model.get("content"):
            content = model["content"]
            content["metadata"] = as_on_disk(
                content.get("metadata") or {}, self._on_disk_metadata(path)
            )
        return await super(_PloomberOnJupytext, self).save(model, path)

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        """Return the checkpoints of `path` (the base class's, awaited)."""
        return await super(_PloomberOnJupytext, self).list_checkpoints(path)

    async def create_checkpoint(self, path: str) -> dict[str, Any]:
        """Create a checkpoint of `path` (the base class's, awaited)."""
        return await super(_PloomberOnJupytext, self).create_checkpoint(path)

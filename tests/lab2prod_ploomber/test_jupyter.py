"""JupyterLab's contents manager: a pipeline notebook opens with its injected cell and saves back unchanged.

The project's contents manager (src/lab2prod_ploomber/jupyter.py) in this process on a fresh copy,
as JupyterLab calls it: `get` to open, `save` with the model the browser sends back. Ploomber's
injection alone also wrote the installed kernel's display name and papermill's metadata (every
parameter, with this machine's absolute paths) into the saved file.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tornado.web import HTTPError

from tests.conftest import copy_pipelines

# Ploomber's render warns that `upstream` and the executor's `resources_` are unused parameters
# (JupyterLab's server log says the same); what is checked here is the bytes
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:ploomber.dag.dag")


@pytest.fixture
def thread():
    """One thread of its own for the contents manager and its event loops: in a whole `pytest
    tests`, the browser tests' Playwright (its sync API) keeps an event loop running in the main
    thread, and the manager's SQLite objects may only be used in the thread that made them."""
    with ThreadPoolExecutor(1) as pool:
        yield pool


@pytest.fixture
def manager(tmp_path, monkeypatch, thread):
    from lab2prod_ploomber.jupyter import InjectingContentsManager

    root = copy_pipelines(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.delenv("PLOOMBER_ENV_FILENAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return thread.submit(InjectingContentsManager, root_dir=str(root)).result()


@pytest.fixture
def run(thread):
    """Run a coroutine of the manager on a loop of its own, in its thread."""
    return lambda coroutine: thread.submit(asyncio.run, coroutine).result()


def injected(model: dict) -> list:
    cells = model["content"]["cells"]
    return [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]


def test_opening_then_saving_a_pipeline_notebook_gives_the_committed_bytes_back(manager, run):
    root = Path(manager.root_dir)

    async def open_and_save(name: str) -> dict:
        model = await manager.get(f"notebooks/{name}")
        sent = json.loads(json.dumps(model["content"]))  # what the browser sends back
        await manager.save({"type": "notebook", "format": "json", "content": sent}, model["path"])
        return model

    for name in ("split.ipynb", "train.ipynb", "report.ipynb"):
        committed = (root / "notebooks" / name).read_bytes()
        model = run(open_and_save(name))
        cells = injected(model)
        assert len(cells) == 1 and f'root = "{root}"' in cells[0]["source"], name
        # served with the metadata JupyterLab sets once the kernel answers: it opens unmodified
        assert model["content"]["metadata"] == {
            **json.loads(committed)["metadata"],
            **lab_metadata(),
        }, name
        assert (root / "notebooks" / name).read_bytes() == committed, name


def lab_metadata() -> dict:
    """What JupyterLab 4 writes into a notebook of the project's Python kernel (ipykernel's values)."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {
        "kernelspec": {"display_name": spec.display_name, "language": "python", "name": "python3"},
        "language_info": {
            "codemirror_mode": {"name": "ipython", "version": 3},
            "file_extension": ".py",
            "mimetype": "text/x-python",
            "name": "python",
            "nbconvert_exporter": "python",
            "pygments_lexer": "ipython3",
            "version": sys.version.split()[0],
        },
    }


def test_a_save_after_a_markdown_edit_changes_only_that_cell(manager, run):
    root = Path(manager.root_dir)
    for name in ("train.ipynb", "exploratory/credit_eda.ipynb"):
        path = root / "notebooks" / name
        committed = path.read_text(encoding="utf-8")
        model = run(manager.get(f"notebooks/{name}"))
        sent = json.loads(json.dumps(model["content"]))
        # the browser's model: the kernel's metadata as JupyterLab sets it, one markdown cell edited
        assert sent["metadata"]["language_info"]["file_extension"] == ".py"
        first = next(c for c in sent["cells"] if c["cell_type"] == "markdown")
        first["source"] += " Edited."
        run(manager.save({"type": "notebook", "format": "json", "content": sent}, model["path"]))
        before, after = committed.splitlines(), path.read_text(encoding="utf-8").splitlines()
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert len(before) == len(after) and len(changed) == 1, changed
        assert changed[0][1].endswith(' Edited."'), changed


def test_the_files_kernel_metadata_is_kept_unless_another_kernel_was_chosen():
    from lab2prod_ploomber.jupyter import as_on_disk

    disk = {"kernelspec": {"name": "python3", "display_name": "Python 3"}, "lab2prod": {"x": 1}}
    lab = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"},
        "language_info": {"name": "python", "version": "3.11.7"},
        "lab2prod": {"x": 2},  # the person's own change: kept
    }
    assert as_on_disk(lab, disk) == {"kernelspec": disk["kernelspec"], "lab2prod": {"x": 2}}
    assert list(as_on_disk(lab, disk)) == ["kernelspec", "lab2prod"]  # the file's order
    other = {**lab, "kernelspec": {"name": "ir", "display_name": "R"}}
    assert as_on_disk(other, disk) == other  # another kernel: the person's change
    assert as_on_disk(lab, None) == lab  # a new notebook: as JupyterLab wrote it


def test_a_notebook_outside_the_pipeline_opens_as_it_is(manager, run):
    model = run(manager.get("notebooks/exploratory/credit_eda.ipynb"))
    assert model["type"] == "notebook" and not injected(model)


def test_a_missing_notebook_is_a_404(manager, run):
    with pytest.raises(HTTPError, match="404"):
        run(manager.get("notebooks/nowhere.ipynb"))

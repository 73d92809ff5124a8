"""Each patch of patches.py: still needed (the bug shows without it) and still working (its target is there).

For every patch two tests: `test_<name>_is_needed` fails once the pinned versions fix the bug (drop
the patch), `test_<name>_still_applies` fails once what it overrides is gone or has changed shape
(rewrite it). The installed versions must be the ones each patch was written against.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import re
import socket
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from lab2prod_ploomber import patches

PROJECT = Path(__file__).resolve().parents[2]


def _name(patch: patches.Patch) -> str:
    return patch.name.replace("-", "_")


def resolve(dotted: str):
    """Return the object `dotted` names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# --- the list itself ------------------------------------------------------------------------


def test_every_patch_has_both_tests():
    names = set(globals())
    for patch in patches.PATCHES:
        assert f"test_{_name(patch)}_is_needed" in names, patch.name
        assert f"test_{_name(patch)}_still_applies" in names, patch.name


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_what_each_patch_overrides_and_its_code_exist(patch):
    for target in patch.overrides:
        resolve(target)
    resolve(patch.code)
    if patch.installer:
        module, _, function = patch.installer.partition(":")
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_the_installed_versions_are_the_ones_each_patch_targets(patch):
    pins = {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, _, version in (
            line.partition("==")
            for line in (PROJECT / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")
        )
    }
    for distribution, version in patch.targets:
        assert importlib.metadata.version(distribution) == version, distribution
        assert pins[re.sub(r"[-_.]+", "-", distribution).lower()] == version, distribution


def test_by_name_names_the_known_patches():
    assert patches.by_name("plot-offline").code == "lab2prod_ploomber.plot.install"
    with pytest.raises(KeyError, match="no patch 'nope'; patches: nbconvert-kwargs-warning"):
        patches.by_name("nope")


def test_install_puts_every_patch_it_owns_in_place_once_ploomber_is_loaded():
    import ploomber  # noqa: F401
    from ploomber.dag.dag import DAG
    from ploomber.sources.notebooksource import NotebookSource

    owned = [p.name for p in patches.PATCHES if p.installer]
    assert patches.install() == owned
    assert patches.install() == owned  # again: nothing more
    assert DAG.plot._lab2prod_offline
    assert NotebookSource.save_injected_cell._lab2prod_exact
    assert not hasattr(DAG.plot.__wrapped__, "_lab2prod_offline")  # wrapped once, not twice


def test_the_settings_that_install_the_other_patches_name_them():
    import yaml

    executor = yaml.safe_load((PROJECT / "pipeline.yaml").read_text())["executor"]["dotted_path"]
    assert f"{executor}._i" == patches.by_name("parallel-idle-sleep").code
    manager = patches.by_name("async-contents-manager").code
    config = json.loads((PROJECT / "jupyter-config/jupyter_server_config.json").read_text())
    assert config["ServerApp"]["contents_manager_class"] == manager
    assert (
        f'contents_manager_class = "{manager}"'
        in (PROJECT / "jupyter_server_config.py").read_text()
    )
    from lab2prod_ploomber.executors import KERNEL_MANAGER

    assert patches.by_name("kernel-on-unix-sockets").code == KERNEL_MANAGER


def test_the_docs_table_is_the_list():
    page = (PROJECT / "docs/explanation/ploomber.md").read_text(encoding="utf-8")
    assert patches.markdown_table() in page
    nav = (PROJECT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "explanation/ploomber.md" in nav


# --- nbconvert-kwargs-warning ---------------------------------------------------------------


def test_nbconvert_kwargs_warning_is_needed(tmp_path):
    from ploomber.tasks.notebook import NotebookConverter

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        NotebookConverter(str(tmp_path / "out.ipynb"), nbconvert_export_kwargs={"a": 1}).convert()
    messages = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    assert any(re.match(patches.NBCONVERT_WARNING, m) for m in messages), messages


def test_nbconvert_kwargs_warning_still_applies(tmp_path):
    from ploomber.tasks.notebook import NotebookConverter

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        patches.filter_nbconvert_warning()
        NotebookConverter(str(tmp_path / "out.ipynb"), nbconvert_export_kwargs={"a": 1}).convert()
    assert [str(w.message) for w in seen] == []


# --- parallel-idle-sleep ----------------------------------------------------------------------


def test_parallel_idle_sleep_is_needed():
    from ploomber.executors import Parallel

    loop = inspect.getsource(Parallel.__call__)
    # the scheduler polls in `while True`, counts its idle passes in self._i, and never sleeps
    assert "while True" in loop
    assert "self._i += 1" in loop
    assert "sleep(" not in loop


def test_parallel_idle_sleep_still_applies():
    from ploomber.executors import Parallel as Ploombers

    from lab2prod_ploomber.executors import Parallel

    assert parameters(Ploombers.__call__) == ["self", "dag", "show_progress"]
    assert "self._i = 0" in inspect.getsource(Ploombers.__init__)  # the setter takes it
    assert isinstance(inspect.getattr_static(Parallel, "_i"), property)
    executor = Parallel(processes=2)
    start = time.perf_counter()
    assert executor._i == 0
    assert time.perf_counter() - start >= Parallel.poll_seconds / 2


# --- kernel-on-unix-sockets -------------------------------------------------------------------


def test_kernel_on_unix_sockets_is_needed(tmp_path):
    from jupyter_client.connect import write_connection_file
    from jupyter_client.manager import AsyncKernelManager

    assert AsyncKernelManager().transport == "tcp"
    _, info = write_connection_file(str(tmp_path / "kernel.json"), transport="tcp")
    # the ports picked for a kernel are not held: any process may bind one before the kernel does
    with socket.socket() as other:
        other.bind((info["ip"], info["shell_port"]))


def test_kernel_on_unix_sockets_still_applies():
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    traits = AsyncKernelManager.class_traits()
    assert {"connection_file", "transport", "ip"} <= set(traits)
    assert parameters(AsyncKernelManager._launch_kernel) == ["self", "kernel_cmd", "kw"]
    assert parameters(AsyncKernelManager.cleanup_resources) == ["self", "restart"]
    # papermill hands executor_params' kernel_manager_class to nbclient
    assert "kernel_manager_class" in NotebookClient.class_traits()


# --- async-contents-manager -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the coroutine Ploomber never awaits
def test_async_contents_manager_is_needed(tmp_path):
    from jupytext import AsyncTextFileContentsManager
    from ploomber.jupyter.manager import derive_class

    nbformat.write(new_notebook(), tmp_path / "a.ipynb")
    manager = derive_class(AsyncTextFileContentsManager)(root_dir=str(tmp_path))
    with pytest.raises(TypeError, match="'coroutine' object is not subscriptable"):
        manager.get("a.ipynb")


def test_async_contents_manager_still_applies():
    from ploomber.jupyter import manager
    from ploomber.sources import notebooksource

    from lab2prod_ploomber.jupyter import InjectingContentsManager

    assert parameters(manager.derive_class) == ["base_class"]
    assert parameters(manager.check_metadata_filter) == ["log", "model"]
    assert parameters(notebooksource.inject_cell) == ["model", "params"]
    assert parameters(notebooksource._cleanup_rendered_nb) == ["nb", "print_"]
    for method in ("load_dag", "_model_in_dag"):
        assert callable(getattr(InjectingContentsManager, method))
    for method in ("get", "save", "list_checkpoints", "create_checkpoint"):
        assert inspect.iscoroutinefunction(getattr(InjectingContentsManager, method)), method


# --- plot-offline -----------------------------------------------------------------------------


def test_plot_offline_is_needed():
    from importlib.resources import files

    import networkx as nx
    from ploomber.dag import plot as ploomber_plot

    graph = nx.DiGraph([("a", "b")])
    assert "links" not in nx.node_link_data(graph)  # networkx 3.6 names them "edges"
    assert 'graph["links"]' in inspect.getsource(ploomber_plot)
    pages = files("ploomber.resources")
    assert re.search(r'<script src="https://', pages.joinpath("dag_template_d3.html").read_text())
    mermaid = pages.joinpath("dag_template_mermaid.html").read_text()
    assert re.search(r"import mermaid from 'https://", mermaid)


def test_plot_offline_still_applies():
    import ploomber  # noqa: F401
    from ploomber.dag.dag import DAG
    from ploomber.dag.plot import check_pygraphviz_installed
    from ploomber.exceptions import PlotException

    patches.install()
    ploombers = DAG.plot.__wrapped__
    assert parameters(ploombers) == ["self", "output", "include_products", "backend", "image_only"]
    assert callable(check_pygraphviz_installed)
    assert issubclass(PlotException, Exception)


# --- inject-exact-bytes -----------------------------------------------------------------------


def _one_task_project(root: Path) -> Path:
    """A pipeline of one notebook whose metadata is nbstripout's short kernelspec."""
    nb = new_notebook(
        cells=[
            new_code_cell(
                "upstream = None\nproduct = None\nx = 1", metadata={"tags": ["parameters"]}
            ),
            new_code_cell("print(x)"),
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
    )
    root.mkdir()
    nbformat.write(nb, root / "task.ipynb")
    (root / "pipeline.yaml").write_text(
        "tasks:\n  - source: task.ipynb\n    product: out.ipynb\n    params:\n      x: 2\n"
    )
    return root / "task.ipynb"


def _source(root: Path, monkeypatch):
    from ploomber.spec import DAGSpec

    monkeypatch.chdir(root)
    monkeypatch.delenv("PLOOMBER_ENV_FILENAME", raising=False)
    dag = DAGSpec("pipeline.yaml").to_dag()
    dag.render(show_progress=False)
    return dag["task"].source


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_inject_exact_bytes_is_needed(tmp_path, monkeypatch):
    from ploomber.sources.notebooksource import NotebookSource

    notebook = _one_task_project(tmp_path / "project")
    committed = notebook.read_bytes()
    patches.install()
    ploomber_save = NotebookSource.save_injected_cell.__wrapped__
    ploomber_remove = NotebookSource.remove_injected_cell.__wrapped__
    ploomber_save(_source(tmp_path / "project", monkeypatch))
    injected = json.loads(notebook.read_text())["metadata"]
    assert "papermill" in injected or injected["kernelspec"]["display_name"] != "Python 3"
    ploomber_remove(_source(tmp_path / "project", monkeypatch))
    assert notebook.read_bytes() != committed


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_inject_exact_bytes_still_applies(tmp_path, monkeypatch):
    from ploomber.sources.notebooksource import NotebookSource

    patches.install()
    assert parameters(NotebookSource.save_injected_cell.__wrapped__) == ["self", "kwargs"]
    assert parameters(NotebookSource.remove_injected_cell.__wrapped__) == ["self"]
    notebook = _one_task_project(tmp_path / "project")
    committed = notebook.read_bytes()
    source = _source(tmp_path / "project", monkeypatch)
    assert source._path is not None and source.nb_obj_rendered is not None
    source.save_injected_cell()
    assert notebook.read_bytes() != committed
    _source(tmp_path / "project", monkeypatch).remove_injected_cell()
    assert notebook.read_bytes() == committed

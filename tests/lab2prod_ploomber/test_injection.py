"""`ploomber nb --inject` then `--remove` gives the committed notebooks back, byte for byte.

Ploomber 0.23.3 alone left each one with empty `papermill` and `ploomber` metadata and the
installed kernel's display name ("Python 3 (ipykernel)" for the committed "Python 3").
The unit tests run the code `ploomber nb` runs (`ploomber.cli.nb`) in this process on both
pipelines read from a fresh copy; the integration test runs the command itself.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lab2prod_ploomber import injection
from tests.conftest import BIN, build_env, copy_pipelines

PIPELINES = ("pipeline.yaml", "pipeline.score.yaml")
# Ploomber's render warns that `upstream` and the executor's `resources_` are unused parameters
# (`ploomber nb` and JupyterLab's server log say the same); what is checked here is the bytes
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:ploomber.dag.dag")


@pytest.fixture
def project(tmp_path) -> Path:
    """A fresh clone's pipelines and notebooks (never the checkout's own notebooks)."""
    return copy_pipelines(tmp_path / "project")


def notebooks(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "notebooks").glob("*.ipynb"))}


def load_dag(root: Path, entry: str, monkeypatch):
    """Return `entry`'s DAG, read and rendered as `ploomber nb` reads it in `root`."""
    from ploomber.spec import DAGSpec

    monkeypatch.chdir(root)
    monkeypatch.delenv("PLOOMBER_ENV_FILENAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    dag = DAGSpec(entry).to_dag()
    dag.render(show_progress=False)
    return dag


def injected_cells(path: Path) -> list:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]


def test_inject_then_remove_gives_every_pipeline_notebook_back_byte_for_byte(project, monkeypatch):
    from ploomber.cli.nb import _call_in_source, _inject_cell

    injection.install()  # what importing lab2prod_ploomber does under Ploomber's own commands
    committed = notebooks(project)
    for entry in PIPELINES:
        _inject_cell(load_dag(project, entry, monkeypatch))  # `ploomber nb --inject`
    changed = {name for name, data in notebooks(project).items() if data != committed[name]}
    # every notebook of both pipelines got its cell (the exploratory one is in neither)
    assert changed == set(committed) - {"credit_eda.ipynb"} and len(changed) == 13
    for name in changed:
        cells = injected_cells(project / "notebooks" / name)
        assert len(cells) == 1 and "# Parameters" in cells[0].source, name
        assert json.loads(committed[name])["metadata"]["kernelspec"]["display_name"] == "Python 3"

    for entry in PIPELINES:
        dag = load_dag(project, entry, monkeypatch)
        _call_in_source(dag, "remove_injected_cell", "Removed injected cell", verbose=False)
    assert notebooks(project) == committed


def test_only_the_injected_cell_and_its_flag_are_added(project, monkeypatch):
    from ploomber.cli.nb import _inject_cell

    injection.install()
    before = nbformat.reads((project / "notebooks/score.ipynb").read_text(), as_version=4)
    _inject_cell(load_dag(project, "pipeline.score.yaml", monkeypatch))
    after = nbformat.read(project / "notebooks/score.ipynb", as_version=4)
    # the committed metadata (kernelspec included) plus Ploomber's flag, no papermill entry
    assert after.metadata == {**before.metadata, "ploomber": {"injected_manually": True}}
    tags = [c.metadata.get("tags", []) for c in after.cells]
    at = tags.index(["injected-parameters"])
    assert "parameters" in tags[at - 1]  # right under the parameters cell, where papermill puts it
    assert [c for i, c in enumerate(after.cells) if i != at] == before.cells
    assert f'root = "{project}"' in after.cells[at].source


def toy(*cells, **metadata):
    nb = new_notebook(cells=list(cells))
    nb.metadata.update(metadata)
    return nb


def rendered_with(nb, source="# Parameters\nx = 1\n"):
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    return toy(cell, *nb.cells, **nb.metadata)


def test_a_notebook_without_parameters_cell_gets_the_cell_on_top():
    nb = toy(new_markdown_cell("# Title"), new_code_cell("x = 0"))
    out = injection.with_injected_cell(nb, rendered_with(nb))
    assert out.cells[0].metadata["tags"] == ["injected-parameters"] and out.cells[1:] == nb.cells
    # injecting again replaces the cell; the input is never changed
    again = injection.with_injected_cell(out, rendered_with(nb, "# Parameters\nx = 2\n"))
    assert [c.source for c in again.cells] == ["# Parameters\nx = 2\n", "# Title", "x = 0"]
    assert len(nb.cells) == 2 and "ploomber" not in nb.metadata


def test_injecting_needs_a_rendered_cell():
    nb = toy(new_code_cell("x = 0"))
    with pytest.raises(ValueError, match="no cell tagged injected-parameters"):
        injection.with_injected_cell(nb, nb)


def test_removing_keeps_metadata_the_source_itself_holds():
    # not flagged as injected: its own papermill and ploomber entries stay
    own = toy(new_code_cell("x = 0"), papermill={}, ploomber={"note": "mine"})
    assert injection.without_injected_cell(own) == own
    # flagged (Ploomber's own --inject): its papermill parameters go with the flag
    legacy = toy(
        *rendered_with(own).cells,
        papermill={"parameters": {"x": 1}},
        ploomber={"injected_manually": True, "note": "mine"},
    )
    clean = injection.without_injected_cell(legacy)
    assert clean.cells == own.cells
    assert clean.metadata == {"ploomber": {"note": "mine"}}


@pytest.mark.integration  # two `ploomber` processes, each importing Ploomber: seconds apiece
def test_ploomber_nb_inject_then_remove_leaves_git_nothing_to_commit(project, tmp_path):
    env = build_env(project)
    env["HOME"] = str(tmp_path / "home")
    env.pop("PLOOMBER_ENV_FILENAME")
    committed = notebooks(project)
    for flag in ("--inject", "--remove"):
        done = subprocess.run(
            [str(BIN / "ploomber"), "nb", flag],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        if flag == "--inject":
            assert len(injected_cells(project / "notebooks/train.ipynb")) == 1
    assert notebooks(project) == committed

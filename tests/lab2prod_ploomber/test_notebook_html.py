"""The executed notebooks' HTML (each task's nb_html) opens offline, converted as Ploomber converts it.

Every notebook task of both pipelines passes the same nbconvert_export_kwargs (the YAML anchor
*offline_html); Ploomber's NotebookConverter applies them to the .html product and, before
lab2prod_ploomber's warnings filter, warned for the .ipynb one that they "will be ignored".
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.conftest import PROJECT

CDN_SCRIPT = re.compile(r'<script[^>]*src="https?:')


def offline_kwargs() -> dict:
    """Return the nbconvert_export_kwargs of pipeline.yaml's notebook tasks (the same for all)."""
    found = []
    for name in ("pipeline.yaml", "pipeline.score.yaml"):
        spec = yaml.safe_load((PROJECT / name).read_text(encoding="utf-8"))
        for task in spec["tasks"]:
            assert "nbconvert_export_kwargs" in task, f"{name}: task {task['name']!r}"
            found.append(task["nbconvert_export_kwargs"])
    assert all(kwargs == found[0] for kwargs in found)
    return found[0]


def executed_notebook(path: Path) -> Path:
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Ingest\nrows in = normalized + quarantined"),
            new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")]),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def convert(tmp_path: Path, kwargs: dict) -> str:
    """Return the HTML Ploomber writes for an executed notebook with these nbconvert_export_kwargs."""
    from ploomber.tasks.notebook import NotebookConverter

    html = tmp_path / "ingest.html"
    html.write_text(executed_notebook(tmp_path / "ingest.ipynb").read_text())
    NotebookConverter(str(html), None, kwargs).convert()
    return html.read_text(encoding="utf-8")


def test_every_notebook_task_writes_html_that_asks_no_cdn(tmp_path):
    page = convert(tmp_path, offline_kwargs())
    assert "rows in = normalized + quarantined" in page and "jp-OutputArea" in page
    assert not CDN_SCRIPT.findall(page)
    assert "require.min.js" not in page and "mathjax/2.7.7" not in page


def test_nbconverts_default_page_asks_cdns(tmp_path):
    # what the pipelines had before (require.js and MathJax): the check above fails on it
    assert len(CDN_SCRIPT.findall(convert(tmp_path, {}))) == 2


def test_ploombers_false_warning_for_the_ipynb_product_is_silenced(tmp_path):
    import importlib
    import warnings

    from ploomber.tasks.notebook import NotebookConverter

    import lab2prod_ploomber

    nb = executed_notebook(tmp_path / "validate.ipynb")

    def warned() -> int:
        with warnings.catch_warnings(record=True) as seen:
            NotebookConverter(str(nb), None, {"mathjax_url": ""}).convert()
        return sum("will be ignored" in str(w.message) for w in seen)

    with warnings.catch_warnings():  # the filters as they were come back after
        warnings.resetwarnings()
        warnings.simplefilter("always")
        before = warned()
        # what importing lab2prod_ploomber does (its module code, run again: its fixes of Ploomber's
        # commands are installed once, so running them again changes nothing)
        importlib.reload(lab2prod_ploomber)
        after = warned()
    # Ploomber alone warns once for the .ipynb product; once lab2prod_ploomber is imported, never
    assert [before, after] == [1, 0]

"""JupyterLab, the front door: the project's notebooks list, open, get their pipeline values and run.

The server is the real `jupyter lab` with the project's `jupyter_server_config.py` (conftest.py);
the browser is Debian's Chromium. With Ploomber's own contents manager (the `contents_manager_class` line of
jupyter_server_config.py removed) every test here fails: the listing answers 500.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import urllib.error

import nbformat
import pytest
from browser.lab_session import NOTEBOOKS, PIPELINE, PROJECT, SERVER_RUNS, save_png
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.integration


def test_the_file_browser_lists_the_notebooks(lab):
    listing = lab.api("GET", "/api/contents/notebooks")
    names = {item["name"] for item in listing["content"]}
    assert {"train.ipynb", "ingest.ipynb", "exploratory"} <= names


def test_a_pipeline_notebook_opens_with_the_values_the_pipeline_passes(lab):
    model = lab.api("GET", "/api/contents/notebooks/train.ipynb?content=1&type=notebook")
    tags = [c["metadata"].get("tags") or [] for c in model["content"]["cells"]]
    injected = next(
        "".join(c["source"])
        for c, t in zip(model["content"]["cells"], tags)
        if "injected-parameters" in t
    )
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1
    # train-0's cell of env.test.yaml's grid and its products in the served project
    assert 'family = "linear"' in injected
    assert str(lab.root / "products" / "train-0.json") in injected


def test_saving_a_pipeline_notebook_removes_the_injected_cell(lab):
    path = "notebooks/select.ipynb"
    model = lab.api("GET", f"/api/contents/{path}?content=1&type=notebook")
    assert any(
        "injected-parameters" in (c["metadata"].get("tags") or [])
        for c in model["content"]["cells"]
    )
    lab.api(
        "PUT",
        f"/api/contents/{path}",
        {"type": "notebook", "format": "json", "content": model["content"]},
    )
    saved = nbformat.read(lab.root / path, as_version=4)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in saved.cells)
    assert any("parameters" in c.metadata.get("tags", []) for c in saved.cells)
    # and nothing of the injection's is left (kernel display name, papermill's metadata): the same bytes
    assert (lab.root / path).read_bytes() == (PROJECT / path).read_bytes()


def test_a_missing_notebook_is_a_404_not_a_server_error(lab):
    with pytest.raises(urllib.error.HTTPError, match="404"):
        lab.api("GET", "/api/contents/notebooks/no-such.ipynb?content=1")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_every_notebook_opens_through_the_server(lab, path):
    model = lab.api("GET", f"/api/contents/{path}?content=1&type=notebook")
    cells = model["content"]["cells"]
    assert any(c["cell_type"] == "code" and "".join(c["source"]).strip() for c in cells), path
    # a notebook of pipeline.yaml gets the pipeline's values; the others open on their defaults
    injected = any("injected-parameters" in (c["metadata"].get("tags") or []) for c in cells)
    assert injected == (path.removeprefix("notebooks/").removesuffix(".ipynb") in PIPELINE)


@pytest.mark.parametrize("path", SERVER_RUNS)
def test_the_scoring_and_exploratory_notebooks_run_top_to_bottom_through_the_server(
    notebook_runs, path
):
    run = notebook_runs[path]
    assert not run.errors, f"{path}: {run.errors}"
    assert len(run.cells) == run.code_cells > 0
    assert not run.injected  # not in pipeline.yaml: they run on their parameters cell's defaults


def test_the_score_notebook_prints_no_widget_warning_and_each_progress_line_once(notebook_runs):
    text = "".join(c.text for c in notebook_runs["notebooks/score.ipynb"].cells)
    # `import mlflow` imports tqdm.auto, which warns in a kernel without ipywidgets
    assert "IProgress not found" not in text and "TqdmWarning" not in text, text
    progress = [line for line in text.splitlines() if line.startswith("read ")]
    assert len(progress) == len(set(progress)), progress


def test_every_notebook_is_run_by_a_test():
    # the build runs pipeline.yaml's notebooks, nbval (make test) the Makefile's NOTEBOOKS, the server
    # SERVER_RUNS: a notebook added to notebooks/ and to none of them fails here
    found = {str(p.relative_to(PROJECT)) for p in (PROJECT / "notebooks").rglob("*.ipynb")}
    found = {p for p in found if ".ipynb_checkpoints" not in p}
    assert found == set(NOTEBOOKS)
    makefile = (PROJECT / "Makefile").read_text()
    by_nbval = re.search(r"^NOTEBOOKS := (.*)$", makefile, flags=re.MULTILINE).group(1).split()
    ran = {f"notebooks/{n}.ipynb" for n in by_nbval} | set(SERVER_RUNS)
    assert ran == found, sorted(found - ran)


def test_train_opens_and_runs_in_jupyterlab(lab, browser, screenshots):
    # tall enough that every cell of train.ipynb is rendered: JupyterLab does not draw cells far
    # outside the viewport, and their prompts would never show a number
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    try:
        page.goto(f"{lab.url}/lab/workspaces/browser-test?reset&token={lab.token}")
        item = page.locator(".jp-DirListing-itemText", has_text=re.compile(r"^notebooks$"))
        item.dblclick(timeout=120_000)
        page.locator(".jp-DirListing-itemText", has_text=re.compile(r"^train\.ipynb$")).dblclick(
            timeout=60_000
        )
        notebook = page.locator(".jp-NotebookPanel:visible")
        # a workspace that remembers no kernel asks for one: take the default (Python 3)
        select = page.locator(".jp-Dialog button.jp-mod-accept")
        with contextlib.suppress(PlaywrightTimeout):
            select.click(timeout=15_000)
        notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=120_000
        )
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        # every code cell numbered: run-all stops at the first error, leaving the rest unnumbered
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=600_000,
        )
        outputs = notebook.locator(".jp-OutputArea-output").all_inner_texts()
        assert not [o for o in outputs if "Traceback" in o or "Error" in o.split("\n")[0]], outputs
        assert any("MLflow run" in o for o in outputs), outputs  # the step's one line
        last = notebook.locator(".jp-CodeCell").last.locator(".jp-OutputArea")
        assert "validation" in last.inner_text()  # the cell's metrics table, shown last
        assert (lab.root / "products" / "train-0.json").exists()
        page.locator(".jp-CodeCell").first.scroll_into_view_if_needed()
        save_png(page.screenshot(), screenshots / "jupyterlab-train.png")
    except Exception:
        save_png(page.screenshot(), screenshots / "jupyterlab-train-failed.png")
        raise
    finally:
        page.close()


def test_the_server_log_holds_no_contents_error(lab, notebook_runs):
    log = lab.log.read_text()
    assert "'coroutine' object is not subscriptable" not in log
    assert not re.search(r"\b500 GET /api/contents", log), log[-3000:]


def test_train_opens_unmodified_and_a_markdown_edit_saves_only_that_cell(lab, browser, screenshots):
    path = lab.root / "notebooks" / "train.ipynb"
    served = path.read_bytes()
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(
            f"{lab.url}/lab/workspaces/edit-test/tree/notebooks/train.ipynb?reset&token={lab.token}"
        )
        notebook = page.locator(".jp-NotebookPanel:visible")
        with contextlib.suppress(PlaywrightTimeout):  # a workspace without a kernel asks for one
            page.locator(".jp-Dialog button.jp-mod-accept").click(timeout=15_000)
        notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=120_000
        )
        tab = page.locator(".lm-TabBar-tab.jp-mod-current", has_text="train.ipynb")
        page.wait_for_timeout(2_000)  # the kernel's metadata arrives after its idle status
        # JupyterLab's unsaved-changes mark (a dot on the tab) before anything was edited
        assert "jp-mod-dirty" not in tab.get_attribute("class")
        markdown = notebook.locator(".jp-MarkdownCell").first
        markdown.click()
        page.keyboard.press("Enter")  # edit mode
        markdown.locator(".cm-content").wait_for(timeout=10_000)
        page.keyboard.press("Control+End")
        page.keyboard.type(" Edited in the browser test.")
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(
            "() => document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty') !== null"
        )
        page.keyboard.press("Control+s")
        page.wait_for_function(
            "() => document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty') === null"
        )
        save_png(page.screenshot(), screenshots / "jupyterlab-edited.png")
    finally:
        page.close()
    try:
        diff = subprocess.run(
            [
                "git",
                "diff",
                "--no-index",
                "--unified=0",
                "--no-color",
                "--",
                PROJECT / "notebooks/train.ipynb",
                path,
            ],
            capture_output=True,
            text=True,
        ).stdout
    finally:
        path.write_bytes(served)
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 2 and changed[1].endswith(' Edited in the browser test."'), diff
    assert changed[0][1:] == changed[1][1:].replace(" Edited in the browser test.", ""), diff
    # no console error on the page: ploomber-extension's TypeError ('toolbar') is gone with it
    assert not errors, errors

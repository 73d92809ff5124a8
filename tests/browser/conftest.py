"""The project as a person meets it: a real Jupyter server, its REST API and a real Chromium.

One copy of the session's sample build (`built`) is served by one JupyterLab for the whole session,
on a free port of 127.0.0.1 with a token; the fixture that starts the server stops it. The browser
is Debian's /usr/bin/chromium driven by Playwright (nothing is downloaded: the tests skip with the
reason when the browser is missing, and .ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser.lab_session import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT,
    SCREENSHOTS,
    SERVER_RUNS,
    Lab,
    NotebookRun,
    run_notebook,
    start_lab,
    stop,
)


@pytest.fixture(scope="session")
def lab_project(built, tmp_path_factory) -> Path:
    """A copy of the session's sample build that the notebooks run here may change freely."""
    root = tmp_path_factory.mktemp("lab") / "project"
    shutil.copytree(built, root, symlinks=True)
    # what a build does not need but a person in JupyterLab does (release/repro.py PROJECT_FILES)
    shutil.copy2(PROJECT / "jupyter_server_config.py", root)
    shutil.copytree(
        PROJECT / "notebooks" / "exploratory",
        root / "notebooks" / "exploratory",
        dirs_exist_ok=True,
    )
    return root


@pytest.fixture(scope="session")
def lab(lab_project) -> Lab:
    """JupyterLab serving the copy with the project's own Jupyter configuration; stopped at the end."""
    process, server = start_lab(
        lab_project, lab_project / "jupyter_server_config.py", lab_project / "jupyter.log"
    )
    yield server
    stop(process)


@pytest.fixture(scope="session")
def notebook_runs(lab) -> dict[str, NotebookRun]:
    """The notebooks of SERVER_RUNS run once through the server, in order (later ones read earlier ones).

    The build's notebooks are not run again here: the session's build ran them with the pipeline's
    values, nbval (make test) runs each on its defaults, and test_lab.py opens every one through the
    server and runs train.ipynb in the browser.
    """
    return {path: run_notebook(lab, path) for path in SERVER_RUNS}


# ---- the browser


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright; closed at the end of the session."""
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(
                missing
            )  # .ci/run installs it: a CI run without the browser tests is no pass
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder the browser tests save their screenshots in (created)."""
    folder = SCREENSHOTS if SCREENSHOTS.is_absolute() else PROJECT / SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder

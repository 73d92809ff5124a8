"""The MLflow UI of the session's build, in Chromium: the report's link opens the experiment on its runs.

MLflow 3.17's UI opens an experiment on its GenAI view ("Traces 0", "No data available") unless the
page asks for model training; the experiment's `mlflow.experimentKind` tag is set too, but this UI
version takes the kind from its GenAI / Model training switch. A screenshot is saved for the docs
(docs/img/mlflow-runs.png is one).
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from browser.lab_session import save_png, start_mlflow_ui, stop
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lab2prod.tracking_server import LOCAL_UI, ui_url

pytestmark = pytest.mark.integration


def test_the_reports_mlflow_link_opens_the_experiment_on_its_runs(
    built, browser, screenshots, tmp_path
):
    start = json.loads((built / "products" / "start.json").read_text())
    link = ui_url(f"sqlite:///{built / 'mlflow.db'}", start["experiment_id"], start["run_id"])
    # reports/index.html links the build's run in the UI `make mlflow-ui` serves
    assert f'href="{link}"' in (built / "reports" / "index.html").read_text()
    process, base = start_mlflow_ui(built / "mlflow.db", tmp_path / "mlflow-ui.log")
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    try:
        page.goto(ui_url(base, start["experiment_id"]))
        run_names = page.get_by_text(re.compile(r"^build-credit 20"))
        run_names.first.wait_for(timeout=120_000)
        assert "workflowType=machine_learning" in page.url and "/runs" in page.url, page.url
        assert page.get_by_text("No data available").count() == 0  # not the GenAI overview
        with contextlib.suppress(PlaywrightTimeout):  # MLflow's assistant pane, open by default
            page.locator("button[aria-label='Close']").first.click(timeout=5_000)
        save_png(page.screenshot(), screenshots / "mlflow-runs.png")
        # the link of the report, on this server: the build's own run
        page.goto(link.replace(LOCAL_UI, base))
        page.get_by_text(re.compile(r"^build-credit 20")).first.wait_for(timeout=60_000)
    finally:
        page.close()
        stop(process)

"""Every HTML page a build and a scoring run write, opened in Chromium: images load, nothing logs an error.

The pages are those of the served copy after every notebook ran there (notebook_runs: the build's
steps, then score, score_summary and monitor). A screenshot of each is saved under the screenshots
folder (README: "Exploring in JupyterLab") for a person to look at.
"""

from __future__ import annotations

import pytest
from browser.lab_session import save_png

pytestmark = pytest.mark.integration

# lab2prod's own pages; reports/notebooks/*.html are nbconvert's (checked for their images only:
# nbconvert's template asks a CDN for MathJax and require.js, which an offline machine cannot reach)
OWN_PAGES = {
    "index.html",
    "model_card.html",
    "data_quality.html",
    "score-credit.html",
    "monitoring.html",
}
BROKEN_IMAGES = """() => [...document.images]
    .filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.alt || i.src.slice(0, 80))"""


def open_page(browser, path, screenshot):
    """Open `path`; return (images that did not load, console errors); save a full-page screenshot."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri(), wait_until="load")
        broken = page.evaluate(BROKEN_IMAGES)
        save_png(page.screenshot(full_page=True), screenshot)
        if path.name == "index.html" and path.parent.name == "reports":
            save_png(page.screenshot(), screenshot.with_name("index-top.png"))
    finally:
        page.close()
    return broken, errors


def test_every_report_page_loads_its_images_and_logs_no_error(
    notebook_runs, lab_project, browser, screenshots
):
    reports = lab_project / "reports"
    pages = sorted(reports.rglob("*.html"))
    assert {p.name for p in pages} >= OWN_PAGES, [p.name for p in pages]
    problems = []
    for path in pages:
        rel = path.relative_to(reports)
        broken, errors = open_page(browser, path, screenshots / "reports" / rel.with_suffix(".png"))
        if rel.parent.name == "notebooks":
            errors = [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e and "net::" not in e]
            errors = [e for e in errors if "require is not defined" not in e]
        if broken or errors:
            problems.append(f"{rel}: images not loaded {broken}, console errors {errors}")
    assert not problems, "\n".join(problems)


def test_the_index_shows_the_dag_with_each_tasks_status(notebook_runs, lab_project, browser):
    page = browser.new_page()
    try:
        page.goto((lab_project / "reports" / "index.html").as_uri())
        assert page.locator("img.dag").evaluate("i => i.naturalWidth") > 0
        rows = page.locator("h2:has-text('Pipeline') ~ table").first.locator("tr").all_inner_texts()
        statuses = {r.split("\t")[0]: r.split("\t")[1] for r in rows[1:]}
        assert statuses["report"] == "running"
        assert set(statuses) >= {"ingest", "train-0", "register"}
        assert set(statuses.values()) <= {"ran", "up to date", "running"}
    finally:
        page.close()

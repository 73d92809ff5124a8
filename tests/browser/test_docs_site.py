"""The documentation site, built by mkdocs and served on 127.0.0.1, opened page by page in Chromium.

Every page renders with no console error and no request leaving the machine: the site has no web
fonts, no analytics and no script from a CDN. Screenshots of the pages in SHOWN go to the
screenshots folder (`docs-site/`).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser.lab_session import PROJECT, save_png

pytestmark = pytest.mark.integration

# the pages a person looks at first; their screenshots are saved
SHOWN = {
    "index.html",
    "tutorial/first-run.html",
    "reference/cli.html",
    "reference/api.html",
    "explanation/layout.html",
}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports what matters
        pass


def _outside(url: str) -> bool:
    """Whether a request for `url` would leave this machine (anything but data:, blob:, loopback)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    return parts.hostname not in ("127.0.0.1", "localhost", "::1")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `make docs` builds it (strict: a broken link or a missing page fails the build)."""
    folder = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(folder)],
        cwd=PROJECT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
        timeout=300,
    )
    return folder


@pytest.fixture(scope="module")
def served(site):
    """The built site over HTTP on a free port of 127.0.0.1 (the search's worker needs http:)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def check_pages(browser, served: str, pages: list[str], screenshots: Path) -> list[str]:
    """Open each page of the served site; return one line per page that logged an error or left 127.0.0.1."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url) if _outside(r.url) else None)
    problems = []
    try:
        for rel in pages:
            errors.clear()
            outside.clear()
            response = page.goto(f"{served}/{rel}", wait_until="load")
            if response is None or response.status != 200:
                errors.append(f"HTTP {response and response.status}")
            if rel in SHOWN:
                save_png(
                    page.screenshot(), screenshots / "docs-site" / Path(rel).with_suffix(".png")
                )
            if errors or outside:
                problems.append(
                    f"{rel}: console errors {errors}, requests leaving 127.0.0.1 {outside}"
                )
    finally:
        page.close()
    return problems


def test_every_docs_page_opens_offline_with_no_console_error(site, served, browser, screenshots):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert set(pages) >= SHOWN, pages
    problems = check_pages(browser, served, pages, screenshots)
    assert not problems, "\n".join(problems)


def test_a_page_asking_for_web_fonts_is_caught(site, served, browser, tmp_path):
    # what Material does without `theme.font: false`: the check above can fail
    (site / "fonts.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" '
        'href="https://fonts.googleapis.com/css?family=Roboto"></head><body>fonts?</body></html>'
    )
    try:
        problems = check_pages(browser, served, ["fonts.html"], tmp_path)
    finally:
        (site / "fonts.html").unlink()
    assert len(problems) == 1 and "https://fonts.googleapis.com/css?family=Roboto" in problems[0]


def test_the_search_finds_a_command_offline(served, browser):
    # the search index and its worker come from the site itself
    page = browser.new_page()
    try:
        page.goto(f"{served}/index.html", wait_until="load")
        page.keyboard.press("/")  # Material's shortcut to the search box
        page.keyboard.type("retrain")
        page.wait_for_selector(".md-search-result__item", timeout=15_000)
        assert page.locator(".md-search-result__item").count() > 0
    finally:
        page.close()

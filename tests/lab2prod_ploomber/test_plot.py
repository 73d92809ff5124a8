"""`ploomber plot` as a user runs it: a real subprocess in a fresh HOME on a fresh copy (no build yet).

Ploomber 0.23.3's default backend (d3) fails on networkx 3.6 (`KeyError: 'links'`); with pygraphviz
installed (pinned, its wheel bundles Graphviz) Ploomber draws a PNG with Graphviz instead.
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, PROJECT, build_env

# three `ploomber` processes, each importing Ploomber and rendering a pipeline: seconds apiece
pytestmark = pytest.mark.integration

FILES = ("pipeline.yaml", "pipeline.score.yaml", "env.yaml", "env.score.yaml", "env.test.yaml")
TASKS = {
    "pipeline.yaml": {"ingest", "validate", "split", "start", "train-0", "select", "register"},
    "pipeline.score.yaml": {"score", "monitor", "score_summary"},
}
EDGES = {
    "pipeline.yaml": {("ingest", "validate"), ("select", "evaluate"), ("register", "report")},
    "pipeline.score.yaml": {("score", "monitor"), ("monitor", "score_summary")},
}


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory) -> Path:
    """The pipelines, their env files, notebooks and sources, as in a fresh clone: no lake, no build."""
    root = tmp_path_factory.mktemp("plot") / "project"
    root.mkdir()
    for name in FILES:
        shutil.copy2(PROJECT / name, root)
    for folder in ("notebooks", "data/sources", "data/contracts"):
        shutil.copytree(PROJECT / folder, root / folder)
    return root


def ploomber(root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `ploomber ARGS` in `root` as a new user would: a fresh HOME, the pipelines' own env files."""
    env = build_env(root)
    env["HOME"] = str(tmp_path / "home")  # a user who never ran Ploomber before
    env.pop("PLOOMBER_ENV_FILENAME")  # the pipelines' own env files, as `ploomber plot` alone reads
    return subprocess.run(
        [str(BIN / "ploomber"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) of a PNG file; fail unless it starts with the PNG signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is no PNG: {head[:8]!r}"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("entry", ["pipeline.yaml", "pipeline.score.yaml"])
def test_ploomber_plot_draws_each_pipeline_with_its_tasks(entry, fresh_project, tmp_path):
    # the default: `ploomber plot [--entry-point X]` writes pipeline[.score].png beside it
    args = [] if entry == "pipeline.yaml" else ["--entry-point", entry]
    done = ploomber(fresh_project, tmp_path, "plot", *args)
    expected = "pipeline.png" if entry == "pipeline.yaml" else "pipeline.score.png"
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"Plot saved at: {expected}" in done.stdout
    picture = fresh_project / expected
    width, height = png_size(picture)
    assert picture.stat().st_size > 5_000 and width > 2 * height > 100  # left to right, not a stub

    # the same drawing as SVG: its text names every task and every edge
    svg = tmp_path / "dag.svg"
    done = ploomber(
        fresh_project, tmp_path, "plot", *args, "--backend", "pygraphviz", "--output", str(svg)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    titles = {html.unescape(t) for t in re.findall(r"<title>([^<]*)</title>", svg.read_text())}
    assert TASKS[entry] <= titles
    assert {f"{a}->{b}" for a, b in EDGES[entry]} <= titles


def test_ploomber_status_of_the_scoring_pipeline_needs_no_build_first(fresh_project, tmp_path):
    # its batch (the lake's normalized table) is the training build's output: not there yet
    assert not (fresh_project / "data/lake").exists()
    done = ploomber(fresh_project, tmp_path, "status", "--entry-point", "pipeline.score.yaml")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FileNotFoundError" not in done.stderr
    # a table of the three tasks (Ploomber wraps the longer names over two lines)
    assert {"score", "monitor", "score_summa"} <= set(re.findall(r"\w+", done.stdout))

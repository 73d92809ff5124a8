"""`ploomber plot` as a user runs it: a real subprocess in a fresh HOME on a fresh copy (no build yet).

With pygraphviz installed (pinned, its wheel bundles Graphviz) Ploomber draws a PNG with Graphviz.
Its d3 and mermaid backends failed on networkx 3.6 (`KeyError: 'links'`) and their pages load
their scripts from CDNs: lab2prod_ploomber.plot refuses them in one line that names pygraphviz.
"""

from __future__ import annotations

import html
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from lane import maker

from lab2prod_ploomber import plot
from tests.conftest import BIN, build_env, copy_pipelines

# the tests that start `ploomber` processes, each importing Ploomber and reading a pipeline: seconds
# apiece; the others run in this process in milliseconds
integration = pytest.mark.integration

TASKS = {
    "pipeline.yaml": {
        "ingest",
        "validate",
        "split",
        "start",
        "train-0",
        "select",
        "check",
        "register",
    },
    "pipeline.score.yaml": {"score", "monitor", "score_summary"},
}
EDGES = {
    "pipeline.yaml": {
        ("ingest", "validate"),
        ("select", "evaluate"),
        ("select", "check"),
        ("check", "register"),
        ("register", "report"),
    },
    "pipeline.score.yaml": {("score", "monitor"), ("monitor", "score_summary")},
}


def ploomber(
    root: Path, tmp_path: Path, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `ploomber ARGS` in `root` as a new user would: a fresh HOME, the pipelines' own env files.

    `environ`: build_env's (default: this process's environment now).
    """
    env = build_env(root, environ)
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


# the backends whose pages load scripts from CDNs, each with the pipeline it is asked to draw
CDN_BACKENDS = [("d3", "pipeline.yaml"), ("mermaid", "pipeline.score.yaml")]


@dataclass(frozen=True)
class PlotRun:
    """What `ploomber plot` did for one pipeline: the default PNG, then an SVG."""

    png: subprocess.CompletedProcess  # `ploomber plot [--entry-point X]`
    svg: subprocess.CompletedProcess  # the same with --backend pygraphviz --output dag.svg
    svg_path: Path


@dataclass(frozen=True)
class PloomberRuns:
    """What make_ploomber_runs' `ploomber` processes did in a fresh project (the pipelines, no build)."""

    root: Path  # the fresh project
    lake_before_status: bool  # data/lake existed before `ploomber status`
    status: subprocess.CompletedProcess  # `ploomber status --entry-point pipeline.score.yaml`
    plots: dict[str, PlotRun]  # by entry point
    refusals: dict[str, tuple[subprocess.CompletedProcess, Path]]  # by backend: the run, its page


@maker("ploomber_runs")
def make_ploomber_runs(tmp_path_factory, environ) -> PloomberRuns:
    """Run `ploomber` in a fresh project as a user would: status, plot each pipeline, plot with a CDN backend."""
    # the pipelines, their env files, notebooks and sources, as in a fresh clone: no lake, no build
    root = copy_pipelines(tmp_path_factory.mktemp("plot") / "project")
    lake_before_status = (root / "data/lake").exists()
    folder = tmp_path_factory.mktemp("status")
    status = ploomber(
        root, folder, "status", "--entry-point", "pipeline.score.yaml", environ=environ
    )
    plots = {}
    for entry in TASKS:
        folder = tmp_path_factory.mktemp("plot")
        # the default: `ploomber plot [--entry-point X]` writes pipeline[.score].png beside it
        args = [] if entry == "pipeline.yaml" else ["--entry-point", entry]
        png = ploomber(root, folder, "plot", *args, environ=environ)
        # the same drawing as SVG
        svg_path = folder / "dag.svg"
        svg = ploomber(
            root, folder, "plot", *args, "--backend", "pygraphviz", "--output", str(svg_path),
            environ=environ,
        )  # fmt: skip
        plots[entry] = PlotRun(png, svg, svg_path)
    refusals = {}
    for backend, entry in CDN_BACKENDS:
        page = tmp_path_factory.mktemp("cdn") / "dag.html"
        done = ploomber(
            root, page.parent, "plot", "--entry-point", entry, "--backend", backend,
            "--output", str(page), environ=environ,
        )  # fmt: skip
        refusals[backend] = (done, page)
    return PloomberRuns(root, lake_before_status, status, plots, refusals)


@pytest.fixture(scope="session")
def ploomber_runs(lane, request) -> PloomberRuns:
    """The runs of make_ploomber_runs, made by the second lane."""
    return lane.get(request, "ploomber_runs")


@integration
@pytest.mark.parametrize("entry", ["pipeline.yaml", "pipeline.score.yaml"])
def test_ploomber_plot_draws_each_pipeline_with_its_tasks(entry, ploomber_runs):
    # the default: `ploomber plot [--entry-point X]` writes pipeline[.score].png beside it
    run = ploomber_runs.plots[entry]
    done = run.png
    expected = "pipeline.png" if entry == "pipeline.yaml" else "pipeline.score.png"
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"Plot saved at: {expected}" in done.stdout
    picture = ploomber_runs.root / expected
    width, height = png_size(picture)
    assert picture.stat().st_size > 5_000 and width > 2 * height > 100  # left to right, not a stub

    # the same drawing as SVG: its text names every task and every edge
    done = run.svg
    assert done.returncode == 0, done.stderr[-2000:]
    titles = {
        html.unescape(t) for t in re.findall(r"<title>([^<]*)</title>", run.svg_path.read_text())
    }
    assert TASKS[entry] <= titles
    assert {f"{a}->{b}" for a, b in EDGES[entry]} <= titles


@integration
def test_ploomber_status_of_the_scoring_pipeline_needs_no_build_first(ploomber_runs):
    # its batch (the lake's normalized table) is the training build's output: not there yet
    assert not ploomber_runs.lake_before_status
    done = ploomber_runs.status
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FileNotFoundError" not in done.stderr
    # a table of the three tasks (Ploomber wraps the longer names over two lines)
    assert {"score", "monitor", "score_summa"} <= set(re.findall(r"\w+", done.stdout))


@integration
@pytest.mark.parametrize(("backend", "entry"), CDN_BACKENDS)
def test_ploomber_plot_refuses_the_cdn_backends_in_one_line(backend, entry, ploomber_runs):
    # before lab2prod_ploomber.plot: a traceback ending in KeyError: 'links' (networkx 3.6)
    done, page = ploomber_runs.refusals[backend]
    assert done.args[-5:-3] == [entry, "--backend"], done.args
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "KeyError" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--backend {backend} writes a page that loads" in lines[0]
    assert "use the default backend, pygraphviz" in lines[0]
    assert not page.exists()


# ---- in this process: the refusal itself, and Ploomber's DAG.plot with it installed


def touch(product, upstream=None):
    Path(str(product)).touch()


@pytest.fixture
def small_dag(tmp_path):
    """Two Python tasks, a -> b: enough for DAG.plot to draw."""
    from ploomber import DAG
    from ploomber.products import File
    from ploomber.tasks import PythonCallable

    plot.install()  # what importing lab2prod_ploomber does under Ploomber's own commands
    dag = DAG()
    first = PythonCallable(touch, File(tmp_path / "a.txt"), dag, name="a")
    second = PythonCallable(touch, File(tmp_path / "b.txt"), dag, name="b")
    first >> second
    return dag


@pytest.mark.parametrize("backend", ["d3", "mermaid"])
def test_dag_plot_refuses_a_cdn_backend_and_writes_nothing(backend, small_dag, tmp_path):
    from ploomber.exceptions import PlotException

    page = tmp_path / "dag.html"
    with pytest.raises(PlotException, match=rf"--backend {backend} .* from CDNs .* pygraphviz"):
        small_dag.plot(output=str(page), backend=backend)
    assert not page.exists()


def test_dag_plot_refuses_an_html_output_and_an_unknown_backend(small_dag, tmp_path):
    from ploomber.exceptions import PlotException

    with pytest.raises(PlotException, match=r"an \.html output \(.*dag\.html\) needs --backend d3"):
        small_dag.plot(output=str(tmp_path / "dag.html"))
    with pytest.raises(PlotException, match="unknown plot backend 'graphviz'"):
        small_dag.plot(output=str(tmp_path / "dag.svg"), backend="graphviz")


def test_dag_plot_still_draws_with_graphviz(small_dag, tmp_path):
    svg = tmp_path / "dag.svg"
    small_dag.plot(output=str(svg))
    titles = set(re.findall(r"<title>([^<]*)</title>", svg.read_text()))
    assert {"a", "b", "a->b"} <= {html.unescape(t) for t in titles}


@pytest.mark.parametrize(
    ("backend", "output", "refused"),
    [
        ("d3", "dag.html", True),
        ("mermaid", "dag.html", True),
        (None, "dag.html", True),
        (None, "pipeline.png", False),
        (None, "embed", False),
        ("pygraphviz", "dag.svg", False),
    ],
)
def test_refusal_says_which_backend_works(backend, output, refused):
    reason = plot.refusal(backend, output)
    assert (reason is not None) == refused
    if refused:
        assert "\n" not in reason and reason.endswith(plot.WORKING)


def test_without_pygraphviz_ploombers_default_would_be_d3():
    assert "needs --backend d3" in plot.refusal(None, "pipeline.png", pygraphviz_installed=False)
    with pytest.raises(ValueError, match="unknown plot backend 'png'"):
        plot.refusal("png", "pipeline.png")


def test_ploombers_d3_and_mermaid_pages_still_ask_cdns():
    # the refusal's reason: when a Ploomber release bundles these scripts, this fails: drop the refusal
    from importlib.resources import files

    pages = files("ploomber.resources")
    d3 = pages.joinpath("dag_template_d3.html").read_text()
    mermaid = pages.joinpath("dag_template_mermaid.html").read_text()
    assert len(re.findall(r'<script src="https://', d3)) == 2
    assert re.search(r"import mermaid from 'https://", mermaid)

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
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory) -> Path:
    """The pipelines, their env files, notebooks and sources, as in a fresh clone: no lake, no build."""
    return copy_pipelines(tmp_path_factory.mktemp("plot") / "project")


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


@integration
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


@integration
def test_ploomber_status_of_the_scoring_pipeline_needs_no_build_first(fresh_project, tmp_path):
    # its batch (the lake's normalized table) is the training build's output: not there yet
    assert not (fresh_project / "data/lake").exists()
    done = ploomber(fresh_project, tmp_path, "status", "--entry-point", "pipeline.score.yaml")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FileNotFoundError" not in done.stderr
    # a table of the three tasks (Ploomber wraps the longer names over two lines)
    assert {"score", "monitor", "score_summa"} <= set(re.findall(r"\w+", done.stdout))


@integration
@pytest.mark.parametrize(
    ("backend", "entry"), [("d3", "pipeline.yaml"), ("mermaid", "pipeline.score.yaml")]
)
def test_ploomber_plot_refuses_the_cdn_backends_in_one_line(
    backend, entry, fresh_project, tmp_path
):
    # before lab2prod_ploomber.plot: a traceback ending in KeyError: 'links' (networkx 3.6)
    page = tmp_path / "dag.html"
    done = ploomber(
        fresh_project, tmp_path, "plot", "--entry-point", entry, "--backend", backend,
        "--output", str(page),
    )  # fmt: skip
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

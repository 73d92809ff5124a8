"""Notebook -> script export, and the parity of the three ways to score: command, papermill job, exported script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from lane import maker

from lab2prod.cli import main
from lab2prod.errors import ConfigError
from lab2prod.scoring.export import export_notebook, marked_notebooks, parameters_of

from .conftest import scoring_champion

PROJECT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = PROJECT / "data/contracts/credit.yaml"
STAMP = "2026-01-01T00:00:00Z"
BLOCKED = (
    "papermill",
    "ipykernel",
    "IPython",
    "jupyter_client",
    "jupyter_core",
    "nbformat",
    "nbclient",
    "ploomber",
)


def _notebook(cells: list[dict], export: bool = True) -> dict:
    return {
        "cells": cells,
        "metadata": {"lab2prod": {"export": export}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(source: str, *tags: str) -> dict:
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {"tags": list(tags)},
        "outputs": [],
        "execution_count": None,
    }


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def _run_side_by_side(*commands: tuple[list[str], dict]) -> list[subprocess.CompletedProcess]:
    """Run the (args, kwargs) commands at the same time (each mostly imports and loads a model); wait for all."""
    started = [
        (
            args,
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw),
        )
        for args, kw in commands
    ]
    done = []
    for args, process in started:
        try:
            out, err = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for _, other in started:
                other.kill()
            raise
        done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return done


def test_parameters_become_options_and_exploration_is_dropped(tmp_path):
    nb = _notebook(
        [
            {"cell_type": "markdown", "source": "# Double\nDoubles a number.", "metadata": {}},
            _code(
                "upstream = None\nproduct = None\nx = 2  # the number\nname = 'a%b'\nflag = False\nextra = None",
                "parameters",
            ),
            _code("print('result', x * 2, name, flag, extra)"),
            _code("raise SystemExit('exploration must not run')", "exploration"),
        ]
    )
    script = tmp_path / "double.py"
    script.write_text(export_notebook(tmp_path / "double.ipynb", nb, origin="double.ipynb"))
    assert (
        "upstream" not in script.read_text()
        and "exploration must not run" not in script.read_text()
    )
    assert _run([sys.executable, str(script)]).stdout.strip() == "result 4 a%b False None"
    out = _run([sys.executable, str(script), "--x", "5", "--flag", "true", "--extra", "[1, 2]"])
    assert out.stdout.strip() == "result 10 a%b True [1, 2]", out.stderr
    helped = _run([sys.executable, str(script), "--help"]).stdout
    assert "--x X" in helped and "the number (default: 2)" in helped and "Double" in helped
    bad = _run([sys.executable, str(script), "--x", "five"])
    assert bad.returncode == 2 and "invalid int value: 'five'" in bad.stderr


def test_a_pool_in_the_exported_script_does_not_run_the_script_again(tmp_path):
    """Spawn and forkserver workers import the main script: its cells sit under a main guard,
    and a multi-line string keeps its text although the code around it is indented."""
    pool = (
        "import multiprocessing\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "text = '''first\n  second'''\n"
        "label = f'''{x}\nlines'''\n"
        "for method in ('spawn', 'forkserver'):\n"
        "    context = multiprocessing.get_context(method)\n"
        "    with ProcessPoolExecutor(1, mp_context=context) as workers:\n"
        "        print(method, workers.submit(abs, -x).result())\n"
        "print(repr(text), repr(label))"
    )
    nb = _notebook([_code("x = 3", "parameters"), _code(pool)])
    script = tmp_path / "pooled.py"
    script.write_text(export_notebook(tmp_path / "pooled.ipynb", nb, origin="pooled.ipynb"))
    run = _run([sys.executable, str(script)], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == ["spawn 3", "forkserver 3", r"'first\n  second' '3\nlines'"]


def test_export_refuses_what_a_script_cannot_run(tmp_path):
    with pytest.raises(
        ConfigError, match=r"nb.ipynb: expected exactly one code cell tagged 'parameters', found 0"
    ):
        export_notebook(tmp_path / "nb.ipynb", _notebook([_code("x = 1")]), origin="nb.ipynb")
    with pytest.raises(
        ConfigError, match=r"nb.ipynb: cell 1 line 1: IPython magic '%matplotlib inline'"
    ):
        export_notebook(
            tmp_path / "nb.ipynb",
            _notebook([_code("x = 1", "parameters"), _code("%matplotlib inline")]),
            origin="nb.ipynb",
        )
    with pytest.raises(ConfigError, match=r"parameter 'x' must have a literal default"):
        parameters_of("x = compute()", "nb.ipynb")


def test_only_marked_notebooks_are_exported_and_check_finds_stale(tmp_path, capsys):
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    books = tmp_path / "notebooks"
    books.mkdir()
    (books / "prod.ipynb").write_text(
        json.dumps(_notebook([_code("x = 1", "parameters"), _code("print(x)")]))
    )
    (books / "lab.ipynb").write_text(
        json.dumps(_notebook([_code("x = 1", "parameters")], export=False))
    )
    assert [p.name for p in marked_notebooks(books)] == ["prod.ipynb"]
    assert main(["export", "--root", str(tmp_path), "--check"]) == 1
    assert "stale:" in capsys.readouterr().out
    assert main(["export", "--root", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["prod.py"]
    assert main(["export", "--root", str(tmp_path), "--check"]) == 0
    (books / "prod.ipynb").write_text(
        json.dumps(_notebook([_code("x = 2", "parameters"), _code("print(x)")]))
    )
    assert main(["export", "--root", str(tmp_path), "--check"]) == 1


def test_repository_notebooks_marked_for_export():
    assert [p.name for p in marked_notebooks(PROJECT / "notebooks")] == ["score.ipynb"]


def test_the_exported_score_script_has_the_options_the_docs_name():
    script = export_notebook(PROJECT / "notebooks/score.ipynb")
    for option in ("--batch", "--output", "--model", "--chunk-rows", "--workers", "--threshold"):
        assert f"'{option}'" in script, option
    assert "workers=workers" in script  # and the option reaches the scoring


def test_a_script_run_outside_the_projects_environment_says_how_to_run_it(tmp_path):
    nb = _notebook(
        [
            _code("upstream = None\nx = 2  # the number", "parameters"),
            _code("from lab2prod import settings\nprint('ran', x)"),
        ]
    )
    (tmp_path / "exports").mkdir()
    script = tmp_path / "exports" / "score.py"
    script.write_text(export_notebook(tmp_path / "score.ipynb", nb, origin="notebooks/score.ipynb"))
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.touch()
    # -S: a Python without the site-packages lab2prod is installed in, as outside .venv (and no
    # PYTHONPATH that would find a checkout's src/)
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    outside = _run([sys.executable, "-S", "exports/score.py"], cwd=tmp_path, env=bare)
    assert outside.returncode == 1 and "Traceback" not in outside.stderr, outside.stderr
    assert outside.stderr.strip().endswith(
        "cannot import lab2prod: run it with .venv/bin/python exports/score.py"
    ), outside.stderr
    help_run = _run([sys.executable, "-S", "exports/score.py", "--help"], cwd=tmp_path, env=bare)
    assert help_run.returncode == 0
    inside = _run([sys.executable, "exports/score.py", "--x", "3"], cwd=tmp_path)
    assert inside.stdout.strip() == "ran 3", inside.stderr


@dataclass(frozen=True)
class ScoringWays:
    """What make_scoring_ways ran: `lab2prod export` of notebooks/score.ipynb, then the three ways of scoring."""

    root: Path  # the folder of batch.csv, exports/ and each way's output (cli/, nb/, py/)
    export: subprocess.CompletedProcess
    command: subprocess.CompletedProcess  # lab2prod score
    job: subprocess.CompletedProcess  # papermill notebooks/score.ipynb
    exported: subprocess.CompletedProcess  # the exported script, its notebook libraries blocked


@maker("scoring_ways")
def make_scoring_ways(tmp_path_factory, environ) -> ScoringWays:
    """Export the scoring notebook, then score one batch three ways side by side, for a champion of its own."""
    champion, champion_env = scoring_champion(tmp_path_factory, environ)
    tmp_path = tmp_path_factory.mktemp("scoring-ways")
    rows = pd.read_csv(champion["normalized"], dtype=str, keep_default_na=False).head(400)
    rows.loc[7, "Age"] = "old"  # one hostile row: quarantined the same way everywhere
    batch = tmp_path / "batch.csv"
    rows.to_csv(batch, index=False, lineterminator="\n")
    env = {
        **champion_env,
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), champion_env.get("PYTHONPATH", "")]),
    }
    common = {
        "model": champion["model_uri"],
        "contract": str(CONTRACT_PATH),
        "scored_at": STAMP,
        "threshold": "0.5",
    }

    export = _run(
        [
            "lab2prod",
            "export",
            "--root",
            str(PROJECT),
            "--output-dir",
            str(tmp_path / "exports"),
            str(PROJECT / "notebooks/score.ipynb"),
        ],
        env=env,
        cwd=tmp_path,
    )
    script = tmp_path / "exports" / "score.py"
    guard = (
        "import runpy, sys\n"
        f"BLOCKED = {BLOCKED!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} must not be imported by an exported script')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.argv = [{str(script)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    params = [
        x
        for k, v in {
            **common,
            "batch": str(batch),
            "output": str(tmp_path / "nb" / "p.csv"),
            "root": str(champion["root"]),
        }.items()
        for x in ("-p", k, v)
    ]
    # the three ways are independent processes: run them side by side
    command, job, exported = _run_side_by_side(
        (
            [
                "lab2prod",
                "score",
                "--input",
                str(batch),
                "--output",
                str(tmp_path / "cli" / "p.csv"),
                "--model",
                common["model"],
                "--contract",
                common["contract"],
                "--scored-at",
                STAMP,
                "--threshold",
                "0.5",
                "--quiet",
            ],
            {"env": env, "cwd": tmp_path},
        ),
        (
            [
                "papermill",
                str(PROJECT / "notebooks/score.ipynb"),
                str(tmp_path / "executed.ipynb"),
                "--log-level",
                "ERROR",
                *params,
            ],
            {"env": env, "cwd": tmp_path},
        ),
        (
            [
                sys.executable,
                "-c",
                guard,
                "--batch",
                str(batch),
                "--output",
                str(tmp_path / "py" / "p.csv"),
                "--root",
                str(champion["root"]),
                "--model",
                common["model"],
                "--contract",
                common["contract"],
                "--scored-at",
                STAMP,
                "--threshold",
                "0.5",
            ],
            {"env": env, "cwd": tmp_path},
        ),
    )
    return ScoringWays(tmp_path, export, command, job, exported)


@pytest.fixture(scope="session")
def scoring_ways(lane, request) -> ScoringWays:
    """The runs of make_scoring_ways, made by the second lane."""
    return lane.get(request, "scoring_ways")


@pytest.mark.integration  # three processes, each loading the model: tens of seconds
@pytest.mark.readiness("monitor 3")
def test_command_papermill_job_and_exported_script_give_identical_predictions(scoring_ways):
    """All three ways of scoring one batch write the same bytes (same model, chunking and scored-at)."""
    tmp_path, export = scoring_ways.root, scoring_ways.export
    assert export.returncode == 0, export.stderr[-2000:]
    command, job, exported = scoring_ways.command, scoring_ways.job, scoring_ways.exported
    assert command.returncode == 0, command.stderr
    assert job.returncode == 0, job.stderr[-2000:]
    assert exported.returncode == 0, exported.stderr[-2000:]

    outputs = [(tmp_path / way / "p.csv").read_bytes() for way in ("cli", "nb", "py")]
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0].splitlines()) == 400  # header + 399 scored rows
    quarantines = {
        (tmp_path / way / "p.quarantine.csv").read_bytes() for way in ("cli", "nb", "py")
    }
    assert len(quarantines) == 1 and b"Age: 'old' is not a number" in quarantines.pop()

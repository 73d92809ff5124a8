"""The lake: raw landing is exact and immutable, writes are atomic, manifests record digests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lab2prod.data import lake

DAY = dt.date(2026, 1, 31)


def test_zone_paths(tmp_path):
    assert lake.normalized_path(tmp_path, "credit") == tmp_path / "normalized" / "credit.csv"
    assert lake.quarantine_path(tmp_path, "credit") == tmp_path / "quarantine" / "credit.csv"
    assert (
        lake.split_path(tmp_path, "credit", "test") == tmp_path / "splits" / "credit" / "test.csv"
    )
    assert lake.contract_path(tmp_path, "credit") == tmp_path / "contracts" / "credit.yaml"


def test_sha256_file_matches_hashlib(write):
    path = write("a.bin", b"\x00\x01" * 1000)
    assert lake.sha256_file(path) == hashlib.sha256(b"\x00\x01" * 1000).hexdigest()


def test_land_raw_keeps_exact_bytes_read_only_and_never_overwrites(tmp_path, write):
    src = write("a.csv", b"id\r\na\r\n")
    landed, digest = lake.land_raw(src, tmp_path / "lake", "apps", DAY)
    assert landed == tmp_path / "lake/raw/apps/2026-01-31/a.csv"
    assert landed.read_bytes() == b"id\r\na\r\n" and digest == lake.sha256_file(src)
    assert (
        not os.access(landed, os.W_OK) or os.geteuid() == 0
    )  # root ignores modes; the mode is still set
    assert landed.stat().st_mode & 0o222 == 0
    again, _ = lake.land_raw(src, tmp_path / "lake", "apps", DAY)
    assert again == landed  # identical content is reused
    src.chmod(0o644)
    src.write_bytes(b"id\na\nb\n")
    other, digest2 = lake.land_raw(src, tmp_path / "lake", "apps", DAY)
    assert other == landed.parent / f"a.{digest2[:12]}.csv"
    assert landed.read_bytes() == b"id\r\na\r\n" and other.read_bytes() == b"id\na\nb\n"


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out" / "x.csv"
    lake.atomic_write_text(target, "old\n")

    class Boom(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            with open(args[0], "w") as fh:
                fh.write("half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        lake.atomic_write_csv(target, Boom({"a": [1]}))
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["x.csv"]


def test_atomic_write_csv_normalized_conventions(tmp_path):
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-31"]), "x": [1.5], "s": [None]})
    path = lake.atomic_write_csv(tmp_path / "n.csv", frame)
    assert path.read_bytes() == b"d,x,s\n2024-01-31T00:00:00,1.5,\n"


def test_write_manifest_records_sources_and_outputs(tmp_path):
    path = lake.write_manifest(
        tmp_path, "credit", [{"source": "a", "sha256": "00"}], {"normalized": {"rows": 3}}
    )
    data = json.loads(path.read_text())
    assert path.parent == tmp_path / "manifests" and path.name.startswith("credit-")
    assert data["sources"] == [{"source": "a", "sha256": "00"}] and data["outputs"] == {
        "normalized": {"rows": 3}
    }
    assert lake.latest_manifest(tmp_path, "credit") == path


def test_latest_manifest_missing_names_what_to_do(tmp_path):
    from lab2prod.errors import SourceError

    with pytest.raises(SourceError, match="no ingest manifest for 'credit'.*run the ingest step"):
        lake.latest_manifest(tmp_path, "credit")


# ---- the Lake: every path of a project, the same as the pipelines' products


PROJECT = Path(__file__).resolve().parents[2]


def _pipeline(name: str, env_file: str, root: Path) -> dict:
    """Return `name` loaded as YAML with the placeholders of `env_file` (and {{root}}) filled in."""
    env = yaml.safe_load((PROJECT / env_file).read_text())
    text = (PROJECT / name).read_text()
    for key, value in {**env, "root": str(root)}.items():
        if not isinstance(value, str):  # a list or mapping replaces the quoted placeholder whole
            text = text.replace('"{{' + key + '}}"', json.dumps(value))
        text = text.replace("{{" + key + "}}", str(value))
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    "pipeline, env_file", [("pipeline.yaml", "env.yaml"), ("pipeline.score.yaml", "env.score.yaml")]
)
def test_every_product_of_the_pipelines_is_where_the_lake_puts_it(pipeline, env_file, tmp_path):
    from lab2prod.data.lake import Lake

    env = yaml.safe_load((PROJECT / env_file).read_text())
    spec = _pipeline(pipeline, env_file, tmp_path)
    lake = Lake.of(tmp_path, env["lake"], env["products"], env["reports"])
    dataset = yaml.safe_load((PROJECT / "env.yaml").read_text())["dataset"]
    assert len(spec["tasks"]) >= 3
    for task in spec["tasks"]:
        name = task["name"] + "0" if task["name"].endswith("-") else task["name"]
        declared = {k: Path(v) for k, v in task["product"].items()}
        if task["name"].endswith("-"):  # Ploomber appends the grid cell's index to each product
            declared = {k: p.with_name(f"{p.stem}-0{p.suffix}") for k, p in declared.items()}
        made = lake.task_products(name, dataset, env.get("batch_name", ""))
        assert declared == made, name


def test_the_lake_refuses_a_task_it_does_not_know(tmp_path):
    from lab2prod.data.lake import Lake

    with pytest.raises(ValueError, match="'fit' is not a step of the pipelines"):
        Lake.of(tmp_path).task_products("fit", "d")


def test_the_lake_orders_grid_cells_by_index_and_takes_folders_from_the_root(tmp_path):
    from lab2prod.data.lake import Lake

    lake = Lake.of(tmp_path, "lake", "built", "/abs/reports")
    assert lake.train_summaries() == [tmp_path / "built/train.json"]  # run alone: one cell
    (tmp_path / "built").mkdir()
    for i in (10, 2, 0):
        (tmp_path / "built" / f"train-{i}.json").write_text("{}")
    assert [p.stem for p in lake.train_summaries()] == ["train-0", "train-2", "train-10"]
    assert lake.split("d", "test") == tmp_path / "lake/splits/d/test.csv"
    assert lake.report("index.html") == Path("/abs/reports/index.html")


def test_the_lake_names_monitorings_and_retrainings_paths(tmp_path):
    from lab2prod.data.lake import Lake, stamp_now

    lake = Lake.of(tmp_path, "lake", "built", "pages")
    assert lake.history() == tmp_path / "lake/monitoring/history.csv"
    assert lake.labelled() == tmp_path / "lake/monitoring/labelled"
    assert lake.labelled_batch("s", "b1") == tmp_path / "lake/monitoring/labelled/s-b1.csv"
    assert lake.retrain_window("s") == tmp_path / "lake/monitoring/retrain/s"
    assert lake.window_source("s") == {
        "rows": tmp_path / "lake/monitoring/retrain/s/window.csv",
        "catalog": tmp_path / "lake/monitoring/retrain/s/catalog.yaml",
    }
    # a retraining trains in a lake of its own: every path of it under the window's folder
    window = lake.window_lake("s")
    assert window.root == tmp_path and window.split("d", "train") == (
        tmp_path / "lake/monitoring/retrain/s/lake/splits/d/train.csv"
    )
    assert window.summary("select") == tmp_path / "lake/monitoring/retrain/s/products/select.json"
    assert window.report("x.html") == tmp_path / "lake/monitoring/retrain/s/reports/x.html"
    assert lake.monitoring_status() == tmp_path / "pages/monitoring.json"
    assert lake.monitoring_page() == tmp_path / "pages/monitoring.html"
    assert lake.notebook_pages() == tmp_path / "pages/notebooks"
    assert lake.simulation_pages() == {
        "report": tmp_path / "pages/simulation.html",
        "json": tmp_path / "pages/simulation.json",
    }
    first, second = stamp_now(), stamp_now()
    assert len(first) == len("20261207T013905123456Z") and first <= second  # sorts by time


def test_the_lake_names_the_reports_and_the_executed_notebooks(tmp_path):
    from lab2prod.data.lake import Lake, link

    lake = Lake.of(tmp_path, "lake", "built", "pages")
    assert lake.pipeline_file() == tmp_path / "pipeline.yaml"
    assert lake.pipeline_file(scoring=True) == tmp_path / "pipeline.score.yaml"
    assert (lake.env_file(), lake.env_file(scoring=True)) == (
        tmp_path / "env.yaml",
        tmp_path / "env.score.yaml",
    )
    assert lake.index_page() == tmp_path / "pages/index.html"
    assert lake.model_card_page() == tmp_path / "pages/model_card.html"
    assert lake.data_quality_page() == tmp_path / "pages/data_quality.html"
    assert lake.readiness_pages() == {
        "html": tmp_path / "pages/readiness.html",
        "json": tmp_path / "pages/readiness.json",
    }
    assert lake.figure("roc") == tmp_path / "pages/figures/roc.png"
    assert lake.executed_notebook("score-b1") == tmp_path / "built/notebooks/score-b1.ipynb"
    assert lake.notebook_page("train-0") == tmp_path / "pages/notebooks/train-0.html"
    assert lake.executed_names() == [] and lake.grid_pages() == [] and lake.grid_summaries() == []
    for name in ("score-b1", "monitor-b1", "score-b2", "train-0"):
        lake.executed_notebook(name).parent.mkdir(parents=True, exist_ok=True)
        lake.executed_notebook(name).write_text("{}")
    assert lake.executed_names("-b1") == ["monitor-b1", "score-b1"]
    assert lake.executed_names() == ["monitor-b1", "score-b1", "score-b2", "train-0"]
    for name in ("train-1", "train-0", "select"):
        lake.notebook_page(name).parent.mkdir(parents=True, exist_ok=True)
        lake.notebook_page(name).write_text("")
    assert lake.grid_pages() == [lake.notebook_page("train-0"), lake.notebook_page("train-1")]
    # links from one page to another, relative to the page's folder
    assert link(lake.notebook_page("train-0"), lake.index_page()) == "notebooks/train-0.html"
    assert link(lake.monitoring_page(), lake.score_page("b1")) == "monitoring.html"
    assert link(tmp_path / "env.yaml", lake.readiness_pages()["html"]) == "../env.yaml"


def test_a_scored_files_siblings_lie_beside_it(tmp_path):
    from lab2prod.data.lake import Lake, scored_facts_path, scored_quarantine_path

    assert (
        scored_quarantine_path(tmp_path / "out/preds.csv") == tmp_path / "out/preds.quarantine.csv"
    )
    assert scored_facts_path("preds.parquet") == Path("preds.summary.json")
    # the Lake's batch keeps them by the same names
    made = Lake.of(tmp_path).prediction_products("b1")
    assert made["quarantine"] == scored_quarantine_path(made["predictions"])
    assert made["facts"] == scored_facts_path(made["predictions"])


# the folders of the lake, the products and the reports: only lake.py spells them in a path
LAKE_FOLDERS = {
    "raw",
    "normalized",
    "quarantine",
    "splits",
    "manifests",
    "requests",
    "contracts",
    "predictions",
    "monitoring",
    "labelled",
    "retrain",
    "figures",
    "notebooks",
}
# folders of the same names that are not the lake's: the project's committed contracts and notebooks
NOT_THE_LAKES = {
    ("project_new.py", "contracts"),
    ("cli/scoring.py", "notebooks"),
}


def _path_parts(node) -> list[str]:
    """Return the folder names a string constant or f-string spells as parts of a path."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [part for part in node.value.split("/") if part]
    if isinstance(node, ast.JoinedStr):
        texts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        return [part for text in texts for part in text.split("/") if part]
    return []


def lake_folders_spelled(source: str) -> set[str]:
    """Return the lake's folder names `source` joins into a path (`/`, `Path(...)`, `joinpath`, `zone`)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        operands: list = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            operands = [node.left, node.right]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("Path", "PurePath", "joinpath", "zone"):
                operands = list(node.args)
        found.update(p for o in operands for p in _path_parts(o) if p in LAKE_FOLDERS)
    return found


def test_no_module_but_lake_py_spells_a_folder_of_the_lake():
    package = PROJECT / "src/lab2prod"
    spelled = {}
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        if module == "data/lake.py":
            continue
        names = lake_folders_spelled(path.read_text(encoding="utf-8"))
        names -= {name for where, name in NOT_THE_LAKES if where == module}
        if names:
            spelled[module] = sorted(names)
    assert spelled == {}, "ask the Lake (lab2prod.data.lake) for these paths instead"
    # the scan finds each way of joining a path
    assert lake_folders_spelled('lake / "splits" / d') == {"splits"}
    assert lake_folders_spelled('Path(lake, "monitoring/labelled")') == {"monitoring", "labelled"}
    assert lake_folders_spelled('root.joinpath("predictions")') == {"predictions"}
    assert lake_folders_spelled('lake / f"normalized/{d}.csv"') == {"normalized"}
    assert lake_folders_spelled('"splits and normalized in a sentence"') == set()


# a file name of the lake, the products or the reports, as lake.py spells it: a stem with a suffix
_FILE_NAME = r"[\w*.-]*[A-Za-z][\w*.-]*\.(?:html|json|jsonl|csv|yaml|ipynb|png)"
# texts that name a file for a person to read, not a path: a template's name (`render`'s first
# argument, a file of reporting/templates/) and the command line's help
_PROSE_KEYWORDS = {"help", "description", "epilog"}
# names spelled outside lake.py for a person to read: the default of --status in the options' help,
# and the model card named in a registered version's description (release/promotion.py)
NOT_THE_LAKES_FILES = {
    ("cli/options.py", "monitoring.json"),
    ("release/promotion.py", "model_card.html"),
}


def _texts(source: str) -> list[str]:
    """Return the string constants and f-string texts of `source`, without docstrings, templates' names and help."""
    import ast

    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skipped.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "render" and node.args:
                skipped.add(id(node.args[0]))
            skipped.update(id(k.value) for k in node.keywords if k.arg in _PROSE_KEYWORDS)
    texts: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(v) for v in node.values)
            texts.append(
                "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return texts


def lake_file_names() -> set[str]:
    """Return the file names of the lake, the products and the reports lake.py spells (`monitoring.json`, ...).

    The project's own files (`env.yaml`, `pipeline.yaml`), which messages name for a person, are not among them.
    """
    import re

    source = (PROJECT / "src/lab2prod/data/lake.py").read_text(encoding="utf-8")
    found = set()
    for text in _texts(source):
        for part in re.split(r"[/\s{}]+", text):
            if re.fullmatch(_FILE_NAME, part):
                found.add(part)
    own = (lake.PIPELINE_FILE, lake.SCORE_PIPELINE_FILE, lake.ENV_FILE, lake.SCORE_ENV_FILE)
    return found - set(own)


def file_names_spelled(source: str, names: set[str]) -> set[str]:
    """Return which of `names` the code of `source` spells (in a string, not a docstring or help)."""
    import re

    found = set()
    for text in _texts(source):
        for name in names:
            before = "" if name.startswith(".") else r"(?<![\w.-])"
            if re.search(before + re.escape(name) + r"(?![\w-])", text):
                found.add(name)
    return found


def test_no_module_but_lake_py_spells_a_file_of_the_lake_the_products_or_the_reports():
    names = lake_file_names()
    # what the Lake names, each once in lake.py
    assert {"monitoring.json", "monitoring.html", "readiness.html", "readiness.json"} <= names
    assert {"model_card.html", "index.html", "data_quality.html", ".summary.json"} <= names
    assert {".quarantine.csv", "history.csv", "train-*.json", "train-*.html"} <= names
    package = PROJECT / "src/lab2prod"
    spelled = {}
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        if module == "data/lake.py":
            continue
        found = file_names_spelled(path.read_text(encoding="utf-8"), names)
        found -= {name for where, name in NOT_THE_LAKES_FILES if where == module}
        if found:
            spelled[module] = sorted(found)
    assert spelled == {}, "ask the Lake (lab2prod.data.lake) for these files instead"
    # the scan finds a name in a path, an f-string and a link, and not in prose it skips
    spells = file_names_spelled
    assert spells('folder / "monitoring.json"', names) == {"monitoring.json"}
    assert spells('out.with_name(f"{out.stem}.summary.json")', names) == {".summary.json"}
    assert spells('{"href": "notebooks/monitoring.html"}', names) == {"monitoring.html"}
    assert spells('reports.glob("train-*.html")', names) == {"train-*.html"}
    assert spells('render("readiness.html", page)', names) == set()  # a template
    assert spells('p.add_argument("--x", help="writes readiness.json")', names) == set()
    assert spells('def f():\n    """Write index.html."""', names) == set()
    assert spells('"old_test_predictions.csv", "my_index.html"', names) == set()  # other names

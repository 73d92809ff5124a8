"""`lab2prod new` and `lab2prod update`: a project from a table, the demo as an instance, updates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import copier
import pytest
import yaml

from conftest import PROJECT
from lab2prod import cli, settings
from lab2prod.project_new import (
    TEMPLATE,
    NewProject,
    new_project,
    template_repository,
    update_project,
)

# scripts/template_notebooks.py: the template's notebooks from this repository's
sys.path.insert(0, str(PROJECT / "scripts"))
import template_notebooks

# files of the template that are this repository's own, byte for byte (`cp` them again after a change)
VERBATIM = [
    "pipeline.yaml",
    "pipeline.score.yaml",
    "conftest.py",
    "jupyter_server_config.py",
    "jupyter-config/jupyter_server_config.json",
    "jupyter-config/labconfig/page_config.json",
    "constraints.txt",
    "constraints-airflow.txt",
    ".pre-commit-config.yaml",
    ".gitignore",
]
# the demo regenerated from the template: these files come out as committed here
DEMO_FILES = [
    "Makefile",
    "env.yaml",
    "env.test.yaml",
    "env.score.yaml",
    "pipeline.yaml",
    "pipeline.score.yaml",
    "roles.yaml",
]
# ... and these differ on purpose, each for its reason
DEMO_DIFFERS = {
    "README.md": "the toolkit's README is the toolkit's; a project's README is about its table",
    "data/sources/credit/catalog.yaml": "the demo joins three sources (CSV, JSON lines, SQL); a project starts from one table",
    "notebooks/exploratory/credit_eda.ipynb": "the demo's exploration knows its columns; a project's is generic",
    ".github/workflows": "the toolkit's CI runs its whole suite with PostgreSQL and Chromium; a project's runs make run and make test",
    ".ci/run": "the same reason",
}


def _tumours(folder: Path) -> Path:
    """scikit-learn's bundled breast cancer table (no download), as a user's CSV with a text target."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    path = folder / "tumours.csv"
    frame.to_csv(path, index=False)
    return path


def _diabetes(folder: Path) -> Path:
    from sklearn.datasets import load_diabetes

    path = folder / "diabetes.csv"
    load_diabetes(as_frame=True, scaled=False).frame.to_csv(path, index=False)
    return path


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """The user's data folder (the template's git mirror lives there), fresh for each test."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_new_makes_a_project_from_a_table_the_demo_does_not_use(tmp_path, data_home, capsys):
    table = _tumours(tmp_path)
    code = cli.main(
        ["new", str(tmp_path / "tumours"), "--data", str(table), "--target", "diagnosis"]
    )
    assert code == 0, capsys.readouterr().err
    root = tmp_path / "tumours"
    for name in [
        "README.md",
        "Makefile",
        "pipeline.yaml",
        "pipeline.score.yaml",
        "env.yaml",
        "env.score.yaml",
        "env.test.yaml",
        "requirements.txt",
        "constraints.txt",
        ".copier-answers.yml",
        ".ci/run",
        ".github/workflows/ci.yml",
        ".pre-commit-config.yaml",
        "roles.yaml",
        ".gitignore",
        "tests/test_contract.py",
        "data/sources/tumours/tumours.csv",
        "data/sources/tumours/catalog.yaml",
        "data/contracts/tumours.yaml",
        "notebooks/train.ipynb",
        "notebooks/exploratory/tumours_eda.ipynb",
    ]:
        assert (root / name).is_file(), name
    assert os.access(root / ".ci/run", os.X_OK)
    env = settings.read_yaml(root / "env.yaml")
    assert (env["dataset"], env["data"], env["contract"]) == (
        "tumours",
        "data/sources/tumours/catalog.yaml",
        "data/contracts/tumours.yaml",
    )
    assert (env["model_name"], env["experiment"], env["business"]) == ("tumours", "tumours", {})
    assert env["gate_floors"] == {"roc_auc": 0.70, "brier": 0.25}
    assert "credit" not in (root / "env.yaml").read_text()
    score = settings.read_yaml(root / "env.score.yaml")
    assert (score["batch_name"], score["model_name"]) == ("tumours", "tumours")
    assert score["reference"] == "data/lake/splits/tumours/train.csv"
    assert "MODEL_NAME ?= tumours\n" in (root / "Makefile").read_text()
    assert yaml.safe_load((root / "roles.yaml").read_text())["registered_models"] == ["tumours"]
    readme = (root / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    # the catalog reads the copied table; the contract was inferred from it, with what to review
    catalog = settings.load_catalog(root / env["data"])
    assert [s.path for s in catalog.sources] == [
        (root / "data/sources/tumours/tumours.csv").resolve()
    ]
    contract_text = (root / "data/contracts/tumours.yaml").read_text()
    assert contract_text.startswith("# Data contract of tumours: inferred by `lab2prod new`")
    assert "Expectations (`expect:`)" in contract_text
    contract = settings.load_contract(root / "data/contracts/tumours.yaml")
    assert (contract.task, contract.target, contract.labels) == (
        "classification",
        "diagnosis",
        ("benign", "malignant"),
    )
    # the project installs this same lab2prod: here, this checkout's folder
    assert f"-e {PROJECT}[notebooks,dev]" in (root / "requirements.txt").read_text()
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(data_home / "lab2prod" / "template")
    assert answers["target"] == "diagnosis"
    nb = json.loads((root / "notebooks/exploratory/tumours_eda.ipynb").read_text())
    assert "data/contracts/tumours.yaml" in "".join(nb["cells"][2]["source"])
    # a git repository with one commit and a clean tree
    log = subprocess.run(["git", "log", "--oneline"], cwd=root, capture_output=True, text=True)
    assert log.stdout.count("\n") == 1
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True
    )
    assert status.stdout == ""
    assert "made " in capsys.readouterr().out


def test_new_guesses_a_regression_and_sets_no_classification_floor(tmp_path, data_home):
    table = _diabetes(tmp_path)
    root = new_project(NewProject(tmp_path / "p", table, "target", name="Diabetes progression"))
    env = settings.read_yaml(root / "env.yaml")
    assert (env["dataset"], env["model_name"]) == ("diabetes_progression", "diabetes-progression")
    assert env["gate_floors"] == {}
    assert (
        settings.load_contract(root / "data/contracts/diabetes_progression.yaml").task
        == "regression"
    )
    assert "a regression of `target`" in (root / "README.md").read_text()


@pytest.fixture(scope="module")
def tumours_project(tmp_path_factory):
    """One project made by `lab2prod new` from the tumours table, for the tests that only read it."""
    folder = tmp_path_factory.mktemp("tumours")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("XDG_DATA_HOME", str(folder / "xdg"))
        return new_project(NewProject(folder / "p", _tumours(folder), "diagnosis"))


def test_the_tests_of_a_new_project_pass(tumours_project):
    root = tumours_project
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_new_commits_with_lab2prods_author_when_git_has_none(tmp_path, data_home, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)
    root = new_project(NewProject(tmp_path / "p", _tumours(tmp_path), "diagnosis"))
    author = subprocess.run(
        ["git", "log", "--format=%an <%ae>"], cwd=root, capture_output=True, text=True
    ).stdout
    assert author == "lab2prod <lab2prod@localhost>\n"


def test_a_new_project_passes_ruff_with_its_own_settings(tumours_project):
    root = tumours_project
    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([str(ruff), *args], cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:]


# ---- bad input: one line on stderr, exit 2, nothing written ----


def _refused(tmp_path, capsys, *args: str) -> str:
    code = cli.main(["new", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert not (tmp_path / "xdg").exists()  # not even the template's mirror
    return err


def test_new_refuses_a_target_column_the_table_does_not_have(tmp_path, data_home, capsys):
    table = _tumours(tmp_path)
    err = _refused(tmp_path, capsys, str(tmp_path / "p"), "--data", str(table), "--target", "nope")
    assert "target column 'nope' not found; columns are mean_radius" in err
    assert not (tmp_path / "p").exists()


def test_new_refuses_a_target_with_one_value(tmp_path, data_home, capsys):
    table = tmp_path / "one.csv"
    table.write_text("x,y\n1,a\n2,a\n3,a\n")
    err = _refused(tmp_path, capsys, str(tmp_path / "p"), "--data", str(table), "--target", "y")
    assert "target column 'y' has 1 distinct value(s): a model needs at least two" in err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("table.dat", b"x,y\n1,a\n", "cannot tell the format from suffix '.dat'"),
        ("table.parquet", b"not a parquet file", "table.parquet"),
    ],
)
def test_new_refuses_a_file_the_reader_refuses(tmp_path, data_home, capsys, name, content, message):
    table = tmp_path / name
    table.write_bytes(content)
    err = _refused(tmp_path, capsys, str(tmp_path / "p"), "--data", str(table), "--target", "y")
    assert message in err
    assert not (tmp_path / "p").exists()


def test_new_refuses_a_folder_that_is_not_empty(tmp_path, data_home, capsys):
    table = _tumours(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("keep me")
    err = _refused(
        tmp_path, capsys, str(tmp_path / "p"), "--data", str(table), "--target", "diagnosis"
    )
    assert "exists and is not empty: choose a new folder" in err
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["mine.txt"]


def test_new_accepts_an_empty_folder(tmp_path, data_home):
    (tmp_path / "p").mkdir()
    root = new_project(NewProject(tmp_path / "p", _tumours(tmp_path), "diagnosis"))
    assert (root / "Makefile").is_file()


# ---- the template: this repository's files, the demo an instance of it, updates ----


@pytest.mark.parametrize("name", VERBATIM)
def test_the_templates_copies_are_this_repositorys_files(name):
    assert (TEMPLATE / name).read_bytes() == (PROJECT / name).read_bytes(), (
        f"cp {name} src/lab2prod/templates/project/{name}"
    )


@pytest.mark.parametrize(
    "notebook", sorted(PROJECT.glob("notebooks/*.ipynb")), ids=lambda p: p.name
)
def test_the_templates_notebooks_are_this_repositorys_with_placeholders_for_the_demos_names(
    notebook,
):
    path, written = template_notebooks.template_file(notebook.name, notebook.read_text())
    assert path.is_file() and path.read_text() == written, "python scripts/template_notebooks.py"
    assert "credit" not in written


def test_the_template_has_every_pipeline_notebook_and_no_other():
    shipped = sorted(
        p.name.removesuffix(".jinja") for p in (TEMPLATE / "notebooks").glob("*.ipynb*")
    )
    assert shipped == sorted(p.name for p in (PROJECT / "notebooks").glob("*.ipynb"))


def _demo_answers() -> dict:
    """The credit demo's answers, read from this repository's env files."""
    text = (PROJECT / "env.yaml").read_text()
    business = text[
        text.index("# What one case's outcome is worth") : text.index(
            "# the parameter grid of `train`"
        )
    ]
    env, test_env = (
        settings.read_yaml(PROJECT / "env.yaml"),
        settings.read_yaml(PROJECT / "env.test.yaml"),
    )
    line = {
        key: next(ln for ln in text.splitlines() if ln.startswith(f"{key}: "))
        for key in ("slice_columns", "gate_floors")
    }
    flow = {k: v.split(": ", 1)[1].split("  ")[0].strip() for k, v in line.items()}
    test_text = (PROJECT / "env.test.yaml").read_text()
    test_floors = next(ln for ln in test_text.splitlines() if ln.startswith("gate_floors: "))
    assert yaml.safe_load(flow["gate_floors"]) == env["gate_floors"]
    assert yaml.safe_load(test_floors.split(": ", 1)[1].split("  ")[0]) == test_env["gate_floors"]
    return {
        "name": "credit",
        "dataset": env["dataset"],
        "model_name": env["model_name"],
        "experiment": env["experiment"],
        "target": "Status",
        "id_column": "applicant_id",
        "data_file": "applications.csv",
        "slice_columns": flow["slice_columns"],
        "gate_floors": flow["gate_floors"],
        "gate_floors_test": test_floors.split(": ", 1)[1].split("  ")[0].strip(),
        "business": business.rstrip("\n"),
        "toolkit": True,
    }


def test_the_credit_demo_is_an_instance_of_the_template(tmp_path):
    demo = tmp_path / "demo"
    copier.run_copy(
        str(TEMPLATE), str(demo), data=_demo_answers(), defaults=True, unsafe=False, quiet=True
    )
    for name in DEMO_FILES + [
        p.relative_to(PROJECT).as_posix() for p in PROJECT.glob("notebooks/*.ipynb")
    ]:
        assert (demo / name).read_text() == (PROJECT / name).read_text(), name
    for name in DEMO_DIFFERS:
        assert (demo / name).exists() and (PROJECT / name).exists(), name
    assert (demo / "data/contracts").exists() is False  # the contract is inferred, not templated


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_update_brings_a_template_change_and_keeps_the_users_edit(tmp_path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template)
    repository = template_repository(template, tmp_path / "repository")
    root = new_project(
        NewProject(tmp_path / "p", _tumours(tmp_path), "diagnosis"), template=repository
    )
    # the user edits a notebook and commits
    edit = ("# Train\n", "# Train (our tumour models)\n")
    _replace(root / "notebooks/train.ipynb", f'"{edit[0][:-1]}\\n"', f'"{edit[1][:-1]}\\n"')
    _git(root, "commit", "-qam", "our title")
    # a later template changes the same notebook elsewhere, and the Makefile
    notebook = template / "notebooks/train.ipynb.jinja"
    source = json.loads(notebook.read_text())
    last = source["cells"][-1]["source"]
    old_line = last[-1]
    _replace(notebook, json.dumps(old_line), json.dumps(old_line + "  # template v2"))
    _replace(template / "Makefile.jinja", "SERVE_PORT ?= 5001", "SERVE_PORT ?= 5011")
    template_repository(template, repository)
    update_project(root, template=repository)
    train = (root / "notebooks/train.ipynb").read_text()
    assert "# Train (our tumour models)" in train  # the user's edit
    assert "# template v2" in train  # the template's change
    assert "SERVE_PORT ?= 5011" in (root / "Makefile").read_text()
    assert yaml.safe_load((root / ".copier-answers.yml").read_text())["_commit"] == "0.1.0.post2"
    json.loads(train)  # still a notebook


def test_update_refuses_uncommitted_changes_and_a_folder_not_made_by_new(
    tmp_path, data_home, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["update"]) == 2  # the working directory
    err = capsys.readouterr().err
    assert f"{tmp_path}: no .copier-answers.yml: not a project made by `lab2prod new`" in err
    root = new_project(NewProject(tmp_path / "p", _tumours(tmp_path), "diagnosis"))
    (root / "Makefile").write_text("changed\n")
    assert cli.main(["update", str(root)]) == 2
    assert "uncommitted changes: commit them first, then update" in capsys.readouterr().err


def test_a_template_copier_cannot_render_is_one_line_and_leaves_nothing(tmp_path):
    from lab2prod.errors import ConfigError

    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template)
    (template / "copier.yml").write_text("name: {type: str\n")  # not YAML
    repository = template_repository(template, tmp_path / "repository")
    with pytest.raises(ConfigError, match="copier could not render the template"):
        new_project(
            NewProject(tmp_path / "p", _tumours(tmp_path), "diagnosis"), template=repository
        )
    assert not (tmp_path / "p").exists()


def test_template_repository_commits_only_a_changed_template(tmp_path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template)
    repository = template_repository(template, tmp_path / "repository")
    template_repository(template, repository)
    assert _git(repository, "tag").split() == ["0.1.0.post1"]
    (template / "NEW.md").write_text("new\n")
    template_repository(template, repository)
    assert _git(repository, "tag").split() == ["0.1.0.post1", "0.1.0.post2"]


# ---- a generated project builds, registers a champion, scores and monitors (minutes) ----


def _timed(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 1800):
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, time.perf_counter() - start


@pytest.mark.integration
@pytest.mark.skipif(
    not os.environ.get("LAB2PROD_TEST_NEW_PROJECT"),
    reason="builds a generated project's whole pipeline (minutes): LAB2PROD_TEST_NEW_PROJECT=1",
)
def test_a_new_project_builds_registers_a_champion_then_scores_and_monitors(tmp_path):
    from mlflow import MlflowClient

    venv = Path(sys.executable).parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("LAB2PROD_ROOT", "MLFLOW_TRACKING_URI")}
    env.update(
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        PYTHONPATH=str(PROJECT / "src"),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    table = _tumours(tmp_path)
    _, made = _timed(
        ["lab2prod", "new", "tumours", "--data", str(table), "--target", "diagnosis"], tmp_path, env
    )
    root = tmp_path / "tumours"
    # the generated Makefile's `make run`, with this venv (its install step left out: -o the stamp)
    _, build = _timed(
        ["make", "-o", f"{venv}/.installed", "run", f"VENV={venv}"], root, env, timeout=3600
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("tumours", "champion")
    assert champion.version
    _timed(
        [
            "lab2prod",
            "score",
            "--input",
            "data/sources/tumours/tumours.csv",
            "--output",
            "scored.csv",
        ],
        root,
        env,
    )
    assert (root / "scored.csv").is_file()
    monitored = subprocess.run(
        ["lab2prod", "monitor", "--batch", "scored.csv"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert monitored.returncode in (0, 1), monitored.stderr  # 1: drift or degradation found
    assert monitored.stdout.startswith("batch "), monitored.stdout
    print(f"lab2prod new: {made:.1f} s; first make run: {build:.1f} s; {os.getloadavg()}")


def test_slice_columns_are_the_first_categorical_features_quoted_when_yaml_would_misread_them(
    tmp_path, data_home
):
    table = tmp_path / "shop.csv"
    rows = [
        f"{i},{'ab'[i % 2]},{'xyz'[i % 3]},{'pq'[i % 2]},{'uv'[i % 2]},{i % 2}" for i in range(60)
    ]
    table.write_text("amount,yes,colour,my size,plan,bought\n" + "\n".join(rows) + "\n")
    root = new_project(NewProject(tmp_path / "p", table, "bought", task="classification"))
    line = next(
        ln for ln in (root / "env.yaml").read_text().splitlines() if ln.startswith("slice_columns:")
    )
    assert line.startswith('slice_columns: ["yes", colour, "my size"]')
    assert settings.read_yaml(root / "env.yaml")["slice_columns"] == ["yes", "colour", "my size"]


def test_the_contract_header_of_a_three_class_table_names_its_classes_and_no_positive_label(
    tmp_path, data_home
):
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    frame.to_csv(tmp_path / "wine.csv", index=False)
    root = new_project(NewProject(tmp_path / "wine", tmp_path / "wine.csv", "cultivar"))
    header = (root / "data/contracts/wine.yaml").read_text().split("\ndataset:")[0]
    assert "positive label" not in header
    assert (
        "# Task: classification; target: cultivar (3 classes: barbera, barolo, grignolino; the label"
        in header
    )

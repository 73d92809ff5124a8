"""`lab2prod new` and `lab2prod update`: a project of one's own, made from one table with copier.

`new_project` reads the table, infers its contract (`data.contract.infer_contract`, the one
`lab2prod contract infer` and the pipeline's bring-your-own-data ingest use) and refuses bad input
before anything is written; then copier renders the template shipped in this package
(`templates/project/`) into the new folder, the table and its contract are placed in it, and the
folder becomes a git repository with a first commit. `update_project` runs copier's update, which
brings a later template's changes into the project and keeps the user's edits.

Copier updates only templates kept in git: the package's template is mirrored into a git repository
under the user's data folder (`$XDG_DATA_HOME/lab2prod/template`), one commit per template version,
and the project's `.copier-answers.yml` names it.

The modules that read tables (pandas, pandera) and copier are imported by the functions that use
them: the command line imports this module to list `new` and `update`, and `lab2prod --help` then
imports none of them (docs/explanation/layout.md, "Imports").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import lab2prod
from lab2prod.data.catalog import single_file_catalog
from lab2prod.errors import ConfigError, ContractError

if TYPE_CHECKING:
    from lab2prod.data.contract import Contract

TEMPLATE = Path(__file__).resolve().parent / "templates" / "project"
# the author of the commits lab2prod makes when git has none configured
FALLBACK_AUTHOR = ("lab2prod", "lab2prod@localhost")
CLASSIFICATION_FLOORS = "{roc_auc: 0.70, brier: 0.25}"
# bare words YAML reads as booleans or null: a column of that name is quoted
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
SLICE_COLUMNS = 3  # categorical columns whose values get their own metrics, at most


@dataclass(frozen=True)
class NewProject:
    """What `lab2prod new` is asked for: where, from which table, and the table's roles."""

    path: Path
    data: Path
    target: str
    task: str | None = None
    id_column: str | None = None
    date_column: str | None = None
    name: str | None = None


def slug(text: str) -> str:
    """Return `text` as a dataset name: lower case letters, digits and underscores."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not name:
        raise ConfigError(
            f"{text!r} gives no usable project name: pass --name with letters or digits"
        )
    return name


def check_destination(path: Path) -> None:
    """Refuse a destination that is a file or a folder that is not empty."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{path}: exists and is not empty: choose a new folder")


def inferred_contract(spec: NewProject, dataset: str) -> Contract:
    """Return the contract inferred from the table; refuse a table no model can learn from."""
    from lab2prod.data.inference import infer_contract
    from lab2prod.data.validate import read_any

    if not spec.data.is_file():
        raise ConfigError(
            f"{spec.data}: no such file: pass --data with a CSV, JSON lines, Parquet or Excel file"
        )
    single_file_catalog(spec.data)  # a suffix lab2prod cannot read is refused here, in one line
    frame = read_any(spec.data).rows
    contract = infer_contract(
        frame,
        dataset=dataset,
        target=spec.target,
        task=spec.task or None,
        id_column=spec.id_column or None,
        date_columns=(spec.date_column,) if spec.date_column else (),
    )
    values = frame[spec.target].dropna().nunique()
    if values < 2:
        raise ContractError(
            f"{spec.data}: target column {spec.target!r} has {values} distinct value(s): "
            "a model needs at least two"
        )
    return contract


def contract_header(contract: Contract, source: str) -> str:
    """Return the comment that heads an inferred contract: what to review before committing it."""
    left_out = [
        c.name for c in contract.columns if c.type == "string" and c.name != contract.id_column
    ]
    expected = [c.name for c in contract.columns if c.expect_min is not None or c.expect_categories]
    lines = [
        f"Data contract of {contract.dataset}: inferred by `lab2prod new` from {source}.",
        "Review it, then commit it: every step of the pipeline reads it.",
        "Hard rules (a row that breaks one goes to quarantine; on_fail: stop stops the build): each",
        "column's type and nullable, min/max and categories when present, the target's labels.",
        "Expectations (`expect:`): the ranges and categories observed in this file. A later value",
        "outside them is drift, reported by the monitor, never a rejected row. Turn an expectation",
        "into a rule (min/max/categories) where the business says so, e.g. an age under 18.",
        f"Task: {contract.task}; target: {contract.target}" + _classes(contract) + ".",
    ]
    if contract.id_column:
        lines.append(f"Left out of the model: {contract.id_column} (the id of a row).")
    if left_out:
        lines.append(
            f"Left out of the model: {', '.join(left_out)} (text with too many distinct values "
            "to be categories: type string)."
        )
    if expected:
        lines.append(f"Columns with expectations: {', '.join(expected)}.")
    wrapped = [part for line in lines for part in textwrap.wrap(line, 98, break_on_hyphens=False)]
    return "".join(f"# {line}\n" for line in wrapped)


def _classes(contract: Contract) -> str:
    """Return what the contract's header says of the target's classes.

    A binary target's positive label; a multiclass target's classes (its label is the most probable
    class: no class is positive).
    """
    labels = contract.labels or ()
    if len(labels) > 2:
        return f" ({len(labels)} classes: {', '.join(labels)}; the label is the most probable)"
    return f" (positive label {contract.positive_label!r})" if contract.positive_label else ""


def lab2prod_requirement() -> str:
    """Return the requirement line that installs this same lab2prod in a generated project.

    This checkout's folder when lab2prod runs from its source; the wheel it was installed from (PEP
    610's direct_url.json) when there is one; else the version, for an index.
    """
    extras = "[notebooks,dev]"
    source = Path(lab2prod.__file__).resolve().parents[2]
    if (source / "pyproject.toml").is_file() and (source / "src" / "lab2prod").is_dir():
        return f"-e {source}{extras}"
    try:
        origin = json.loads(metadata.distribution("lab2prod").read_text("direct_url.json") or "{}")
    except metadata.PackageNotFoundError:
        origin = {}
    if origin.get("url", "").endswith(".whl"):
        return f"lab2prod{extras} @ {origin['url']}"
    return f"lab2prod{extras}=={lab2prod.__version__}"


def answers(spec: NewProject, contract: Contract) -> dict[str, Any]:
    """Return the template's answers for a project made from one table."""
    name = spec.name or spec.data.stem
    dataset = slug(name)
    categorical = [
        c.name for c in contract.columns if c.type == "category" and c.name != contract.target
    ]
    classification = contract.task == "classification"
    floors = CLASSIFICATION_FLOORS if classification and len(contract.labels or ()) == 2 else "{}"
    return {
        "name": name,
        "dataset": dataset,
        "model_name": dataset.replace("_", "-"),
        "experiment": dataset.replace("_", "-"),
        "task": contract.task,
        "target": contract.target,
        "id_column": contract.id_column or "",
        "data_file": spec.data.name,
        "data_format": single_file_catalog(spec.data).sources[0].format,
        "slice_columns": "[" + ", ".join(map(_yaml_word, categorical[:SLICE_COLUMNS])) + "]",
        "gate_floors": floors,
        "gate_floors_test": floors,
        "lab2prod_requirement": lab2prod_requirement(),
    }


def _yaml_word(name: str) -> str:
    """Return a column name as a YAML flow item: bare when it can be, else quoted."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in YAML_WORDS
    return name if plain else json.dumps(name)


def git(folder: Path, *args: str) -> str:
    """Run git in `folder` with lab2prod's author when git has none; return its output."""
    named = subprocess.run(
        ["git", "config", "user.email"], cwd=folder, capture_output=True, text=True
    )
    author = [] if named.stdout.strip() else [
        "-c", f"user.name={FALLBACK_AUTHOR[0]}", "-c", f"user.email={FALLBACK_AUTHOR[1]}"
    ]  # fmt: skip
    done = subprocess.run(["git", *author, *args], cwd=folder, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(f"{folder}: git {args[0]} failed: {last}")
    return done.stdout


def data_home() -> Path:
    """Return the user's data folder ($XDG_DATA_HOME, else ~/.local/share)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def template_repository(template: Path = TEMPLATE, repository: Path | None = None) -> Path:
    """Return a git repository holding `template` as its newest commit (copier updates only git templates).

    A template that changed since the last call gets a new commit; the earlier ones stay, so that
    copier can tell a project's template version from the newest one.
    """
    repository = repository or data_home() / "lab2prod" / "template"
    if not (repository / ".git").is_dir():
        repository.mkdir(parents=True, exist_ok=True)
        git(repository, "init", "--quiet", "--initial-branch=main")
    for entry in repository.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(template, repository, dirs_exist_ok=True, ignore=ignore)
    git(repository, "add", "--all")
    if git(repository, "status", "--porcelain").strip():
        git(repository, "commit", "--quiet", "-m", f"lab2prod {lab2prod.__version__} template")
        # a PEP 440 tag per template version: copier names the version a project was made from
        count = git(repository, "rev-list", "--count", "HEAD").strip()
        git(repository, "tag", f"{lab2prod.__version__}.post{count}")
    return repository


def place_data(spec: NewProject, contract: Contract, root: Path, dataset: str) -> None:
    """Copy the table into data/sources/<dataset>/ and write its reviewed-to-be contract."""
    from lab2prod.data.contract import contract_to_dict

    sources = root / "data" / "sources" / dataset
    sources.mkdir(parents=True, exist_ok=True)
    shutil.copy2(spec.data, sources / spec.data.name)
    contracts = root / "data" / "contracts"
    contracts.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(contract_to_dict(contract), sort_keys=False, allow_unicode=True)
    header = contract_header(contract, f"data/sources/{dataset}/{spec.data.name}")
    (contracts / f"{dataset}.yaml").write_text(header + body, encoding="utf-8")


def render(template: Path, root: Path, data: dict[str, Any]) -> None:
    """Render the template into `root` with copier (no questions asked, no template tasks run)."""
    from copier import run_copy
    from copier.errors import CopierError

    try:
        run_copy(
            str(template),
            str(root),
            data=data,
            defaults=True,
            unsafe=False,
            vcs_ref=None,
            quiet=True,
        )
    except CopierError as exc:  # copier's own errors: one line, not a traceback
        raise ConfigError(f"{template}: copier could not render the template: {exc}") from exc


def new_project(spec: NewProject, template: Path | None = None) -> Path:
    """Make a project from one table at `spec.path`; refuse bad input before writing anything.

    `template` is a git repository of the project template (default: the package's, mirrored by
    `template_repository`).
    """
    root = spec.path.resolve()
    check_destination(root)
    dataset = slug(spec.name or spec.data.stem)
    contract = inferred_contract(spec, dataset)
    data = answers(spec, contract)
    existed = root.exists()
    try:
        render(template or template_repository(), root, data)
        place_data(spec, contract, root, dataset)
        git(root, "init", "--quiet", "--initial-branch=main")
        git(root, "add", "--all")
        git(root, "commit", "--quiet", "-m", f"A lab2prod project from {spec.data.name}")
    except BaseException:
        if existed:
            for entry in root.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        else:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return root


def update_project(path: Path, template: Path | None = None) -> None:
    """Bring the template's newer version into the project at `path`, keeping the user's edits.

    The project must be a git repository with no uncommitted change (copier merges against its
    history); conflicts are written inline, for the user to resolve. The template is the one its
    `.copier-answers.yml` names: with `template` None, the package's template is first mirrored
    there (`template_repository`), and requirements.txt then names the lab2prod running now.
    """
    from copier import run_update
    from copier.errors import CopierError

    root = path.resolve()
    if not (root / ".copier-answers.yml").is_file():
        raise ConfigError(f"{root}: no .copier-answers.yml: not a project made by `lab2prod new`")
    if git(root, "status", "--porcelain").strip():
        raise ConfigError(f"{root}: uncommitted changes: commit them first, then update")
    if template is None:
        template_repository()
    try:
        run_update(
            str(root),
            data={"lab2prod_requirement": lab2prod_requirement()} if template is None else {},
            defaults=True,
            overwrite=True,
            unsafe=False,
            conflict="inline",
            quiet=True,
        )
    except CopierError as exc:  # copier's own errors: one line, not a traceback
        raise ConfigError(f"{root}: copier update failed: {exc}") from exc


def _cmd_new(args: argparse.Namespace) -> int:
    """Run `lab2prod new`: make the project, say where it is and what to do next."""
    spec = NewProject(
        path=Path(args.path),
        data=Path(args.data),
        target=args.target,
        task=args.task,
        id_column=args.id_column,
        date_column=args.date_column,
        name=args.name,
    )
    root = new_project(spec)
    print(f"made {root}: cd {args.path} && make run   (then make test)")
    print(f"review data/contracts/{slug(spec.name or spec.data.stem)}.yaml, then commit it")
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    """Run `lab2prod update`: bring the newer template into the project."""
    path = Path(args.path or ".")
    update_project(path)
    print(f"updated {path.resolve()} from the template: review `git diff`, then commit")
    return 0


def add_new_command(subparsers: Any) -> None:
    """Add `new` and `update` to the `lab2prod` command line."""
    p = subparsers.add_parser(
        "new",
        help="make a project of your own from one table",
        description="Make a complete lab2prod project from one table: pipeline, contract, tests, "
        "Makefile, CI and a first git commit. Exit 2 on bad input, with nothing written.",
    )
    p.add_argument("path", help="the new project's folder (must not exist, or be empty)")
    p.add_argument("--data", required=True, help="the table: CSV, JSON lines, Parquet or Excel")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--task", choices=["classification", "regression"], help="default: guessed")
    p.add_argument("--id-column", help="a unique id column (optional)")
    p.add_argument("--date-column", help="a date column: the split is then by time (optional)")
    p.add_argument("--name", help="the project's name (default: the table's file name)")
    p.set_defaults(func=_cmd_new)
    p = subparsers.add_parser(
        "update",
        help="bring the newer template into a project made by `lab2prod new`",
        description="Run copier's update: the template's changes come in, your edits stay.",
    )
    p.add_argument("path", nargs="?", help="the project (default: the working directory)")
    p.set_defaults(func=_cmd_update)

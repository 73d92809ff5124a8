"""The README and the documentation site: short, present tense, and true to the code they describe."""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest
import yaml

from lab2prod.cli import build_parser
from lab2prod.data.contract import contract_to_dict
from lab2prod.settings import load_contract

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_MAX_LINES = 150
# what belongs in CHANGELOG.md or benchmarks/RESULTS.md, not in a page that says what the code does
HISTORY = re.compile(
    r"load average|\bUTC\b|\bused to\b"
    r"|\b\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December) 20\d\d\b"
    r"|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"  # a commit hash
)


def _hook():
    """Import scripts/docs_reference.py, the mkdocs hook that renders the reference pages."""
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts" / "docs_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def history_lines(name: str, lines: list[tuple[int, str]]) -> list[str]:
    """Return `name:line: text` for each of `lines` that tells history or a measurement's date."""
    return [f"{name}:{n}: {text.strip()}" for n, text in lines if HISTORY.search(text)]


def comments_and_docstrings(source: str) -> list[tuple[int, str]]:
    """Return (line, text) of every comment and docstring line of Python `source`; code is left out."""
    found = [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                start = node.body[0].lineno
                found += [(start + i, line) for i, line in enumerate(doc.splitlines())]
    return found


def _pages() -> set[str]:
    return {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}


def _nav_pages(nav) -> set[str]:
    found = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found |= _nav_pages(value) if isinstance(value, list) else {value}
    return found


def test_the_readme_fits_on_one_screen_and_its_links_reach_files():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert len(links) >= 20  # the README points into the site
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == []


def test_no_history_in_the_readme_the_docs_or_the_comments_of_src():
    found = []
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        found += history_lines(
            path.relative_to(ROOT).as_posix(), list(enumerate(text.splitlines(), 1))
        )
    for path in sorted((ROOT / "src").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        found += history_lines(path.relative_to(ROOT).as_posix(), comments_and_docstrings(source))
    assert found == [], "move these to CHANGELOG.md or benchmarks/RESULTS.md:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "measured at load average 3.1",
        "# at 13:04 UTC",
        "fixed in commit 209943e",
        "on 1 December 2026",
        "it used to stop with a traceback",
    ],
)
def test_the_history_check_finds_each_kind(line):
    assert history_lines("x", [(1, line)]) == [f"x:1: {line}"]


def test_the_history_check_reads_comments_and_docstrings_not_code():
    source = (
        'import datetime as dt\n"""Stamp the page."""\nNOW = dt.UTC  # measured at load average 2\n'
    )
    assert history_lines("m.py", comments_and_docstrings(source)) == [
        "m.py:3: # measured at load average 2"
    ]


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert _nav_pages(config["nav"]) == _pages()
    assert config["theme"]["font"] is False  # Material's default loads Google Fonts


def test_the_cli_reference_shows_the_help_of_every_subcommand():
    rendered = _hook().cli_reference()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"$ lab2prod {name} --help\nusage: lab2prod {name}" in rendered
    assert "$ lab2prod contract infer --help" in rendered
    assert "--engine" in rendered  # an option of `lab2prod score`, from the parser itself


def test_the_env_reference_lists_every_key_of_the_env_files():
    hook = _hook()
    for name in ("env.yaml", "env.score.yaml"):
        table = hook.env_reference(name)
        keys = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        assert [k for k in keys if f"| `{k}` |" not in table] == []


def test_the_contract_reference_names_every_key_a_contract_file_holds():
    table = _hook().contract_reference()
    written = contract_to_dict(load_contract(ROOT / "data" / "contracts" / "credit.yaml"))
    top = [k for k in written if k != "columns" and f"`{k}" not in table]
    column = next(iter(written["columns"].values()))
    assert top == [] and [k for k in column if f"`{k}`" not in table] == []
    assert "`expect.min`" in table and "`target.labels`" in table
    assert "`quarantine`, `warn`" in table  # the allowed values come from the code


def test_the_make_reference_lists_every_target_make_help_lists():
    helped = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    targets = re.findall(r"^  make (\S+)", helped, flags=re.MULTILINE)
    table = _hook().make_reference()
    assert len(targets) > 10 and [t for t in targets if f"| `make {t}` |" not in table] == []


def test_an_unknown_reference_marker_is_refused():
    with pytest.raises(ValueError, match="unknown reference marker"):
        _hook().render("<!-- reference: nothing -->")


def _options_of(parser) -> dict[str, set[str]]:
    """Return each subcommand's name (`contract infer` too) mapped to its option strings."""
    found = {}
    for action in parser._actions:  # argparse keeps its subparsers only there
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for name, sub in action.choices.items():
                found[name] = {s for a in sub._actions for s in a.option_strings}
                found |= {f"{name} {k}": v for k, v in _options_of(sub).items()}
    return found


COMMAND_LINE = re.compile(r"(?:\.venv/bin/)?lab2prod ((?:contract )?[a-z-]+)([^`|#\n]*)")


def unknown_options(text: str, known: dict[str, set[str]]) -> list[str]:
    """Return `lab2prod COMMAND --option` for each option `text` names that COMMAND does not have."""
    wrong = []
    for command, rest in COMMAND_LINE.findall(text):
        if command not in known:
            continue  # prose: "lab2prod loads", "lab2prod's"
        wrong += [
            f"lab2prod {command} {option}"
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)
            if option not in known[command]
        ]
    return wrong


def test_every_lab2prod_option_the_readme_and_the_docs_name_exists():
    known = _options_of(build_parser())
    wrong = [
        f"{path.relative_to(ROOT)}: {line}"
        for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
        for line in unknown_options(path.read_text(encoding="utf-8"), known)
    ]
    assert wrong == []


def test_the_option_check_sees_a_wrong_option():
    known = _options_of(build_parser())
    text = (
        "`.venv/bin/lab2prod score --input a.csv --wokers 2` and lab2prod contract infer --target y"
    )
    assert unknown_options(text, known) == ["lab2prod score --wokers"]

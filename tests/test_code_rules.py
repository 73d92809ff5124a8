"""The house rules a reader can hold the code to: small rooms, short signatures, thin notebooks.

Each rule is a function that returns what breaks it, so a failure names the file, the line and
the thing to fix; a test per rule runs it over the tree, and a small case shows it can fail.
The README's and the comments' history (dates, load averages, "used to") is tests/test_docs.py's.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.test_docs import comments_and_docstrings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "src").rglob("*.py"))
MAX_MODULE_LINES = 550
MAX_PARAMETERS = 8
MAX_NOTEBOOK_CODE_LINES = 25
# a duration measured (`about 1.5 s`, `2 ms`) or a year; a citation's year (`Breck et al., 2017`) is
# part of the reference, not a date of the code's history
MEASUREMENT = re.compile(
    r"\b\d+(?:[.,]\d+)?\s?(?:s|ms|µs|sec|secs|seconds?|milliseconds?|min|minutes?)\b"
    r"|(?<!et al\. )(?<!et al\., )\b(?:19|20)\d\d\b"
)
# what breaks a rule in modules that other branches rewrite, by rule (`path: what`, without the
# line); an entry that no longer breaks its rule fails the test, so these only shrink
FIXED_ELSEWHERE = {
    "docstring": set(),
    "summary": set(),
    "measurement": set(),
}


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def pipeline_notebooks() -> list[Path]:
    """Return the pipeline notebooks: those the Makefile's NOTEBOOKS lists (nbval runs them)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    names = re.search(r"^NOTEBOOKS\s*:?=\s*(.+)$", makefile, flags=re.MULTILINE).group(1).split()
    return [ROOT / "notebooks" / f"{name}.ipynb" for name in names]


def long_module(path: Path) -> list[str]:
    """Return `path: N lines` when the module at `path` is longer than MAX_MODULE_LINES."""
    lines = len(path.read_text(encoding="utf-8").splitlines())
    return [f"{_name(path)}: {lines} lines"] if lines > MAX_MODULE_LINES else []


def long_signatures(path: Path) -> list[str]:
    """Return `path:line: name takes N parameters` for each function of more than MAX_PARAMETERS.

    Positional and keyword-only parameters count, `self` and `cls` do not; `*args` and `**kwargs`
    are one each.
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            named = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
            count = len([a for a in named if a not in ("self", "cls")])
            count += (args.vararg is not None) + (args.kwarg is not None)
            if count > MAX_PARAMETERS:
                found.append(f"{_name(path)}:{node.lineno}: {node.name} takes {count} parameters")
    return found


def _is_protocol(node: ast.ClassDef) -> bool:
    return any(
        (isinstance(b, ast.Name) and b.id == "Protocol")
        or (isinstance(b, ast.Attribute) and b.attr == "Protocol")
        for b in node.bases
    )


def _is_accessor(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Return True for a property's setter or deleter: the getter's docstring says what it is."""
    return any(
        isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter")
        for d in node.decorator_list
    )


def undocumented(path: Path) -> list[str]:
    """Return `path:line: name` for each public class, function or method without a docstring.

    Public: its name and its class's do not start with `_`. A function inside a function is not
    public; nor are the method stubs of a `Protocol` (the class's docstring names the API they
    mirror), a property's setter and a pytest hook (`pytest_configure`).
    """
    found = []

    def visit(body: list[ast.stmt], prefix: str, protocol: bool) -> None:
        for node in body:
            if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith(("_", "pytest_")):  # private, or a pytest hook pytest documents
                continue
            is_class = isinstance(node, ast.ClassDef)
            exempt = not is_class and (protocol or _is_accessor(node))
            if not exempt and not ast.get_docstring(node):
                found.append(f"{_name(path)}:{node.lineno}: {prefix}{node.name}")
            if is_class:
                visit(node.body, f"{prefix}{node.name}.", _is_protocol(node))

    visit(ast.parse(path.read_text(encoding="utf-8")).body, "", False)
    return found


def wrapped_summaries(path: Path) -> list[str]:
    """Return `path:line: name` for each docstring whose first line runs on into the next one.

    A docstring's first line says what the function does or returns, in one sentence; what more
    there is to say comes after a blank line.
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            lines = (ast.get_docstring(node, clean=False) or "").splitlines()
            if len(lines) > 1 and lines[1].strip():
                found.append(f"{_name(path)}:{node.lineno}: {node.name}")
    return found


def measurements(path: Path) -> list[str]:
    """Return `path:line: text` for each comment or docstring line that gives a duration or a year."""
    lines = sorted(comments_and_docstrings(path.read_text(encoding="utf-8")))
    return [f"{_name(path)}:{n}: {text.strip()}" for n, text in lines if MEASUREMENT.search(text)]


def _code_lines(source: str) -> int:
    return sum(
        1 for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def notebook_plumbing(path: Path) -> list[str]:
    """Return what makes the notebook at `path` more than a report.

    Over MAX_NOTEBOOK_CODE_LINES lines of code (blank lines and comments left out) outside the cell
    tagged `parameters`, and any `if upstream` or `if product` (a fallback for running alone: the
    step API finds a notebook's inputs the same way in a build and alone).
    """
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    outside = sum(
        _code_lines("".join(c["source"]))
        for c in code
        if "parameters" not in c.get("metadata", {}).get("tags", [])
    )
    found = []
    if outside > MAX_NOTEBOOK_CODE_LINES:
        found.append(
            f"{_name(path)}: {outside} lines of code outside the parameters cell "
            f"(at most {MAX_NOTEBOOK_CODE_LINES}): move them into the step"
        )
    for cell in code:
        for line in "".join(cell["source"]).splitlines():
            if re.search(r"\bif\s+(?:upstream|product)\b", line):
                found.append(f"{_name(path)}: {line.strip()}")
    return found


def test_no_module_is_longer_than_550_lines():
    assert [f for path in SOURCES for f in long_module(path)] == []


def test_no_function_takes_more_than_8_parameters():
    assert [f for path in SOURCES for f in long_signatures(path)] == []


def _beyond_known(found: list[str], rule: str) -> list[str]:
    """Return the findings that FIXED_ELSEWHERE[rule] does not hold; fail on an entry that is fixed."""
    known = FIXED_ELSEWHERE[rule]
    unlined = [re.sub(r":\d+: ", ": ", f, count=1) for f in found]
    assert sorted(known - set(unlined)) == [], f"fixed: remove them from FIXED_ELSEWHERE[{rule!r}]"
    return [f for f, key in zip(found, unlined) if key not in known]


def test_every_public_class_and_function_has_a_docstring():
    found = [f for path in SOURCES for f in undocumented(path)]
    assert _beyond_known(found, "docstring") == []


def test_every_docstring_says_what_it_does_in_its_first_line_alone():
    found = [f for path in SOURCES for f in wrapped_summaries(path)]
    assert _beyond_known(found, "summary") == []


def test_no_comment_or_docstring_gives_a_measurement_or_a_year():
    found = _beyond_known([f for path in SOURCES for f in measurements(path)], "measurement")
    assert found == [], (
        "measurements belong in benchmarks/RESULTS.md, dates in CHANGELOG.md:\n" + "\n".join(found)
    )


@pytest.mark.parametrize("path", pipeline_notebooks(), ids=lambda p: p.stem)
def test_a_pipeline_notebook_is_a_report_not_plumbing(path):
    assert path.is_file()
    assert notebook_plumbing(path) == []


def test_each_rule_finds_what_breaks_it(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""A module."""\n\n'
        "import typing\n\n\n"
        "class Reader(typing.Protocol):\n"
        '    """What a reader offers."""\n\n'
        "    def read(self) -> str: ...\n\n\n"
        "def wide(self, a, b, c, d, e, f, g, h, *, i): pass\n\n\n"
        "def narrow(a, b, c, d, e, f, g, h):\n"
        '    """Return nothing, in about 1.5 s."""\n\n\n'
        'def run_on():\n    """Return nothing, and say so on\n    two lines."""\n\n\n'
        "def _private(): pass  # fixed in 2026\n"
        "# the ML Test Score (Breck et al., 2017)\n" + "x = 1\n" * 540,
        encoding="utf-8",
    )
    name = str(module)
    assert long_module(module) == [f"{name}: 565 lines"]
    assert long_signatures(module) == [f"{name}:12: wide takes 9 parameters"]
    assert undocumented(module) == [f"{name}:12: wide"]
    assert measurements(module) == [
        f"{name}:16: Return nothing, in about 1.5 s.",
        f"{name}:24: # fixed in 2026",
    ]
    assert wrapped_summaries(module) == [f"{name}:19: run_on"]


def test_the_notebook_rule_finds_plumbing_and_long_code(tmp_path):
    def cell(source: str, tags: tuple[str, ...] = ()) -> dict:
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source}

    notebook = tmp_path / "train.ipynb"
    cells = [
        cell("upstream = None\nproduct = None\n" + "x = 1\n" * 30, ("parameters",)),
        cell("# a comment\n\n" + "y = 2\n" * 25),
    ]
    notebook.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert notebook_plumbing(notebook) == []  # the parameters cell and comments do not count

    cells.append(cell("path = upstream['split'] if upstream else 'split.csv'"))
    notebook.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert notebook_plumbing(notebook) == [
        f"{notebook}: 26 lines of code outside the parameters cell (at most 25): move them into the step",
        f"{notebook}: path = upstream['split'] if upstream else 'split.csv'",
    ]

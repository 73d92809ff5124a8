"""Turn the notebooks marked for production into plain Python scripts that need no Jupyter.

A notebook is marked by its metadata ``{"lab2prod": {"export": true}}``. In
the script, the tagged ``parameters`` cell becomes command-line options with
the same defaults (``upstream`` and ``product``, which only Ploomber fills,
are left out), cells tagged ``exploration`` are dropped, markdown becomes
comments, and the code cells run in order at module level, as in the kernel,
under ``if __name__ == "__main__":`` so that a process pool's worker (spawn or
forkserver, which import the main script) runs none of them.
The notebook is read as JSON: no Jupyter package is needed to export, and
nothing Jupyter-related is imported when the script runs.
"""

from __future__ import annotations

import ast
import io
import json
import os
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab2prod.data.lake import atomic_write_text
from lab2prod.errors import ConfigError

EXPLORATION = "exploration"
PARAMETERS = "parameters"
PLOOMBER_ONLY = ("upstream", "product")
MAGIC_PREFIXES = ("%", "!")
PROJECT_PACKAGE = "lab2prod"  # a script run by a Python without it says how to run it


@dataclass(frozen=True)
class Parameter:
    """One option of the script: name, default (a Python literal) and help text."""

    name: str
    default: Any
    help: str


def _source(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def read_notebook(path: str | os.PathLike) -> dict[str, Any]:
    """Return a notebook's JSON, with a one-line error when it is missing or not a notebook."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: notebook not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not a notebook (invalid JSON at line {exc.lineno}): fix or re-save it"
        ) from None
    if not isinstance(data, dict) or "cells" not in data:
        raise ConfigError(f"{path}: not a notebook (no cells)")
    return data


def is_marked(notebook: dict[str, Any]) -> bool:
    """Return True when the notebook's metadata marks it for production export."""
    return bool(notebook.get("metadata", {}).get("lab2prod", {}).get("export"))


def marked_notebooks(folder: str | os.PathLike) -> list[Path]:
    """Return the notebooks of `folder` marked for export, sorted by name."""
    return [p for p in sorted(Path(folder).glob("*.ipynb")) if is_marked(read_notebook(p))]


def parameters_of(code: str, origin: str) -> list[Parameter]:
    """Return the options a parameters cell declares: each ``name = literal  # help`` line."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ConfigError(f"{origin}: parameters cell line {exc.lineno}: {exc.msg}") from None
    lines = code.splitlines()
    params = []
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise ConfigError(
                f"{origin}: parameters cell line {node.lineno}: only `name = value` lines belong there"
            )
        name = node.targets[0].id
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ConfigError(
                f"{origin}: parameter {name!r} must have a literal default (a number, text, "
                f"True/False, None, a list or a dict)"
            ) from None
        if name in PLOOMBER_ONLY:
            continue
        line = lines[node.end_lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line[node.end_col_offset :] else ""
        params.append(Parameter(name=name, default=default, help=comment))
    return params


def _code_of(cell: dict[str, Any], origin: str, index: int) -> str:
    code = _source(cell).rstrip()
    for number, line in enumerate(code.splitlines(), start=1):
        if line.lstrip().startswith(MAGIC_PREFIXES):
            raise ConfigError(
                f"{origin}: cell {index} line {number}: IPython magic {line.strip()!r} cannot run in "
                f"a script: replace it with Python or tag the cell '{EXPLORATION}'"
            )
    return code


def _comment(markdown: str) -> str:
    return "\n".join(f"# {line}".rstrip() for line in markdown.strip().splitlines())


_HELPERS = '''

def _value(text):
    """Read an option like a Python literal (0.5, None, True, [1, 2]); anything else stays text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _flag(text):
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _needs(package):
    """Stop in one line when this Python cannot import `package` (run outside the project's .venv)."""
    import importlib.util
    import os
    import sys

    if importlib.util.find_spec(package) is not None:
        return
    venv = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "bin", "python")
    hint = f"{os.path.relpath(venv)} {os.path.relpath(__file__)}" if os.path.exists(venv) else "the Python of the project's .venv (make install)"
    sys.exit(f"{os.path.relpath(__file__)}: {sys.executable} cannot import {package}: run it with {hint}")
'''


def _option(param: Parameter) -> str:
    kind = type(param.default)
    if kind is bool:
        typ = "_flag"
    elif kind in (int, float, str):
        typ = kind.__name__
    else:  # None, lists and dicts: read as a Python literal
        typ = "_value"
    shown = f"default: {param.default!r}"
    text = f"{param.help} ({shown})" if param.help else f"({shown})"
    return (
        f"parser.add_argument({('--' + param.name.replace('_', '-'))!r}, dest={param.name!r}, type={typ}, "
        f"default={param.default!r},\n                    help={text.replace('%', '%%')!r})"
    )


def _under_main_guard(code: str) -> str:
    """Return `code` indented under ``if __name__ == "__main__":``, every string keeping its text.

    The lines that continue a multi-line string stay as they are (checked on the syntax tree).
    """
    keep: set[int] = set()  # lines inside a string that began on an earlier line
    opened: list[int] = []  # start lines of the f-strings open (Python 3.12 splits them in tokens)
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        name = tokenize.tok_name[token.type]
        if name == "FSTRING_START":
            opened.append(token.start[0])
        elif name == "FSTRING_END":
            keep.update(range(opened.pop() + 1, token.end[0] + 1))
        elif token.type == tokenize.STRING:
            keep.update(range(token.start[0] + 1, token.end[0] + 1))
    lines = [
        line if number in keep or not line.strip() else f"    {line}"
        for number, line in enumerate(code.splitlines(), start=1)
    ]
    guarded = 'if __name__ == "__main__":  # a pool worker importing this script runs nothing\n'
    guarded += "\n".join(lines) + "\n"
    same = [ast.dump(node) for node in ast.parse(code).body] == [
        ast.dump(node) for node in ast.parse(guarded).body[0].body
    ]
    if not same:  # tokenize and ast disagree: never write a script that means something else
        raise ConfigError("the exported script would not mean what the notebook says: report this")
    return guarded


def _packages(body: list[str]) -> list[str]:
    """Return the packages of the project the script's cells import (lab2prod): checked before they run."""
    names = set()
    for code in body:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
    return sorted(names & {PROJECT_PACKAGE})


def export_notebook(
    path: str | os.PathLike, notebook: dict[str, Any] | None = None, origin: str | None = None
) -> str:
    """Return the Python script of a notebook: options from its parameters cell, exploration cells dropped."""
    path = Path(path)
    notebook = notebook if notebook is not None else read_notebook(path)
    origin = origin or path.as_posix()
    cells = notebook["cells"]
    marked = [
        i for i, c in enumerate(cells) if c.get("cell_type") == "code" and PARAMETERS in _tags(c)
    ]
    if len(marked) != 1:
        raise ConfigError(
            f"{origin}: expected exactly one code cell tagged '{PARAMETERS}', found {len(marked)}"
        )
    params = parameters_of(_source(cells[marked[0]]), origin)
    first_markdown = next(
        (i for i, c in enumerate(cells) if c.get("cell_type") == "markdown"), None
    )
    title = _source(cells[first_markdown]).strip() if first_markdown is not None else ""
    first_line = title.splitlines()[0].lstrip("# ").strip() if title else path.stem
    body: list[str] = []
    for i, cell in enumerate(cells):
        if i == marked[0] or EXPLORATION in _tags(cell):
            continue
        if cell.get("cell_type") == "code":
            code = _code_of(cell, origin, i)
            if code:
                body.append(f"# --- cell {i}\n{code}")
        elif cell.get("cell_type") == "markdown" and i != first_markdown:
            body.append(_comment(_source(cell)))
    doc = title.replace('"""', "'''").replace("\\", "\\\\")
    options = "\n".join(_option(p) for p in params)
    assign = "\n".join(f"{p.name} = _args.{p.name}" for p in params)
    return (
        f'"""{doc}\n\nExported from {origin} by `lab2prod export`: edit the notebook, not this file.\n"""\n'
        f"# Generated file. Options come from the notebook's parameters cell, with the same defaults;\n"
        f"# cells tagged '{EXPLORATION}' are left out. Run: python {path.stem}.py --help\n"
        f"import argparse\nimport ast\n"
        f"{_HELPERS}\n\n"
        + _under_main_guard(
            f"parser = argparse.ArgumentParser(description={first_line!r})\n"
            f"{options}\n"
            f"_args = parser.parse_args()\n"
            + "".join(f"_needs({p!r})\n" for p in _packages(body))
            + f"{assign}\n\n"
            + "\n\n".join(body)
        )
    )


def export_all(
    notebooks: list[Path], output_dir: str | os.PathLike, root: str | os.PathLike | None = None
) -> list[Path]:
    """Export each notebook to ``<output_dir>/<stem>.py`` atomically; return the scripts written."""
    written = []
    for nb in notebooks:
        origin = Path(os.path.relpath(nb, root)).as_posix() if root else Path(nb).as_posix()
        script = export_notebook(nb, origin=origin)
        written.append(atomic_write_text(Path(output_dir) / f"{Path(nb).stem}.py", script))
    return written


def stale_exports(
    notebooks: list[Path], output_dir: str | os.PathLike, root: str | os.PathLike | None = None
) -> list[str]:
    """Return the scripts in `output_dir` that are missing or differ from a fresh export (for CI)."""
    stale = []
    for nb in notebooks:
        origin = Path(os.path.relpath(nb, root)).as_posix() if root else Path(nb).as_posix()
        target = Path(output_dir) / f"{Path(nb).stem}.py"
        if not target.is_file() or target.read_text(encoding="utf-8") != export_notebook(
            nb, origin=origin
        ):
            stale.append(str(target))
    return stale

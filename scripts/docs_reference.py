"""The reference pages where the code is the truth: an mkdocs hook that renders them at build time.

A page holds a marker line and the hook replaces it:

- `<!-- reference: cli -->`: `lab2prod --help` and the help of every subcommand, from
  `lab2prod.cli.build_parser`;
- `<!-- reference: contract -->`: the data contract's keys, from the `Contract` and `ColumnRule`
  dataclasses and the allowed values in `lab2prod.data.contract`;
- `<!-- reference: env FILE -->`: the top-level keys of FILE (`env.yaml`, `env.score.yaml`) with
  their values and comments, as the file holds them;
- `<!-- reference: make -->`: the Makefile's targets with their `## ` help, as `make help` lists them.

mkdocs loads it through `hooks:` in mkdocs.yml; the functions are plain, so tests call them too.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- reference: (\w+)(?: ([\w.]+))? -->$", flags=re.MULTILINE)
HELP_WIDTH = "100"


def _subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str]]:
    """Return (command line, help text) of `parser` and of every subcommand under it, depth first."""
    out = io.StringIO()
    with redirect_stdout(out):
        parser.print_help()
    found = [(prefix, out.getvalue())]
    for action in parser._actions:  # argparse keeps its subparsers only there
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _subcommands(sub, f"{prefix} {name}")
    return found


def cli_reference() -> str:
    """Return Markdown with the help of `lab2prod` and of each of its subcommands."""
    from lab2prod.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps at the terminal's width
    try:
        commands = _subcommands(build_parser(), "lab2prod")
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    parts = []
    for line, text in commands:
        level = "##" if line.count(" ") <= 1 else "###"
        parts.append(f"{level} `{line}`\n\n```text\n$ {line} --help\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def _shown(value) -> str:
    """Return a default as YAML spells it, in code style; None is a key left unset."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def contract_reference() -> str:
    """Return Markdown tables of the contract's keys, the defaults a file that omits them gets, and the allowed values.

    The defaults are those of `contract_from_dict` reading the smallest contract it accepts (a
    target and its column), so the table says what a file gets, not what the dataclasses hold.
    """
    from lab2prod.data import contract as c

    smallest = c.contract_from_dict({"target": "y", "columns": {"y": None}})
    allowed = {
        "type": c.TYPES,
        "on_fail": c.SEVERITIES,
        "duplicates": c.DUPLICATE_ROWS,
        "duplicate_ids": c.DUPLICATE_IDS,
        "task": ("classification", "regression"),
        "extra_columns": ("warn", "stop"),  # anything but stop warns (conditioning._match_columns)
    }
    # the YAML spelling of fields that the dataclasses hold under another name
    yaml_name = {
        "labels": "target.labels",
        "positive_label": "target.positive",
        "expect_min": "expect.min",
        "expect_max": "expect.max",
        "expect_categories": "expect.categories",
    }
    required = {
        "target": "required: the target column's name, or a mapping with `name`",
        "columns": "required: each column's name and its keys (below)",
    }
    skip = {"origin", "name"}

    def table(cls, example) -> str:
        rows = ["| key | default | allowed values |", "|---|---|---|"]
        for field in dataclasses.fields(cls):
            if field.name in skip:
                continue
            values = ", ".join(f"`{v}`" for v in allowed.get(field.name, ())) or "any"
            default = required.get(field.name) or _shown(getattr(example, field.name))
            rows.append(f"| `{yaml_name.get(field.name, field.name)}` | {default} | {values} |")
        return "\n".join(rows)

    return (
        "### The contract (top level)\n\n"
        + table(c.Contract, smallest)
        + "\n\n### A column (under `columns: {NAME: ...}`)\n\n"
        + table(c.ColumnRule, smallest.columns[0])
        + "\n"
    )


KEY_LINE = re.compile(r"^(\w+):\s*(.*?)\s*(?:#\s*(.*))?$")


def env_reference(filename: str) -> str:
    """Return a Markdown table of the top-level keys of the project's `filename`, value and comment."""
    rows = ["| key | value in the file | what it is |", "|---|---|---|"]
    for line in (ROOT / filename).read_text(encoding="utf-8").splitlines():
        match = KEY_LINE.match(line)
        if match:
            key, value, comment = match.groups()
            shown = f"`{value}`" if value else "(below)"
            rows.append(f"| `{key}` | {shown} | {(comment or '').replace('|', '/')} |")
    return "\n".join(rows) + "\n"


MAKE_TARGET = re.compile(r"^([a-zA-Z_-]+):.*?## (.*)$", flags=re.MULTILINE)


def make_reference() -> str:
    """Return a Markdown table of the Makefile's targets and their help, in the Makefile's order."""
    rows = ["| target | what it does |", "|---|---|"]
    for target, text in MAKE_TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")):
        rows.append(f"| `make {target}` | {text.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def render(markdown: str) -> str:
    """Return `markdown` with every reference marker replaced by what the code says."""

    def one(match: re.Match) -> str:
        kind, arg = match.groups()
        if kind == "cli":
            return cli_reference()
        if kind == "contract":
            return contract_reference()
        if kind == "env" and arg:
            return env_reference(arg)
        if kind == "make":
            return make_reference()
        raise ValueError(f"unknown reference marker {match.group(0)!r}")

    return MARKER.sub(one, markdown)


def on_page_markdown(markdown: str, **_) -> str:
    """mkdocs hook: render the reference markers of a page."""
    return render(markdown)

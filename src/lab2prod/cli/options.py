"""The options several commands share, each defined once, and the project defaults they fall back on."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab2prod.errors import ConfigError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2

# The options several commands share, each defined once (flag: help). None has an argparse default:
# an unset one takes the project's env.yaml value (settings.project_defaults) or the package's.
SHARED_OPTIONS = {
    "--root": "project folder (default: found from the working directory)",
    "--contract": "the data contract (default: the one the pipeline trained with, "
    "<lake>/contracts/<dataset>.yaml, else env.yaml's contract)",
    "--lake": "the lake folder (default: env.yaml's lake)",
    "--reports": "where reports go (default: env.yaml's reports)",
    "--products": "the pipeline's products folder (default: env.yaml's products)",
    "--model-name": "registered model name (default: env.yaml's model_name)",
    "--status": "the monitor's status JSON, written by monitor, read by retrain "
    "(default: <reports>/monitoring.json)",
}


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help: str,
    description: str | None = None,
    *,
    as_written: bool = False,
    tracking_server: bool = False,
) -> argparse.ArgumentParser:
    """Add the subcommand `name`, which runs `run(args)`, to `sub`; return its parser for its options.

    `as_written`: the description keeps its own line breaks. `tracking_server`: `main` checks that
    the tracking server answers before the command runs.
    """
    p = sub.add_parser(
        name,
        help=help,
        description=description,
        **({"formatter_class": argparse.RawDescriptionHelpFormatter} if as_written else {}),
    )
    p.set_defaults(func=run, **({"tracking_server": True} if tracking_server else {}))
    return p


def add_group(
    sub: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse._SubParsersAction:
    """Add the group of commands `name` (`lab2prod NAME ACTION`) to `sub`; return its subcommands."""
    p = sub.add_parser(name, help=help, description=description)
    return p.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def input_option(p: argparse.ArgumentParser, help: str) -> None:
    """Add the required --input, the file a command reads, described by `help`."""
    p.add_argument("--input", required=True, help=help)


def registered_model_option(p: argparse.ArgumentParser) -> None:
    """Add --model, the registered model a release command acts on (default: env.yaml's model_name)."""
    p.add_argument("--model", help=SHARED_OPTIONS["--model-name"])


def shared_options(p: argparse.ArgumentParser, *flags: str) -> None:
    """Add the shared options `flags` (keys of SHARED_OPTIONS) to the subcommand `p`."""
    for flag in flags:
        p.add_argument(flag, help=SHARED_OPTIONS[flag])


def unset_options(p: argparse.ArgumentParser, default: str, *specs: tuple[str, type, str]) -> None:
    """Add options (flag, type, what) that are None when unset, so the package's default applies.

    `default` names where that default lives, with {key} for the option's name (drift_share).
    """
    for flag, kind, what in specs:
        key = flag[2:].replace("-", "_")
        p.add_argument(flag, type=kind, help=f"{what} (default: {default.format(key=key)})")


def project_options(p: argparse.ArgumentParser) -> None:
    """Add the options of a command that works on a project: its contract, lake, reports and folder."""
    shared_options(p, "--contract", "--lake", "--reports", "--root")


def read_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the reading options given (delimiter, decimal, thousands, encoding, sheet) as keyword arguments."""
    return {
        k: getattr(args, k)
        for k in ("delimiter", "decimal", "thousands", "encoding", "sheet")
        if getattr(args, k, None) is not None
    }


def add_read_options(p: argparse.ArgumentParser) -> None:
    """Add the options that say how a source file is read (as ingest reads it)."""
    p.add_argument("--delimiter", help="CSV field delimiter (default ','; use $'\\t' for tabs)")
    p.add_argument("--decimal", help="CSV decimal mark (default '.'; ',' for a decimal comma)")
    p.add_argument(
        "--thousands",
        help="CSV thousands mark (default none; ',' reads 2,000 as 2000; with --decimal , use '.')",
    )
    p.add_argument(
        "--encoding", help="text encoding of CSV or JSON lines (default utf-8; a BOM is accepted)"
    )
    p.add_argument(
        "--sheet",
        help="the sheet of an Excel workbook to read: its name, or its position from 0 (default: 0, "
        "the first)",
    )


def with_project_defaults(args: argparse.Namespace) -> Path:
    """Return the project folder and fill the options left unset from its env.yaml (settings.project_defaults)."""
    from lab2prod import settings

    root = settings.project_root(args.root)
    defaults = settings.project_defaults(root)
    for key, value in defaults.items():
        if getattr(args, key, "absent") is None:
            setattr(args, key, value)
    if getattr(args, "contract", "absent") is None:
        defaults[
            "contract"
        ]  # a command that reads a contract: one line naming env.yaml and the key
    return root


def project_or_none(explicit: str | None) -> Path | None:
    """Return the project folder, or None when the command runs outside one and needs none."""
    from lab2prod import settings

    try:
        return settings.project_root(explicit)
    except ConfigError:
        if explicit:
            raise
        return None

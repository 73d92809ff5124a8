"""The `lab2prod` command: parses arguments, calls the package, maps errors to exit codes and one-line messages.

Exit codes: 0 success, 1 a check found a problem, 2 unusable input or configuration.

Each group of commands is a module of this package with an `add_commands(sub)` that adds its
subcommands; `COMMAND_GROUPS` lists them in the order `lab2prod --help` shows them. A command that
talks to the tracking server sets ``tracking_server=True`` in its defaults, and `main` checks that
server first. The command modules import the package inside each command so that `lab2prod --help`
imports none of it (docs/explanation/layout.md, "Imports").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from lab2prod import __version__
from lab2prod.cli import data, monitoring, release, scoring
from lab2prod.cli.options import EXIT_USAGE
from lab2prod.errors import Lab2ProdError
from lab2prod.project_new import add_new_command

# the groups of commands, in the order of `lab2prod --help`: each module's add_commands(sub)
COMMAND_GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    data.add_commands,
    monitoring.add_commands,
    scoring.add_commands,
    release.add_commands,
    add_new_command,  # lab2prod new, lab2prod update (project_new.py)
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lab2prod",
        description="Notebook-first MLOps: the commands behind the pipelines (ploomber build runs the notebooks).",
    )
    parser.add_argument("--version", action="version", version=f"lab2prod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_commands in COMMAND_GROUPS:
        add_commands(sub)
    return parser


def _check_tracking_server() -> None:
    """Fail in one line when $MLFLOW_TRACKING_URI names a server that does not answer (MLflow would retry for minutes)."""
    from lab2prod import settings
    from lab2prod.tracking_server import check_reachable

    check_reachable(settings.tracking_uri(None))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if getattr(args, "tracking_server", False):
            _check_tracking_server()
        return func(args)
    except Lab2ProdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Run `main` as the `lab2prod` console command and exit with its code."""
    sys.exit(main())

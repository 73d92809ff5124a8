"""The data commands: `validate` a file against its contract, `contract infer` one from a file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lab2prod.cli.options import (
    EXIT_OK,
    add_command,
    add_group,
    add_read_options,
    input_option,
    read_options,
    shared_options,
)


def _cmd_validate(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.data.validate import validate_file

    root = settings.project_root(args.root) if args.root or not args.contract else None
    contract_path = (
        Path(args.contract) if args.contract else Path(settings.project_defaults(root)["contract"])
    )
    report = validate_file(
        Path(args.input),
        settings.load_contract(contract_path),
        **({"mode": args.mode} if args.mode else {}),
        quarantine_output=Path(args.quarantine) if args.quarantine else None,
        **read_options(args),
    )
    print(report.describe())
    return EXIT_OK


def _cmd_contract_infer(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.data.contract import contract_to_dict
    from lab2prod.data.inference import infer_contract
    from lab2prod.data.validate import read_any

    frame = read_any(Path(args.input), **read_options(args)).rows
    contract = infer_contract(
        frame,
        dataset=args.dataset or Path(args.input).stem,
        target=args.target,
        task=args.task,
        id_column=args.id_column,
        date_columns=tuple(args.date_column or ()),
        date_format=args.date_format,
    )
    data = contract_to_dict(contract)
    if args.output:
        settings.write_yaml(data, args.output)
        print(f"wrote {args.output}: review it, then commit it")
    else:
        print(json.dumps(data, indent=2))
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the data commands to the `lab2prod` subcommands `sub`."""
    p = add_command(
        sub,
        "validate",
        _cmd_validate,
        help="check one data file against the contract and print a summary",
        description="Check one CSV, JSON lines, Parquet or Excel file against the data contract. "
        "Exit 0 when it can be used (bad rows quarantined), 2 when it cannot.",
    )
    input_option(p, "the file to check")
    p.add_argument(
        "--mode",
        choices=["train", "score"],
        help="train: the target is required; score: the target may be absent (default: train, "
        "validate_file's)",
    )
    shared_options(p, "--contract")
    p.add_argument("--quarantine", help="write the quarantined rows to this CSV")
    shared_options(p, "--root")
    add_read_options(p)

    actions = add_group(
        sub,
        "contract",
        help="work with data contracts",
        description="Infer a data contract from a file, to review and commit.",
    )
    q = add_command(
        actions,
        "infer",
        _cmd_contract_infer,
        help="infer a contract from a file",
        description="Infer a contract (types, ranges, "
        "categories, labels) from a data file and print or write it as YAML.",
    )
    input_option(q, "a CSV, JSON lines, Parquet or Excel file")
    q.add_argument("--target", required=True, help="the target column")
    q.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="default: guessed from the target as the pipeline does (regression for numbers with "
        "more than 10 distinct values, else classification)",
    )
    q.add_argument("--id-column", help="the unique id column, if any")
    q.add_argument("--date-column", action="append", help="a date column (repeatable)")
    q.add_argument(
        "--date-format",
        help="the format of the --date-column dates, e.g. '%%d/%%m/%%Y' (default: found from the column)",
    )
    q.add_argument("--dataset", help="dataset name (default: the file's stem)")
    q.add_argument("--output", help="write the YAML here instead of printing JSON")
    add_read_options(q)

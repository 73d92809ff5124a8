"""The `lab2prod` command: parses arguments, calls the package, maps errors to exit codes and one-line messages.

Exit codes: 0 success, 1 a check found a problem, 2 unusable input or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from lab2prod import __version__
from lab2prod.errors import ConfigError, Lab2ProdError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2


def _cmd_validate(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.data.validate import validate_file

    root = settings.project_root(args.root) if args.root or not args.contract else None
    contract_path = Path(args.contract) if args.contract else settings.resolve(root, "data/contracts/credit.yaml")
    report = validate_file(Path(args.input), settings.load_contract(contract_path), mode=args.mode,
                           quarantine_output=Path(args.quarantine) if args.quarantine else None)
    print(report.describe())
    return EXIT_OK


def _cmd_contract_infer(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.data.contract import contract_to_dict, infer_contract
    from lab2prod.data.validate import read_any

    frame = read_any(Path(args.input)).rows
    contract = infer_contract(frame, dataset=args.dataset or Path(args.input).stem, target=args.target, task=args.task,
                              id_column=args.id_column, date_columns=tuple(args.date_column or ()))
    data = contract_to_dict(contract)
    if args.output:
        settings.write_yaml(data, args.output)
        print(f"wrote {args.output}: review it, then commit it")
    else:
        print(json.dumps(data, indent=2))
    return EXIT_OK


def _release_target(args: argparse.Namespace) -> str:
    """Point MLflow at the project's store and return the registered model name (--model, else env.yaml's)."""
    from lab2prod import settings, tracking

    root = settings.project_root(args.root)
    tracking.use_store(root)
    if args.model:
        return args.model
    env = settings.read_yaml(root / "env.yaml")
    if not env.get("model_name"):
        raise ConfigError(f"{root / 'env.yaml'}: no model_name; pass --model NAME")
    return str(env["model_name"])


def _cmd_promote(args: argparse.Namespace) -> int:
    from lab2prod.release.promotion import promote_checked

    name = _release_target(args)
    print(f"infrastructure check of {name} v{args.version} in a fresh process ...", flush=True)
    check, old = promote_checked(name, args.version, args.reason)
    print(f"loaded in {check.load_seconds:.2f} s; {check.batch_rows} rows scored in {check.latency_ms_batch:.1f} ms")
    print(f"{name} v{args.version} is champion" + (f"; v{old.version} keeps alias 'previous'" if old else ""))
    return EXIT_OK


def _cmd_rollback(args: argparse.Namespace) -> int:
    from lab2prod.release.promotion import rollback_checked

    name = _release_target(args)
    print(f"infrastructure check of {name}@previous in a fresh process ...", flush=True)
    _, restored, demoted = rollback_checked(name, args.reason)
    print(f"{name} v{restored.version} is champion again; v{demoted.version} now holds alias 'previous'")
    return EXIT_OK


def _cmd_repro_check(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.release.repro import repro_check

    overrides = {}
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (a value of {args.env_file})")
        overrides[key] = value
    result = repro_check(settings.project_root(args.root), env_file=args.env_file, overrides=overrides,
                         keep=Path(args.keep) if args.keep else None, until=args.until, progress=print)
    print(result.describe())
    return EXIT_OK if result.identical else EXIT_CHECK_FAILED


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lab2prod",
        description="Notebook-first MLOps: the commands behind the pipelines (ploomber build runs the notebooks).",
    )
    parser.add_argument("--version", action="version", version=f"lab2prod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check one data file against the contract and print a summary",
                       description="Check one CSV, JSON lines, Parquet or Excel file against the data contract. "
                                   "Exit 0 when it can be used (bad rows quarantined), 2 when it cannot.")
    p.add_argument("--input", required=True, help="the file to check")
    p.add_argument("--mode", choices=["train", "score"], default="train",
                   help="train: the target is required; score: the target may be absent (default: train)")
    p.add_argument("--contract", help="contract YAML (default: data/contracts/credit.yaml of the project)")
    p.add_argument("--quarantine", help="write the quarantined rows to this CSV")
    p.add_argument("--root", help="project folder (default: found from the working directory)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("contract", help="work with data contracts",
                       description="Infer a data contract from a file, to review and commit.")
    csub = p.add_subparsers(dest="contract_command", metavar="ACTION", required=True)
    q = csub.add_parser("infer", help="infer a contract from a file", description="Infer a contract (types, ranges, "
                        "categories, labels) from a data file and print or write it as YAML.")
    q.add_argument("--input", required=True, help="a CSV, JSON lines, Parquet or Excel file")
    q.add_argument("--target", required=True, help="the target column")
    q.add_argument("--task", choices=["classification", "regression"], default="classification")
    q.add_argument("--id-column", help="the unique id column, if any")
    q.add_argument("--date-column", action="append", help="a date column (repeatable)")
    q.add_argument("--dataset", help="dataset name (default: the file's stem)")
    q.add_argument("--output", help="write the YAML here instead of printing JSON")
    q.set_defaults(func=_cmd_contract_infer)

    p = sub.add_parser("promote", help="make a registered model version the champion by hand, with a reason",
                       description="Check VERSION in a fresh process (load, score its input example), then move "
                                   "alias 'champion' to it; the replaced champion keeps 'previous'. The reason, "
                                   "time and action are recorded as tags on the versions.")
    p.add_argument("version", help="the model version to promote (a number)")
    p.add_argument("--reason", required=True, help="why: recorded as tag release.reason")
    p.add_argument("--model", help="registered model name (default: model_name in env.yaml)")
    p.add_argument("--root", help="project folder (default: found from the working directory)")
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser("rollback", help="give 'champion' back to the version holding 'previous', with a reason",
                       description="Check the 'previous' version in a fresh process, then make it champion again; "
                                   "the demoted version takes alias 'previous' (a second rollback undoes the first).")
    p.add_argument("--reason", required=True, help="why: recorded as tag release.reason")
    p.add_argument("--model", help="registered model name (default: model_name in env.yaml)")
    p.add_argument("--root", help="project folder (default: found from the working directory)")
    p.set_defaults(func=_cmd_rollback)

    p = sub.add_parser("repro-check", help="build the pipeline twice in clean folders and compare the results",
                       description="Copy the project into two temporary folders, run `ploomber build` in each, "
                                   "and compare content hashes of the normalized data, the metrics and the "
                                   "test-set predictions. Exit 0 when all match, 1 when anything differs.")
    p.add_argument("--env-file", default="env.test.yaml", help="env file of the builds (default: env.test.yaml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a value of the env file in both builds (repeatable), e.g. sample_rows=300")
    p.add_argument("--keep", help="keep the two build folders under this folder instead of deleting them")
    p.add_argument("--until", metavar="TASK", help="build only up to TASK (ploomber build --partially TASK); "
                   "artifacts neither build reached are not compared")
    p.add_argument("--root", help="project folder (default: found from the working directory)")
    p.set_defaults(func=_cmd_repro_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except Lab2ProdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

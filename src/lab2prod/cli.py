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
from lab2prod.errors import Lab2ProdError

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


def _project(explicit: str | None):
    """Return the project folder, or None when the command runs outside one and needs none."""
    from lab2prod import settings
    from lab2prod.errors import ConfigError

    try:
        return settings.project_root(explicit)
    except ConfigError:
        if explicit:
            raise
        return None


def _cmd_score(args: argparse.Namespace) -> int:
    from lab2prod import settings, tracking
    from lab2prod.errors import ConfigError
    from lab2prod.scoring.score import score_file, stderr_progress
    from lab2prod.scoring.summary import summary_path_for, write_facts

    root = _project(args.root)
    if root is None and not (args.contract and args.model):
        raise ConfigError("outside a project folder: pass --contract and --model, or --root")
    if root is not None:
        tracking.use_store(root)
    contract = settings.load_contract(args.contract or settings.resolve(root, "data/contracts/credit.yaml"))
    model = args.model or f"models:/{settings.read_yaml(root / 'env.yaml').get('model_name', 'credit-risk')}@champion"
    result = score_file(Path(args.input), Path(args.output), model, contract, chunk_rows=args.chunk_rows,
                        threshold=args.threshold, scored_at=args.scored_at, workers=args.workers,
                        progress=None if args.quiet else stderr_progress)
    write_facts(result.summary(), summary_path_for(result.output))
    print(result.describe())
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.errors import ConfigError
    from lab2prod.scoring.export import export_all, marked_notebooks, stale_exports

    root = settings.project_root(args.root)
    notebooks = [Path(n).resolve() for n in args.notebook] or marked_notebooks(root / "notebooks")
    if not notebooks:
        raise ConfigError(f"{root / 'notebooks'}: no notebook is marked for export "
                          f"(notebook metadata {{\"lab2prod\": {{\"export\": true}}}})")
    output_dir = settings.resolve(root, args.output_dir)
    if args.check:
        stale = stale_exports(notebooks, output_dir, root)
        for path in stale:
            print(f"stale: {path}: run `lab2prod export` and commit the result")
        if not stale:
            print(f"{len(notebooks)} export(s) in {output_dir} match their notebooks")
        return EXIT_CHECK_FAILED if stale else EXIT_OK
    for script in export_all(notebooks, output_dir, root):
        print(f"wrote {script}")
    return EXIT_OK


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

    p = sub.add_parser("score", help="score a CSV or Parquet batch with the champion model, streaming",
                       description="Score a CSV or Parquet file in chunks (memory does not grow with its rows) and "
                                   "write id, prediction and lineage per row to OUTPUT (.csv or .parquet), atomically. "
                                   "Rows that break the data contract go to <stem>.quarantine.csv beside it (line and reason), "
                                   "the run's facts to <stem>.summary.json. "
                                   "Exit 0 on success (quarantine included), 2 when the input cannot be used "
                                   "(then no output is left behind).")
    p.add_argument("--input", required=True, help="the batch to score (.csv or .parquet)")
    p.add_argument("--output", required=True, help="where to write the predictions (.csv or .parquet)")
    p.add_argument("--model", help="MLflow model URI (default: models:/<model_name of env.yaml>@champion)")
    p.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (default: 100000)")
    p.add_argument("--workers", type=int,
                   help="processes that score chunks while this one reads and writes (default: 2 on 2 cores or more)")
    p.add_argument("--threshold", type=float,
                   help="probability from which the positive label is given (default: the model run's threshold)")
    p.add_argument("--scored-at", help="the scored-at stamp to write (default: now, UTC); fix it to reproduce a file")
    p.add_argument("--contract", help="contract YAML (default: data/contracts/credit.yaml of the project)")
    p.add_argument("--root", help="project folder (default: found from the working directory)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("export", help="export the production notebooks as plain Python scripts",
                       description="Turn each notebook marked for production (metadata lab2prod.export: true) into "
                                   "a Python script: the parameters cell becomes command-line options with the same "
                                   "defaults, cells tagged 'exploration' are dropped, nothing imports Jupyter or "
                                   "Papermill at run time.")
    p.add_argument("notebook", nargs="*", help="notebooks to export (default: the marked ones in notebooks/)")
    p.add_argument("--output-dir", default="exports", help="where the scripts go (default: exports/)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when a script is missing or differs from a fresh export")
    p.add_argument("--root", help="project folder (default: found from the working directory)")
    p.set_defaults(func=_cmd_export)
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

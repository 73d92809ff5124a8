"""The scoring commands: `score` a batch with the champion, `export` the production notebooks as scripts."""

from __future__ import annotations

import argparse
from pathlib import Path

from lab2prod.cli.options import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    add_command,
    add_read_options,
    input_option,
    project_or_none,
    read_options,
    shared_options,
)
from lab2prod.errors import ConfigError


def _cmd_score(args: argparse.Namespace) -> int:
    from lab2prod import model_edge, settings
    from lab2prod.scoring.score import ScoreOptions, score_file, stderr_progress
    from lab2prod.scoring.summary import summary_path_for, write_facts

    if args.scheduler and args.engine != "dask":
        raise ConfigError("--scheduler is a Dask scheduler's address: add --engine dask")
    root = project_or_none(args.root)
    if root is None and not (args.contract and args.model):
        raise ConfigError("outside a project folder: pass --contract and --model, or --root")
    defaults = settings.project_defaults(root) if root is not None else {}
    dask = args.engine == "dask"
    options = ScoreOptions(
        **({"chunk_rows": args.chunk_rows} if args.chunk_rows else {}),
        threshold=args.threshold,
        scored_at=args.scored_at,
        workers=(args.workers or None) if dask else args.workers,  # Dask: 0 is one per core
        tracking_uri=settings.tracking_uri(root),
    )
    progress = None if args.quiet else stderr_progress
    model = args.model or model_edge.champion_uri(defaults["model_name"])
    contract = settings.load_contract(args.contract or defaults["contract"])
    paths = (Path(args.input), Path(args.output), model, contract, options)
    if dask:
        from lab2prod.scoring.dask_engine import score_with_dask

        result = score_with_dask(
            *paths, progress=progress, scheduler=args.scheduler, **read_options(args)
        )
    else:
        result = score_file(*paths, progress=progress, **read_options(args))
    write_facts(result.summary(), summary_path_for(result.output))
    print(result.describe())
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.scoring.export import export_all, marked_notebooks, stale_exports

    root = settings.project_root(args.root)
    notebooks = [Path(n).resolve() for n in args.notebook] or marked_notebooks(root / "notebooks")
    if not notebooks:
        raise ConfigError(
            f"{root / 'notebooks'}: no notebook is marked for export "
            f'(notebook metadata {{"lab2prod": {{"export": true}}}})'
        )
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the scoring commands to the `lab2prod` subcommands `sub`."""
    p = add_command(
        sub,
        "score",
        _cmd_score,
        help="score a batch (CSV, gzip CSV, JSON lines, Parquet, Excel) with the champion, streaming",
        description="Score a file in chunks (memory does not grow with its rows), read as ingest "
        "reads it (.csv, .csv.gz, .jsonl, .parquet, .xlsx; same options, messages and line numbers), and "
        "write id, prediction and lineage per row to OUTPUT (.csv or .parquet), atomically. "
        "Rows that break the data contract go to <stem>.quarantine.csv beside it (line and reason), "
        "the run's facts to <stem>.summary.json. "
        "Exit 0 on success (quarantine included), 2 when the input cannot be used "
        "(then no output is left behind).",
        tracking_server=True,
    )
    input_option(
        p,
        "the batch to score: one file (.csv, .csv.gz, .jsonl, .parquet or .xlsx); with "
        "--engine dask also a folder of .parquet partitions",
    )
    p.add_argument(
        "--output", required=True, help="where to write the predictions (.csv or .parquet)"
    )
    p.add_argument(
        "--model", help="MLflow model URI (default: models:/<model_name of env.yaml>@champion)"
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        help="rows per chunk (default: scoring's, lab2prod.scoring.score.DEFAULT_CHUNK_ROWS)",
    )
    add_read_options(p)
    p.add_argument(
        "--workers",
        type=int,
        help="pool processes that score whole chunks beside this one, which reads, scores and "
        "writes (default: none up to 2 cores, else one per core but one, at most 3; 0: all in "
        "this process)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="probability from which the positive label is given (default: the model run's threshold; "
        "binary only: a multiclass label is the most probable class)",
    )
    p.add_argument(
        "--scored-at",
        help="the scored-at stamp to write (default: now, universal time); fix it to reproduce a file",
    )
    shared_options(p, "--contract")
    p.add_argument(
        "--engine",
        choices=["local", "dask"],
        default="local",
        help="local: this machine's processes (default); dask: a Dask cluster, which also reads a "
        "folder of Parquet partitions (same predictions and quarantine to the byte)",
    )
    p.add_argument(
        "--scheduler",
        help="with --engine dask: the address of a running Dask scheduler, used as it is "
        "(default: a LocalCluster on 127.0.0.1 for the run, --workers processes, one per core)",
    )
    shared_options(p, "--root")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    p = add_command(
        sub,
        "export",
        _cmd_export,
        help="export the production notebooks as plain Python scripts",
        description="Turn each notebook marked for production (metadata lab2prod.export: true) into "
        "a Python script: the parameters cell becomes command-line options with the same "
        "defaults, cells tagged 'exploration' are dropped, nothing imports Jupyter or "
        "Papermill at run time.",
    )
    p.add_argument(
        "notebook", nargs="*", help="notebooks to export (default: the marked ones in notebooks/)"
    )
    p.add_argument(
        "--output-dir", default="exports", help="where the scripts go (default: exports/)"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a script is missing or differs from a fresh export",
    )
    shared_options(p, "--root")

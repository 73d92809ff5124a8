"""The `lab2prod` command: parses arguments, calls the package, maps errors to exit codes and one-line messages.

Exit codes: 0 success, 1 a check found a problem, 2 unusable input or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lab2prod import __version__
from lab2prod.errors import ConfigError, Lab2ProdError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2


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
        **_read_options(args),
    )
    print(report.describe())
    return EXIT_OK


def _read_options(args: argparse.Namespace) -> dict:
    return {
        k: getattr(args, k)
        for k in ("delimiter", "decimal", "thousands", "encoding", "sheet")
        if getattr(args, k, None) is not None
    }


def _add_read_options(p: argparse.ArgumentParser) -> None:
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


def _cmd_contract_infer(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.data.contract import contract_to_dict
    from lab2prod.data.inference import infer_contract
    from lab2prod.data.validate import read_any

    frame = read_any(Path(args.input), **_read_options(args)).rows
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


def _monitor_config(args: argparse.Namespace, root: Path):
    """Return the monitor's limits and experiment: the options given, else env.score.yaml's (the pipeline's), else the package's defaults."""
    from lab2prod import settings
    from lab2prod.monitoring.monitor import MONITOR_EXPERIMENT, MonitorConfig

    given = {k: getattr(args, k) for k in MONITOR_OPTIONS if getattr(args, k) is not None}
    values = {**settings.monitor_settings(root), **given}
    experiment = args.monitor_experiment or values.pop("experiment", None) or MONITOR_EXPERIMENT
    values.pop("experiment", None)
    return MonitorConfig.of(**values), None if args.no_mlflow else experiment


MONITOR_OPTIONS = (
    "drift_share",
    "alpha",
    "metric",
    "tolerance",
    "threshold",
    "estimated_tolerance",
)


def _cmd_monitor(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.monitoring.estimate import performance_lines
    from lab2prod.monitoring.monitor import run_monitoring

    root = _with_project_defaults(args)
    contract = settings.load_contract(settings.resolve(root, args.contract))
    config, experiment = _monitor_config(args, root)
    result, paths = run_monitoring(
        root,
        contract,
        Path(args.batch),
        settings.resolve(root, args.reference) if args.reference else None,
        settings.resolve(root, args.lake),
        settings.resolve(root, args.reports),
        config,
        labels_path=Path(args.labels) if args.labels else None,
        features_path=Path(args.features) if args.features else None,
        model_uri=args.model,
        model_name=args.model_name,
        batch_id=args.batch_id,
        experiment=experiment,
        status_path=Path(args.status) if args.status else None,
        use_model=not args.no_model,
        business=settings.business_settings(root),  # declared once, in env.yaml
    )
    print(
        f"batch {result.batch_id}: {result.status} ({result.drift.rows} rows, "
        f"{result.drift.drift_share:.0%} of features drifted"
        + (
            f", {result.performance.metric} {result.performance.realized:.4f}"
            if result.performance
            else ""
        )
        + ")"
    )
    for line in performance_lines(result.estimate, result.performance):
        print(" ", line)
    for alert in result.alerts:
        print("  alert:", alert)
    if result.labelled:
        print(" ", result.labelled)
    if result.retrain:
        print("  retraining is due: run `lab2prod retrain`")
    print(f"wrote {paths['report']}, {paths['status']}; history {paths['history']}")
    return result.exit_code


def _cmd_retrain(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.monitoring.retrain import RetrainConfig, run_retraining

    root = _with_project_defaults(args)
    # unset options take the env file's gate values (the pipeline's), then RetrainConfig's defaults
    chosen = {k: getattr(args, k) for k in RETRAIN_OPTIONS if getattr(args, k) is not None}
    outcome = run_retraining(
        root,
        settings.load_contract(settings.resolve(root, args.contract)),
        Path(args.status) if args.status else None,
        settings.resolve(root, args.lake),
        settings.resolve(root, args.reports),
        settings.resolve(root, args.products),
        RetrainConfig(
            **{
                **settings.gate_settings(root, args.env_file),
                "approval_required": settings.approval_required(root, args.env_file),
                **chosen,
            }
        ),
        model_name=args.model_name,
        experiment=args.experiment,
        force=args.force,
        in_process=args.in_process,
        env_file=args.env_file,
    )
    if not outcome.retrained:
        print("no retraining:", "; ".join(outcome.reasons))
    else:
        print(
            f"{outcome.model_name} v{outcome.version}: {'; '.join(outcome.decision.reasons)} -> "
            + ("promoted to champion" if outcome.decision.promote else "champion unchanged")
        )
    return EXIT_OK


RETRAIN_OPTIONS = ("family", "window_rows", "seed", "gate_metric", "gate_tolerance")


def _with_project_defaults(args: argparse.Namespace):
    """Return the project folder and fill the options left unset from its env.yaml (settings.project_defaults)."""
    from lab2prod import settings

    root = settings.project_root(args.root)
    for key, value in settings.project_defaults(root).items():
        if getattr(args, key, "absent") is None:
            setattr(args, key, value)
    return root


def _cmd_simulate(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.monitoring.simulate import (
        BUNDLED_CATALOG,
        BUNDLED_CONTRACT,
        Scenario,
        simulate_sources,
        table_markdown,
    )

    # the bundled credit data, not the project's own contract (read before env.yaml's fill the rest)
    contract = args.contract or BUNDLED_CONTRACT
    root = _with_project_defaults(args)
    chosen = {k: getattr(args, k) for k in SCENARIO_OPTIONS if getattr(args, k) is not None}
    result, written = simulate_sources(
        settings.load_catalog(settings.resolve(root, args.catalog or BUNDLED_CATALOG)),
        settings.load_contract(settings.resolve(root, contract)),
        Scenario(**chosen),
        settings.resolve(root, args.reports),
        workdir=Path(args.workdir) if args.workdir else None,
        progress=print,
        gate=settings.gate_settings(root),  # released by the project's own rules (env.yaml)
    )
    print(table_markdown(result["table"]))
    after = result["mean_after_drift"]
    print(
        f"mean ROC AUC over drifted batches: frozen {after['frozen_roc_auc']:.4f}, loop {after['loop_roc_auc']:.4f}"
    )
    print(f"wrote {written['report']} and {written['json']}")
    return EXIT_OK


SCENARIO_OPTIONS = ("batches", "batch_rows", "drift_start", "seed")


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
    from lab2prod import model_edge, settings
    from lab2prod.errors import ConfigError
    from lab2prod.scoring.score import score_file, stderr_progress
    from lab2prod.scoring.summary import summary_path_for, write_facts

    if args.scheduler and args.engine != "dask":
        raise ConfigError("--scheduler is a Dask scheduler's address: add --engine dask")
    root = _project(args.root)
    if root is None and not (args.contract and args.model):
        raise ConfigError("outside a project folder: pass --contract and --model, or --root")
    defaults = settings.project_defaults(root) if root is not None else {}
    common = {
        **({"chunk_rows": args.chunk_rows} if args.chunk_rows else {}),
        "threshold": args.threshold,
        "scored_at": args.scored_at,
        "tracking_uri": settings.tracking_uri(root),
        "progress": None if args.quiet else stderr_progress,
        **_read_options(args),
    }
    model = args.model or model_edge.champion_uri(defaults["model_name"])
    contract = settings.load_contract(args.contract or defaults["contract"])
    if args.engine == "dask":
        from lab2prod.scoring.dask_engine import score_with_dask

        result = score_with_dask(
            Path(args.input),
            Path(args.output),
            model,
            contract,
            scheduler=args.scheduler,
            workers=args.workers or None,
            **common,
        )
    else:
        result = score_file(
            Path(args.input), Path(args.output), model, contract, workers=args.workers, **common
        )
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


def _release_target(args: argparse.Namespace) -> str:
    """Point MLflow at the project's store and return the registered model name (--model, else env.yaml's)."""
    from lab2prod import settings, tracking

    root = settings.project_root(args.root)
    tracking.use_store(root)
    return args.model or settings.project_defaults(root)["model_name"]


def _cmd_promote(args: argparse.Namespace) -> int:
    from lab2prod.release.promotion import promote_checked

    name = _release_target(args)
    print(f"infrastructure check of {name} v{args.version} in a fresh process ...", flush=True)
    check, old = promote_checked(name, args.version, args.reason)
    print(
        f"loaded in {check.load_seconds:.2f} s; {check.batch_rows} rows scored in {check.latency_ms_batch:.1f} ms"
    )
    print(
        f"{name} v{args.version} is champion"
        + (f"; v{old.version} keeps alias 'previous'" if old else "")
    )
    return EXIT_OK


def _cmd_rollback(args: argparse.Namespace) -> int:
    from lab2prod.release.promotion import rollback_checked

    name = _release_target(args)
    print(f"infrastructure check of {name}@previous in a fresh process ...", flush=True)
    _, restored, demoted = rollback_checked(name, args.reason)
    print(
        f"{name} v{restored.version} is champion again; v{demoted.version} now holds alias 'previous'"
    )
    return EXIT_OK


def _cmd_roles_apply(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    from lab2prod import settings, tracking
    from lab2prod.release import registry
    from lab2prod.release.roles import ROLES_FILE, apply_roles, password_works, roles_from_dict

    root = settings.project_root(args.root)
    path = settings.resolve(root, args.file or ROLES_FILE)
    spec = roles_from_dict(settings.read_yaml(path), origin=str(path))
    uri = settings.tracking_uri(None) or ""
    if not uri.startswith(("http://", "https://")):
        raise ConfigError(
            "roles live on the team server: export MLFLOW_TRACKING_URI=http://... "
            "with its admin's MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    tracking.use_store(root)
    try:
        changes = apply_roles(
            spec,
            get_app_client("basic-auth", tracking_uri=uri),
            login=lambda user, password: password_works(uri, user, password),
            secret=settings.secret,
            create_model=registry.ensure_model,
        )
    except MlflowException as exc:
        raise ConfigError(
            f"{uri} refused a change of roles ({str(exc.message).splitlines()[0]}): "
            "run `lab2prod roles apply` as the server's admin"
        ) from None
    for change in changes:
        print(change)
    print(
        f"{path.name}: {len(changes)} change(s) on {uri}"
        + ("" if changes else " (the server already matches)")
    )
    return EXIT_OK


def _cmd_roles_audit(args: argparse.Namespace) -> int:
    from lab2prod.release.audit import champion_history

    name = _release_target(args)
    history = champion_history(name)
    for change in history:
        print(change.describe())
    if not history:
        print(f"{name}: no change of champion recorded")
    return EXIT_OK


def _cmd_repro_check(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.release.repro import repro_check

    overrides = {}
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (a value of the env file)")
        overrides[key] = value
    result = repro_check(
        settings.project_root(args.root),
        **({"env_file": args.env_file} if args.env_file else {}),
        overrides=overrides,
        keep=Path(args.keep) if args.keep else None,
        until=args.until,
        progress=print,
    )
    print(result.describe())
    return EXIT_OK if result.identical else EXIT_CHECK_FAILED


def _cmd_readiness(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from lab2prod import settings
    from lab2prod.release.readiness import write_readiness

    root = _with_project_defaults(args)
    contract = settings.load_contract(settings.resolve(root, args.contract))
    places = {
        "lake": args.lake,
        "reports": args.reports,
        "products": args.products,
        "dataset": contract.dataset,
    }
    result, paths = write_readiness(
        root,
        settings.resolve(root, args.reports),
        places,
        args.model_name,
        datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M GMT"),
        settings.tracking_uri(root),
    )
    for key, value in result["sections"].items():
        print(f"{key:8} {value:g} / 7")
    print(f"ML Test Score {result['final']:g} (minimum over the sections): {result['reading']}")
    print(f"wrote {paths['html']} and {paths['json']}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lab2prod",
        description="Notebook-first MLOps: the commands behind the pipelines (ploomber build runs the notebooks).",
    )
    parser.add_argument("--version", action="version", version=f"lab2prod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "validate",
        help="check one data file against the contract and print a summary",
        description="Check one CSV, JSON lines, Parquet or Excel file against the data contract. "
        "Exit 0 when it can be used (bad rows quarantined), 2 when it cannot.",
    )
    p.add_argument("--input", required=True, help="the file to check")
    p.add_argument(
        "--mode",
        choices=["train", "score"],
        help="train: the target is required; score: the target may be absent (default: train, "
        "validate_file's)",
    )
    _options(p, "--contract")
    p.add_argument("--quarantine", help="write the quarantined rows to this CSV")
    _options(p, "--root")
    _add_read_options(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "contract",
        help="work with data contracts",
        description="Infer a data contract from a file, to review and commit.",
    )
    csub = p.add_subparsers(dest="contract_command", metavar="ACTION", required=True)
    q = csub.add_parser(
        "infer",
        help="infer a contract from a file",
        description="Infer a contract (types, ranges, "
        "categories, labels) from a data file and print or write it as YAML.",
    )
    q.add_argument("--input", required=True, help="a CSV, JSON lines, Parquet or Excel file")
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
    _add_read_options(q)
    q.set_defaults(func=_cmd_contract_infer)

    p = sub.add_parser(
        "monitor",
        help="monitor one batch: drift, delayed-label performance, history, report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare one batch with the training reference and record the result.\n\n"
        "The batch: a CSV or Parquet file, one row per case, with the contract's id and feature columns,\n"
        "and optionally the model's output as written by scoring: 'probability' (binary), one\n"
        "'probability_<label>' per class (multiclass: prediction drift is then the class mix) or\n"
        "'prediction' (regression) plus lineage columns model_name, model_version, run_id. The\n"
        "predictions file of `lab2prod score` (id, output, lineage) finds its features through the\n"
        "<stem>.summary.json beside it (the scored input's path, its SHA-256 checked); --features names\n"
        "them instead. With no features to be had the batch is refused (exit 2) and nothing is recorded.\n"
        "In a batch with features, a contract feature it lacks or a column the contract does not know\n"
        "is schema drift. Without an output column the model scores the batch here.\n\n"
        "Labels given with --labels are kept in <lake>/monitoring/labelled/ for `lab2prod retrain`.\n\n"
        "Writes a row to <lake>/monitoring/history.csv (append-only), metrics to an MLflow monitoring run,\n"
        "reports/monitoring.html and reports/monitoring.json.\n\n"
        "Exit codes: 0 no alert; 1 an alert (a feature, the predictions or the schema drifted, or\n"
        "performance degraded; the JSON's 'retrain' says whether a retraining threshold was crossed);\n"
        "2 unusable input.",
    )
    p.add_argument(
        "--batch",
        required=True,
        help="the batch file (any format lab2prod score reads), or a day of the REST server's "
        "request log (<lake>/requests/<YYYY-MM-DD>/): its answered rows, with its counts and latency",
    )
    p.add_argument(
        "--labels",
        help="delayed labels of this batch: a CSV/Parquet with the id and target columns",
    )
    p.add_argument(
        "--features",
        help="the batch's feature file, joined by id, when --batch holds only predictions "
        "(default: the scored input named in <stem>.summary.json)",
    )
    p.add_argument(
        "--reference", help="the training reference (default: <lake>/splits/<dataset>/train.csv)"
    )
    p.add_argument(
        "--model",
        help="model URI (default: the batch's lineage, else models:/<model-name>@champion)",
    )
    p.add_argument(
        "--no-model",
        action="store_true",
        help="do not load a model (no prediction drift unless scored)",
    )
    _options(p, "--model-name")
    p.add_argument(
        "--batch-id", help="the batch's name in the history (default: from the file name)"
    )
    # unset: env.score.yaml's value (what the pipeline's monitor step uses), else MonitorConfig's
    _unset_options(
        p,
        "env.score.yaml's {key}, else MonitorConfig's",
        ("--drift-share", float, "share of drifted features from which the dataset drifts"),
        (
            "--alpha",
            float,
            "family-wise false-alarm rate: a feature test rejects at alpha / number of features",
        ),
        ("--metric", str, "metric compared with the holdout"),
        (
            "--tolerance",
            float,
            "how much worse than holdout the metric may be before it counts as degraded",
        ),
        (
            "--threshold",
            float,
            "probability threshold of a positive; MonitorConfig's: the model run's",
        ),
        (
            "--estimated-tolerance",
            float,
            "retrain when the metric estimated before labels is this much below holdout; "
            "MonitorConfig's: never",
        ),
    )
    _options(p, "--status")
    p.add_argument(
        "--experiment",
        dest="monitor_experiment",  # not env.yaml's `experiment`: that one holds the training runs
        metavar="EXPERIMENT",
        help="MLflow experiment of monitoring runs (default: env.score.yaml's monitor_experiment, "
        "else lab2prod-monitoring)",
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log a monitoring run")
    _project_options(p)
    p.set_defaults(func=_cmd_monitor)

    p = sub.add_parser(
        "retrain",
        help="retrain on the newest labelled data when monitoring crossed a threshold",
        description="Read the latest monitoring status; when it crossed a retraining threshold (dataset drift or "
        "degraded performance), train a challenger on the newest labelled rows and send it through the "
        "release gate and registry aliases. Default: the training pipeline (`ploomber build`) on a "
        "window catalog; --in-process trains with the package functions directly and judges challenger "
        "and champion on the same held-out rows. The decision goes into the history and the report. "
        "Nothing is trained when no threshold was crossed (exit 0 either way). Unset options take "
        "the defaults of lab2prod.monitoring.retrain.RetrainConfig.",
    )
    _options(p, "--status")
    p.add_argument(
        "--force", action="store_true", help="retrain even when no threshold was crossed"
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="train in this process instead of `ploomber build`",
    )
    _unset_options(
        p,
        "RetrainConfig.{key}",
        ("--window-rows", int, "newest labelled rows to train on"),
        ("--family", str, "model family, in-process path (linear: logistic regression or ridge)"),
        ("--seed", int, "seed of the split and the model"),
    )
    _unset_options(
        p,
        "the env file's {key}, else RetrainConfig's",
        (
            "--gate-metric",
            str,
            "metric the gate compares, in-process path (the floors are the env file's gate_floors)",
        ),
        (
            "--gate-tolerance",
            float,
            "how much worse than the champion a challenger may be, in-process path",
        ),
    )
    _options(p, "--model-name")
    p.add_argument(
        "--experiment",
        help="MLflow experiment of the training runs (default: env.yaml's experiment)",
    )
    _options(p, "--products")
    p.add_argument("--env-file", help="ploomber env file for the pipeline path (default: env.yaml)")
    _project_options(p)
    p.set_defaults(func=_cmd_retrain)

    p = sub.add_parser(
        "simulate",
        help="replay the bundled data as drifting batches, with and without the retraining loop",
        description="Replay the credit data as a sequence of batches under a documented drift scenario (income "
        "shifts down, a new applicant segment with a different default relationship grows), score, "
        "monitor, feed delayed labels and retrain through the gate when triggered. Writes "
        "reports/simulation.html and reports/simulation.json. Uses its own lake and MLflow store "
        "(temporary unless --workdir), never the project's registry. Same seed, same figures. "
        "Unset options take the defaults of lab2prod.monitoring.simulate.Scenario.",
    )
    _unset_options(
        p,
        "Scenario.{key}",
        ("--batches", int, "number of batches"),
        ("--batch-rows", int, "rows per batch"),
        ("--drift-start", int, "first drifted batch, from 0"),
        ("--seed", int, "the seed of every random choice"),
    )
    p.add_argument(
        "--workdir",
        help="keep the simulation's lake and MLflow store here (default: a temporary folder)",
    )
    p.add_argument(
        "--catalog",
        help="the sources replayed, ingested into the simulation's own lake (default: the bundled "
        "credit sources, lab2prod.monitoring.simulate.BUNDLED_CATALOG, with BUNDLED_CONTRACT)",
    )
    _project_options(p)
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser(
        "score",
        help="score a batch (CSV, gzip CSV, JSON lines, Parquet, Excel) with the champion, streaming",
        description="Score a file in chunks (memory does not grow with its rows), read as ingest "
        "reads it (.csv, .csv.gz, .jsonl, .parquet, .xlsx; same options, messages and line numbers), and "
        "write id, prediction and lineage per row to OUTPUT (.csv or .parquet), atomically. "
        "Rows that break the data contract go to <stem>.quarantine.csv beside it (line and reason), "
        "the run's facts to <stem>.summary.json. "
        "Exit 0 on success (quarantine included), 2 when the input cannot be used "
        "(then no output is left behind).",
    )
    p.add_argument(
        "--input",
        required=True,
        help="the batch to score: one file (.csv, .csv.gz, .jsonl, .parquet or .xlsx); with "
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
    _add_read_options(p)
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
    _options(p, "--contract")
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
    _options(p, "--root")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser(
        "export",
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
    _options(p, "--root")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "promote",
        help="make a registered model version the champion by hand, with a reason",
        description="Check VERSION in a fresh process (load, score its input example), then move "
        "alias 'champion' to it; the replaced champion keeps 'previous'. The reason, "
        "time and action are recorded as tags on the versions.",
    )
    p.add_argument("version", help="the model version to promote (a number)")
    _release_options(p)
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser(
        "rollback",
        help="give 'champion' back to the version holding 'previous', with a reason",
        description="Check the 'previous' version in a fresh process, then make it champion again; "
        "the demoted version takes alias 'previous' (a second rollback undoes the first).",
    )
    _release_options(p)
    p.set_defaults(func=_cmd_rollback)

    p = sub.add_parser(
        "roles",
        help="the team server's roles: apply roles.yaml, list the changes of champion",
        description="Roles on the team MLflow server (make mlflow-server): `apply` makes its "
        "roles, grants, users and role assignments those of roles.yaml (idempotent; passwords from "
        "the environment variables it names); `audit` lists every change of champion recorded "
        "in the registry (version, who, who trained it, when, why, the gate's verdict).",
    )
    roles_sub = p.add_subparsers(dest="roles_command", metavar="ACTION", required=True)
    q = roles_sub.add_parser("apply", help="apply roles.yaml to the team server (as its admin)")
    q.add_argument("--file", help="the roles file (default: the project's roles.yaml)")
    _options(q, "--root")
    q.set_defaults(func=_cmd_roles_apply)
    q = roles_sub.add_parser("audit", help="list every change of champion with who, when and why")
    q.add_argument("--model", help="registered model name (default: env.yaml's model_name)")
    _options(q, "--root")
    q.set_defaults(func=_cmd_roles_audit)

    p = sub.add_parser(
        "readiness",
        help="score the project on the ML Test Score rubric (Breck et al. 2017) from checked evidence",
        description="Score the project on the 28 tests of the ML Test Score (data, model, infrastructure, "
        "monitoring) from evidence checked now: the test functions in tests/, the products of the last "
        "build, committed files and the tags of the champion model version. Writes "
        "<reports>/readiness.html and readiness.json. The final score is the minimum over the four "
        "sections, with the paper's reading of it.",
    )
    _options(p, "--model-name")
    _options(p, "--products")
    _project_options(p)
    p.set_defaults(func=_cmd_readiness)

    p = sub.add_parser(
        "repro-check",
        help="build the pipeline twice in clean folders and compare the results",
        description="Copy the project into two temporary folders, run `ploomber build` in each, "
        "and compare content hashes of the normalized data, the metrics and the "
        "test-set predictions. Exit 0 when all match, 1 when anything differs.",
    )
    p.add_argument(
        "--env-file", help="env file of the builds (default: repro_check's, env.test.yaml)"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a value of the env file in both builds (repeatable), e.g. sample_rows=300",
    )
    p.add_argument(
        "--keep", help="keep the two build folders under this folder instead of deleting them"
    )
    p.add_argument(
        "--until",
        metavar="TASK",
        help="build only up to TASK (ploomber build --partially TASK); "
        "artifacts neither build reached are not compared",
    )
    _options(p, "--root")
    p.set_defaults(func=_cmd_repro_check)
    return parser


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


def _options(p: argparse.ArgumentParser, *flags: str) -> None:
    """Add the shared options `flags` (keys of SHARED_OPTIONS) to the subcommand `p`."""
    for flag in flags:
        p.add_argument(flag, help=SHARED_OPTIONS[flag])


def _unset_options(p: argparse.ArgumentParser, default: str, *specs: tuple[str, type, str]) -> None:
    """Add options (flag, type, what) that are None when unset, so the package's default applies.

    `default` names where that default lives, with {key} for the option's name (drift_share).
    """
    for flag, kind, what in specs:
        key = flag[2:].replace("-", "_")
        p.add_argument(flag, type=kind, help=f"{what} (default: {default.format(key=key)})")


def _project_options(p: argparse.ArgumentParser) -> None:
    _options(p, "--contract", "--lake", "--reports", "--root")


def _release_options(p: argparse.ArgumentParser) -> None:
    """Add what `promote` and `rollback` share: the reason, the registered model, the project."""
    p.add_argument("--reason", required=True, help="why: recorded as tag release.reason")
    p.add_argument("--model", help="registered model name (default: env.yaml's model_name)")
    _options(p, "--root")


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
        if func in (
            _cmd_score,
            _cmd_monitor,
            _cmd_retrain,
            _cmd_promote,
            _cmd_rollback,
            _cmd_roles_apply,
            _cmd_roles_audit,
        ):
            _check_tracking_server()
        return func(args)
    except Lab2ProdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The `lab2prod` console command: run `main` and exit with its code."""
    sys.exit(main())


if __name__ == "__main__":
    run()

"""The monitoring commands: `monitor` a batch, `retrain` when it is due, `simulate` the loop."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from lab2prod.cli.options import (
    EXIT_OK,
    add_command,
    project_options,
    shared_options,
    unset_options,
    with_project_defaults,
)
from lab2prod.errors import ConfigError

if TYPE_CHECKING:
    from lab2prod.monitoring.monitor import MonitorConfig


def monitor_config(args: argparse.Namespace, root: Path) -> tuple[MonitorConfig, str | None]:
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
    from lab2prod.data.lake import Lake
    from lab2prod.monitoring.estimate import performance_lines
    from lab2prod.monitoring.monitor import BatchFiles, ModelChoice, run_monitoring
    from lab2prod.monitoring.places import MonitoringPlaces

    root = with_project_defaults(args)
    contract = settings.load_contract(settings.resolve(root, args.contract))
    config, experiment = monitor_config(args, root)
    result, paths = run_monitoring(
        root,
        contract,
        BatchFiles(
            Path(args.batch),
            batch_id=args.batch_id,
            labels=Path(args.labels) if args.labels else None,
            features=Path(args.features) if args.features else None,
        ),
        MonitoringPlaces(
            Lake.of(root, args.lake, reports=args.reports),
            reference=settings.resolve(root, args.reference) if args.reference else None,
            status=Path(args.status) if args.status else None,
        ),
        config,
        ModelChoice(args.model_name, uri=args.model, use=not args.no_model),
        experiment=experiment,
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
    from lab2prod.monitoring.retrain import RetrainConfig, RetrainMode, run_retraining
    from lab2prod.project import Project

    root = with_project_defaults(args)
    # unset options take the env file's gate values (the pipeline's), then RetrainConfig's defaults
    chosen = {k: getattr(args, k) for k in RETRAIN_OPTIONS if getattr(args, k) is not None}
    project = Project(
        root=root,
        model_name=args.model_name or "",
        experiment=args.experiment or "",
        lake_folder=args.lake,
        products=args.products,
        reports=args.reports,
    )
    outcome = run_retraining(
        project,
        settings.load_contract(settings.resolve(root, args.contract)),
        RetrainConfig(
            **{
                **settings.gate_settings(root, args.env_file),
                "approval_required": settings.approval_required(root, args.env_file),
                **chosen,
            }
        ),
        mode=RetrainMode(force=args.force, in_process=args.in_process, env_file=args.env_file),
        status=Path(args.status) if args.status else None,
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


def _cmd_simulate(args: argparse.Namespace) -> int:
    from lab2prod import settings
    from lab2prod.data.lake import Lake
    from lab2prod.monitoring.simulate import Scenario, simulate_sources, table_markdown

    root = with_project_defaults(args)
    env_file = Lake.of(root).env_file()
    catalog = args.catalog or (settings.read_yaml(env_file) if env_file.is_file() else {}).get(
        "data"
    )
    if not catalog:
        raise ConfigError(
            "lab2prod simulate replays a source catalog: pass --catalog or set env.yaml's data"
        )
    chosen = {k: getattr(args, k) for k in SCENARIO_OPTIONS if getattr(args, k) is not None}
    result, written = simulate_sources(
        settings.load_catalog(settings.resolve(root, catalog)),
        settings.load_contract(settings.resolve(root, args.contract)),
        Scenario(**chosen),
        Lake.of(root, reports=args.reports),
        workdir=Path(args.workdir) if args.workdir else None,
        progress=print,
        gate=settings.gate_settings(root),  # released by the project's own rules (env.yaml)
    )
    print(table_markdown(result["table"]))
    after, metric = result["mean_after_drift"], result["metric"]
    print(
        f"mean {metric} over drifted batches: frozen {after[f'frozen_{metric}']:.4f}, "
        f"loop {after[f'loop_{metric}']:.4f}"
    )
    print(f"wrote {written['report']} and {written['json']}")
    return EXIT_OK


SCENARIO_OPTIONS = ("batches", "batch_rows", "drift_start", "seed")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the monitoring commands to the `lab2prod` subcommands `sub`."""
    p = add_command(
        sub,
        "monitor",
        _cmd_monitor,
        help="monitor one batch: drift, delayed-label performance, history, report",
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
        as_written=True,
        tracking_server=True,
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
    shared_options(p, "--model-name")
    p.add_argument(
        "--batch-id", help="the batch's name in the history (default: from the file name)"
    )
    # unset: env.score.yaml's value (what the pipeline's monitor step uses), else MonitorConfig's
    unset_options(
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
    shared_options(p, "--status")
    p.add_argument(
        "--experiment",
        dest="monitor_experiment",  # not env.yaml's `experiment`: that one holds the training runs
        metavar="EXPERIMENT",
        help="MLflow experiment of monitoring runs (default: env.score.yaml's monitor_experiment, "
        "else lab2prod-monitoring)",
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log a monitoring run")
    project_options(p)

    p = add_command(
        sub,
        "retrain",
        _cmd_retrain,
        help="retrain on the newest labelled data when monitoring crossed a threshold",
        description="Read the latest monitoring status; when it crossed a retraining threshold (dataset drift or "
        "degraded performance), train a challenger on the newest labelled rows and send it through the "
        "release gate and registry aliases. Default: the training pipeline (`ploomber build`) on a "
        "window catalog; --in-process runs the same pipeline's train, select and register steps in this "
        "process and judges challenger and champion on the same held-out rows of the window. Each "
        "window keeps its own folder under <lake>/monitoring/retrain/. The decision goes into the "
        "history and the report. "
        "Nothing is trained when no threshold was crossed (exit 0 either way). Unset options take "
        "the defaults of lab2prod.monitoring.retrain.RetrainConfig.",
        tracking_server=True,
    )
    shared_options(p, "--status")
    p.add_argument(
        "--force", action="store_true", help="retrain even when no threshold was crossed"
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the pipeline's steps in this process instead of `ploomber build`",
    )
    unset_options(
        p,
        "RetrainConfig.{key}",
        ("--window-rows", int, "newest labelled rows to train on"),
        ("--family", str, "model family, in-process path (linear: logistic regression or ridge)"),
        ("--seed", int, "seed of the split and the model"),
    )
    unset_options(
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
    shared_options(p, "--model-name")
    p.add_argument(
        "--experiment",
        help="MLflow experiment of the training runs (default: env.yaml's experiment)",
    )
    shared_options(p, "--products")
    p.add_argument("--env-file", help="ploomber env file for the pipeline path (default: env.yaml)")
    project_options(p)

    p = add_command(
        sub,
        "simulate",
        _cmd_simulate,
        help="replay the project's sources as drifting batches, with and without the retraining loop",
        description="Replay the project's sources as a sequence of batches under a documented drift scenario (a "
        "numeric feature shifts down, a new segment with a different relationship to the target grows), score, "
        "monitor, feed delayed labels and retrain through the gate when triggered. Writes "
        "reports/simulation.html and reports/simulation.json. Uses its own lake and MLflow store "
        "(temporary unless --workdir), never the project's registry. Same seed, same figures. "
        "Unset options take the defaults of lab2prod.monitoring.simulate.Scenario.",
    )
    unset_options(
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
        help="the source catalog replayed, ingested into the simulation's own lake (default: env.yaml's "
        "data, with its contract)",
    )
    project_options(p)

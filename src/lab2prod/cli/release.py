"""The release commands: `promote`, `rollback`, the team server's `roles`, `readiness`, `repro-check`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lab2prod.cli.options import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    add_command,
    add_group,
    project_options,
    registered_model_option,
    shared_options,
    with_project_defaults,
)
from lab2prod.errors import ConfigError


def _release_target(args: argparse.Namespace) -> str:
    """Point MLflow at the project's store and return the registered model name (--model, else env.yaml's)."""
    from lab2prod import settings, tracking

    root = settings.project_root(args.root)
    tracking.use_store(root)
    return args.model or settings.project_defaults(root)["model_name"]


def _version_number(text: str) -> str:
    """Return a model version given on the command line, refusing anything but a whole number."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a version number such as 3, got {text!r}")
    return str(int(text))


def _cmd_promote(args: argparse.Namespace) -> int:
    from lab2prod.model_edge import CHAMPION, version_by_alias
    from lab2prod.release import registry
    from lab2prod.release.promotion import promote_checked

    name = _release_target(args)
    registry.version_tags(name, args.version)  # no such version: one line, before any check starts
    current = version_by_alias(name, CHAMPION)
    if current is not None and current.version == args.version:
        print(f"{name} v{args.version} is already champion: nothing changed")
        return EXIT_OK
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
    from lab2prod.model_edge import version_by_alias
    from lab2prod.release.promotion import rollback_checked
    from lab2prod.release.registry import PREVIOUS

    name = _release_target(args)
    back = version_by_alias(name, PREVIOUS)
    if back is not None:  # none: rollback_checked says there is nothing to roll back to
        print(
            f"infrastructure check of {name} v{back.version} (previous) in a fresh process ...",
            flush=True,
        )
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
    from lab2prod.data.lake import Lake
    from lab2prod.release.readiness import write_readiness

    root = with_project_defaults(args)
    contract_path = settings.resolve(root, args.contract).resolve()
    contract = settings.load_contract(contract_path)
    inside = contract_path.is_relative_to(Path(root).resolve())
    places = {
        "lake": args.lake,
        "reports": args.reports,
        "products": args.products,
        "dataset": contract.dataset,
        # the committed contract, shown as the project names it
        "contract": str(
            contract_path.relative_to(Path(root).resolve()) if inside else contract_path
        ),
    }
    result, paths = write_readiness(
        root,
        Lake.of(root, args.lake, args.products, args.reports),
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


def _release_options(p: argparse.ArgumentParser) -> None:
    """Add what `promote` and `rollback` share: the reason, the registered model, the project."""
    p.add_argument("--reason", required=True, help="why: recorded as tag release.reason")
    registered_model_option(p)
    shared_options(p, "--root")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the release commands to the `lab2prod` subcommands `sub`."""
    p = add_command(
        sub,
        "promote",
        _cmd_promote,
        help="make a registered model version the champion by hand, with a reason",
        description="Check VERSION in a fresh process (load, score its input example), then move "
        "alias 'champion' to it; the replaced champion keeps 'previous'. The reason, "
        "time and action are recorded as tags on the versions.",
        tracking_server=True,
    )
    p.add_argument("version", type=_version_number, help="the model version to promote (a number)")
    _release_options(p)

    p = add_command(
        sub,
        "rollback",
        _cmd_rollback,
        help="give 'champion' back to the version holding 'previous', with a reason",
        description="Check the 'previous' version in a fresh process, then make it champion again; "
        "the demoted version takes alias 'previous' (a second rollback undoes the first).",
        tracking_server=True,
    )
    _release_options(p)

    actions = add_group(
        sub,
        "roles",
        help="the team server's roles: apply roles.yaml, list the changes of champion",
        description="Roles on the team MLflow server (make mlflow-server): `apply` makes its "
        "roles, grants, users and role assignments those of roles.yaml (idempotent; passwords from "
        "the environment variables it names); `audit` lists every change of champion recorded "
        "in the registry (version, who, who trained it, when, why, the gate's verdict).",
    )
    q = add_command(
        actions,
        "apply",
        _cmd_roles_apply,
        help="apply roles.yaml to the team server (as its admin)",
        tracking_server=True,
    )
    q.add_argument("--file", help="the roles file (default: the project's roles.yaml)")
    shared_options(q, "--root")
    q = add_command(
        actions,
        "audit",
        _cmd_roles_audit,
        help="list every change of champion with who, when and why",
        tracking_server=True,
    )
    registered_model_option(q)
    shared_options(q, "--root")

    p = add_command(
        sub,
        "readiness",
        _cmd_readiness,
        help="score the project on the ML Test Score rubric (Breck et al. 2017) from checked evidence",
        description="Score the project on the 28 tests of the ML Test Score (data, model, infrastructure, "
        "monitoring) from evidence checked now: the tests in tests/ marked "
        '@pytest.mark.readiness("<section> <number>"), the products of the last build, '
        "committed files and the tags of the champion model version. Writes "
        "<reports>/readiness.html and readiness.json. The final score is the minimum over the four "
        "sections, with the paper's reading of it.",
    )
    shared_options(p, "--model-name")
    shared_options(p, "--products")
    project_options(p)

    p = add_command(
        sub,
        "repro-check",
        _cmd_repro_check,
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
    shared_options(p, "--root")

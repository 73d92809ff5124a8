"""The one place that reads configuration: environment variables and YAML files.

Everything else in lab2prod receives typed values as explicit arguments.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

import yaml

from lab2prod.data.catalog import Catalog, catalog_from_dict, is_catalog
from lab2prod.data.lake import ENV_FILE, PIPELINE_FILE, SCORE_ENV_FILE, Lake
from lab2prod.errors import ConfigError
from lab2prod.modeling.business import BusinessValue, business_from_dict
from lab2prod.project import REQUIRED, Project, Scoring

ROOT_MARKER = PIPELINE_FILE
ENV_ROOT = "LAB2PROD_ROOT"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
# online serving: the lake folder of the request log (unset: no log), and the URI the server was
# started with (lineage of the logged rows)
ENV_REQUEST_LOG = "LAB2PROD_REQUEST_LOG"
ENV_SERVED_MODEL = "LAB2PROD_SERVED_MODEL_URI"


def project_root(explicit: str | os.PathLike | None = None) -> Path:
    """Return the project folder: `explicit`, else $LAB2PROD_ROOT, else the nearest parent holding pipeline.yaml."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / ROOT_MARKER).is_file():
            return folder
    raise ConfigError(
        f"no {ROOT_MARKER} found in {here} or its parents: run from the project folder or set {ENV_ROOT}"
    )


def tracking_uri(root: Path | None) -> str | None:
    """Return $MLFLOW_TRACKING_URI when set, else the embedded SQLite store `<root>/mlflow.db` (None without a root)."""
    if os.environ.get(ENV_TRACKING_URI):
        return os.environ[ENV_TRACKING_URI]
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}" if root is not None else None


def request_log_dir() -> Path | None:
    """Return the folder of the REST server's request log ($LAB2PROD_REQUEST_LOG), None when logging is off."""
    value = os.environ.get(ENV_REQUEST_LOG, "").strip()
    return Path(value).resolve() if value else None


def served_model_uri() -> str:
    """Return the model URI the REST server was started with ($LAB2PROD_SERVED_MODEL_URI), or ''."""
    return os.environ.get(ENV_SERVED_MODEL, "").strip()


ENV_TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"


def identity() -> str:
    """Return who acts on the registry: $MLFLOW_TRACKING_USERNAME (the team server's login), else the operating system's user."""
    if os.environ.get(ENV_TRACKING_USERNAME):
        return os.environ[ENV_TRACKING_USERNAME]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown user"


def artifact_root(root: Path) -> str:
    """Return where new experiments keep their artifacts: `<root>/mlartifacts`, beside the store."""
    return (Path(root).resolve() / "mlartifacts").as_uri()


def secret(name: str) -> str:
    """Return the secret held by environment variable `name`; raise a ConfigError naming it when unset."""
    value = os.environ.get(name)
    if not value:
        raise ConfigError(
            f"environment variable {name} is not set: export it with the value the source needs"
        )
    return value


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Return the mapping stored in a YAML file, with a one-line error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)}): fix the file"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def write_yaml(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `data` as readable YAML to `path` atomically and return the path."""
    from lab2prod.data.lake import atomic_write_yaml

    return atomic_write_yaml(Path(path), data)


def load_catalog(path: str | os.PathLike) -> Catalog:
    """Return the source catalog stored in YAML at `path`; relative paths are taken from its folder."""
    path = Path(path).resolve()
    return catalog_from_dict(read_yaml(path), location=path, secret=secret)


def load_contract(path: str | os.PathLike):
    """Return the data contract stored in YAML at `path`."""
    from lab2prod.data.contract import contract_from_dict

    return contract_from_dict(read_yaml(path), origin=str(path))


def load_ingest_source(
    data: str | os.PathLike, contract: str | os.PathLike | None
) -> tuple[Catalog | Path, Any]:
    """Return what an ingest reads: a catalog with its committed contract, or one data file and None.

    `data` names a source catalog (YAML, held to the contract at `contract`) or one data file
    (bring your own data: its contract is inferred at ingest, `contract` is ignored).
    """
    data = Path(data)
    if not is_catalog(data):
        return data, None
    if not contract:
        raise ConfigError(f"{data}: a catalog needs a contract: set 'contract' in env.yaml")
    return load_catalog(data), load_contract(contract)


def resolve(root: Path, path: str | os.PathLike) -> Path:
    """Return `path` taken relative to the project folder unless it is absolute."""
    path = Path(path)
    return path if path.is_absolute() else Path(root) / path


class ProjectDefaults(dict):
    """The values env.yaml sets for the commands; asking for one it does not set is a ConfigError naming the file and the key."""

    def __init__(self, path: Path, values: dict[str, str]):
        super().__init__(values)
        self.path = path

    def __missing__(self, key: str) -> str:
        raise ConfigError(f"{self.path}: set '{key}' (or pass it on the command line)")


def project_defaults(root: Path) -> ProjectDefaults:
    """Return what the `lab2prod` commands default to in a project, read from its env.yaml.

    contract: the one the pipeline trained with (`<lake>/contracts/<dataset>.yaml`,
    written by ingest, committed or inferred), else env.yaml's `contract`;
    lake, reports, products, model_name and experiment (of training runs) as env.yaml sets them.
    A key env.yaml does not set is left out (no demo value stands in for it): reading it is a
    ConfigError naming env.yaml and the key.
    """
    path = Lake.of(root).env_file()
    env = read_yaml(path) if path.is_file() else {}
    lake = str(env.get("lake") or "data/lake")
    defaults = {"lake": lake, "reports": str(env.get("reports") or "reports")}
    defaults["products"] = str(env.get("products") or "products")
    written = Lake.of(root, lake).contract(str(env.get("dataset")))
    if env.get("dataset") and written.is_file():
        defaults["contract"] = str(written)
    elif env.get("contract"):
        defaults["contract"] = str(resolve(root, env["contract"]))
    defaults.update({k: str(env[k]) for k in ("model_name", "experiment") if env.get(k)})
    return ProjectDefaults(path, defaults)


# a notebook parameter whose name differs from the Project field it sets
RENAMED = {"lake": "lake_folder", "release": "approval_required"}
SCORING_KEYS = set(Scoring.__dataclass_fields__) - {"limits"}
LIMIT_KEYS = ("drift_share", "alpha", "metric", "tolerance", "estimated_tolerance")


def load_project(
    root: str | os.PathLike | None = None,
    env_file: str = ENV_FILE,
    score_file: str = SCORE_ENV_FILE,
    **overrides: Any,
) -> Project:
    """Return the project at `root` (None: found as project_root finds it) with `overrides` over its env files.

    `overrides` are a run's values (a notebook's parameters, the command line's options): each one
    given wins, None included. Training values come from `env_file`, the scoring pipeline's from
    `score_file` (`threshold` and `contract` of a scoring step come from its overrides); a required
    key that neither sets is "" until a step needs it (`Project.need`: a ConfigError naming the
    file and the key).
    """
    root = project_root(root)
    path = root / env_file
    env = read_yaml(path) if path.is_file() else {}
    values = {**env, **overrides}
    scoring_path = root / score_file
    scoring = read_yaml(scoring_path) if scoring_path.is_file() else {}
    scoring.update({k: v for k, v in overrides.items() if k in SCORING_KEYS | set(LIMIT_KEYS)})
    fields = set(Project.__dataclass_fields__)
    known = {RENAMED.get(k, k): v for k, v in values.items()}
    known["approval_required"] = _approval(known.get("approval_required"), path)
    known["business"] = business_value(values.get("business"), where=str(path))
    known["threshold"] = hand_threshold(values.get("threshold"))
    known["slice_columns"] = tuple(known.get("slice_columns") or ())
    known["limitations"] = tuple(known.get("limitations") or ())
    known["gate_floors"] = known.get("gate_floors") or {}
    known["scoring"] = _scoring(scoring, overrides)
    known = {k: v for k, v in known.items() if k in fields and k not in ("root", "env_file")}
    known.update({k: str(known[k]) for k in REQUIRED if known.get(k) not in (None, "")})
    return Project(root=root, env_file=env_file, **known)


def _approval(release: Any, path: Path) -> bool:
    """Return whether `release:` ({approval: none | required}) asks an approver; a bad value is a ConfigError."""
    if isinstance(release, bool):
        return release
    release = release or {}
    # Ploomber's env reads `none` as None
    if not isinstance(release, dict) or release.get("approval") not in (None, "none", "required"):
        raise ConfigError(f"{path}: release must be {{approval: none}} or {{approval: required}}")
    return release.get("approval") == "required"


def _scoring(values: dict[str, Any], overrides: dict[str, Any]) -> Scoring:
    """Return the scoring pipeline's values; a scoring step's own `threshold` (an override) is the monitor's too."""
    limits = {k: values.get(k) for k in LIMIT_KEYS}
    limits["threshold"] = overrides.get("threshold", values.get("threshold"))
    known = {k: v for k, v in values.items() if k in SCORING_KEYS}
    known["threshold"] = None if limits["threshold"] in (None, "") else float(limits["threshold"])
    known["workers"] = None if known.get("workers") in (None, "") else int(known["workers"])
    known["chunk_rows"] = int(known.get("chunk_rows") or 50_000)
    known = {k: ("" if v is None and k in STRING_SCORING else v) for k, v in known.items()}
    return Scoring(limits={k: v for k, v in limits.items() if v not in (None, "")}, **known)


STRING_SCORING = ("batch", "batch_name", "output", "model", "scored_at", "reference", "labels")


GATE_KEYS = ("gate_metric", "gate_tolerance", "gate_floors", "threshold")


def gate_settings(root: Path, env_file: str | None = None) -> dict[str, Any]:
    """Return the release gate's values that `env_file` (None: env.yaml) of the project sets (gate_metric, gate_tolerance, gate_floors, threshold, business).

    Retraining in process judges a model by the same rules as the pipeline's register step; a key
    the file does not set is left out, so the caller's own default applies.
    """
    path = Path(root) / (env_file or ENV_FILE)
    env = read_yaml(path) if path.is_file() else {}
    values = {k: env[k] for k in GATE_KEYS if env.get(k) is not None}
    if "threshold" in values and hand_threshold(values["threshold"]) is None:
        del values["threshold"]  # "": chosen on validation; retraining keeps its own default
    business = business_value(env.get("business"), where=str(path))
    if business is not None:
        values["business"] = business
    if "gate_floors" in values and not isinstance(values["gate_floors"], dict):
        raise ConfigError(
            f"{path}: gate_floors must map metric names to limits, e.g. {{roc_auc: 0.7}}"
        )
    return values


def approval_required(root: Path, env_file: str | None = None) -> bool:
    """Return whether `env_file` (None: env.yaml) asks an approver to promote a challenger that passes the gate (`release: {approval: required}`)."""
    path = Path(root) / (env_file or ENV_FILE)
    return _approval((read_yaml(path) if path.is_file() else {}).get("release"), path)


def business_value(section: Any, where: str = "env.yaml") -> BusinessValue | None:
    """Return env.yaml's `business:` section (as a notebook parameter receives it) as a typed BusinessValue; None when unset."""
    return business_from_dict(section or None, where=where)


def business_settings(root: Path | None, env_file: str = ENV_FILE) -> BusinessValue | None:
    """Return the business values the project's `env_file` declares (None: no project, no file, or no section).

    The values are declared once, in the training env.yaml; `lab2prod monitor` and the scoring
    pipeline's monitor step read them from there.
    """
    path = Path(root) / env_file if root is not None else None
    env = read_yaml(path) if path is not None and path.is_file() else {}
    return business_value(env.get("business"), where=str(path))


def hand_threshold(value: Any, default: float | None = None) -> float | None:
    """Return a threshold set by hand (a number), or `default` for "" / None (chosen on validation when business values are declared)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f'threshold must be a probability between 0 and 1 or "" (chosen), got {value!r}'
        ) from None
    if not 0 <= threshold <= 1:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold}")
    return threshold


# env.score.yaml's keys for the monitor step -> the monitor's setting names (MonitorConfig.of)
MONITOR_KEYS = {
    "drift_share": "drift_share",
    "alpha": "alpha",
    "metric": "metric",
    "tolerance": "tolerance",
    "threshold": "threshold",
    "estimated_tolerance": "estimated_tolerance",
    "monitor_experiment": "experiment",
}


def monitor_settings(root: Path | None, env_file: str = SCORE_ENV_FILE) -> dict[str, Any]:
    """Return the monitor's thresholds and experiment that `env_file` of the project sets (the scoring pipeline's).

    `lab2prod monitor` and the pipeline's monitor step then judge a batch by the same limits; a key
    the file does not set (or no project, or no file) is left out, so MonitorConfig's default applies.
    """
    path = Path(root) / env_file if root is not None else None
    env = read_yaml(path) if path is not None and path.is_file() else {}
    return {name: env[key] for key, name in MONITOR_KEYS.items() if env.get(key) not in (None, "")}


def subprocess_env(
    set_: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> dict[str, str]:
    """Return this process's environment for a child process, with `set_` values added and `unset` names removed."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(set_ or {})
    return env

"""A project's values, typed: what env.yaml and env.score.yaml set, with a run's overrides.

`settings.load_project` reads the files and builds it; the steps (`lab2prod.steps`) take it.
Nothing here reads a file or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lab2prod.data.lake import Lake
from lab2prod.errors import ConfigError
from lab2prod.modeling.business import BusinessValue

# the values every project's env.yaml sets, with what each is: a step that needs one and finds it
# unset says so in one line
REQUIRED = {
    "dataset": "the name of the normalized table in the lake",
    "model_name": "the MLflow registered model",
    "experiment": "the MLflow experiment of training runs",
}


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Project:
    """One project's values: where its lake, products and reports are, and what its pipelines run with.

    Paths are as env.yaml writes them (relative to `root` unless absolute); `lake` gives them whole.
    `threshold` None: chosen on the validation split (evaluate); `seed` None leaves the split unseeded.
    """

    root: Path
    dataset: str = ""
    model_name: str = ""
    experiment: str = ""
    env_file: str = "env.yaml"  # where the values come from, named by a missing value's error
    # the contract a step reads: the committed one at ingest, the lake's one after
    contract: str = ""
    data: str = ""
    target: str = ""
    task: str = ""
    date_column: str = ""
    date_format: str = ""
    id_column: str = ""
    lake_folder: str = "data/lake"
    products: str = "products"
    reports: str = "reports"
    seed: int | None = 42
    test_size: float = 0.2
    valid_size: float = 0.2
    sample_rows: int = 0
    threshold: float | None = None
    business: BusinessValue | None = None
    select_metric: str = ""
    bootstrap_rounds: int = 200
    importance_repeats: int = 5
    slice_columns: tuple[str, ...] = ()
    gate_metric: str = ""
    gate_tolerance: float = 0.0
    gate_floors: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    approval_required: bool = False
    infra_rows: int = 1000  # rows the release's fresh-process infrastructure check scores
    # the MLflow store; "": $MLFLOW_TRACKING_URI, else <root>/mlflow.db (a replay names its own)
    tracking_uri: str = ""
    intended_use: str = ""
    limitations: tuple[str, ...] = ()
    scoring: Scoring | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate_floors", _frozen(self.gate_floors))

    @property
    def lake(self) -> Lake:
        """Return the project's Lake: every path of its lake, step products and reports."""
        return Lake.of(self.root, self.lake_folder, self.products, self.reports)

    def path(self, path: str | Path) -> Path:
        """Return `path` taken relative to the project folder unless it is absolute."""
        return Path(self.root) / path

    def need(self, key: str) -> str:
        """Return the value of `key` (dataset, model_name, experiment); raise a ConfigError naming the env file and the key when it is not set."""
        value = getattr(self, key)
        if value in (None, ""):
            raise ConfigError(f"{self.path(self.env_file)}: set '{key}' ({REQUIRED[key]})")
        return value

    def contract_path(self) -> Path:
        """Return the contract file this project's step reads."""
        return self.path(self.contract)


@dataclass(frozen=True)
class Scoring:
    """The scoring pipeline's values (env.score.yaml): the batch, the model and the monitor's limits.

    A limit None leaves the monitor's own default (MonitorConfig); `model` "" scores with the champion.
    """

    batch: str = ""
    batch_name: str = ""
    output: str = ""
    model: str = ""
    chunk_rows: int = 50_000
    workers: int | None = None
    scored_at: str = ""
    threshold: float | None = (
        None  # the positive label from this probability; None: the model run's
    )
    reference: str = ""
    labels: str = ""
    # the monitor's limits by MonitorConfig's names (drift_share, alpha, metric, tolerance, threshold,
    # estimated_tolerance); a missing or empty one keeps MonitorConfig's default
    limits: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    monitor_experiment: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", _frozen(self.limits))

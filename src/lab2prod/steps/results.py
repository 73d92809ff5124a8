"""What each step returns: frozen dataclasses, written as JSON and read back as the same type.

A step's JSON summary (`<products>/<step>.json`) holds its result's fields as keys; the next step
(or retraining, the report) reads it with `<Type>.read(path)`, never by picking at keys and tags.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from lab2prod.data.lake import atomic_write_json
from lab2prod.errors import ConfigError
from lab2prod.modeling.business import Valuation
from lab2prod.release.gate import GateDecision

R = TypeVar("R", bound="StepResult")


@dataclass(frozen=True)
class StepResult:
    """A step's result: `as_dict` is its JSON summary, `read` brings the summary back as this type."""

    # fields that hold another dataclass, rebuilt from their mapping by `from_dict`
    NESTED: ClassVar[dict[str, type]] = {}

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping (its fields by name)."""
        return asdict(self)

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """Return the result stored in `data` (a step's summary); keys it does not know are left out."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for name, kind in cls.NESTED.items():
            if isinstance(values.get(name), dict):
                values[name] = _rebuild(kind, values[name])
        return cls(**values)

    def write(self, path: str | Path) -> Path:
        """Write the result as JSON to `path` atomically; return the path."""
        return atomic_write_json(Path(path), self.as_dict())

    @classmethod
    def read(cls: type[R], path: str | Path) -> R:
        """Return the result a step wrote to `path`; a missing file names the step to run first."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: not found: run the step that writes it first")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _rebuild(kind: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    values = {k: tuple(v) if k == "reasons" else v for k, v in data.items() if k in known}
    return kind(**values)


@dataclass(frozen=True)
class StartResult(StepResult):
    """The build's parent MLflow run: every grid cell's run is nested under it."""

    run_id: str
    experiment_id: str


@dataclass(frozen=True)
class TrainResult(StepResult):
    """One grid cell: its MLflow run and model, what it was fitted with, its validation metrics."""

    cell: str  # train-0, train-1 ... (run alone: train)
    run_id: str
    model_uri: str
    family: str
    model_params: dict[str, Any]
    seed: int | None
    parent_run_id: str | None
    data_sha256: str
    valid_metrics: dict[str, float]


@dataclass(frozen=True)
class SelectResult(TrainResult):
    """The grid cell chosen on the validation split, the metric that chose it and the whole grid."""

    select_metric: str = ""
    grid: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        """Return the choice in one sentence."""
        score = self.valid_metrics[self.select_metric]
        return (
            f"Chosen: {self.cell}, {self.family} {self.model_params}, with validation "
            f"{self.select_metric} {score:.4f} (best of {len(self.grid)} cells)."
        )


@dataclass(frozen=True)
class EvaluateResult(StepResult):
    """The chosen model on the test split: metrics with intervals, slices, importance, value, figures."""

    NESTED: ClassVar[dict[str, type]] = {"valuation": Valuation}

    run_id: str
    test_metrics: dict[str, float]
    intervals: dict[str, dict[str, float]]
    rows_test: int
    bootstrap_rounds: int
    slices: list[dict[str, Any]]
    importance: list[dict[str, Any]]
    threshold: float
    valuation: Valuation
    figures: list[str]  # relative to the reports folder: figures/<name>.png


@dataclass(frozen=True)
class CheckResult(StepResult):
    """The fresh-process infrastructure check of select's model: release.infra_check.InfraCheck's fields.

    The check step writes it beside evaluate; register reads it back and passes it on as the
    InfraCheck it is (a test keeps the two field lists equal; this module stays free of MLflow's
    import, which the data steps never pay).
    """

    ok: bool
    model_uri: str
    load_seconds: float | None = None
    latency_ms_one_row: float | None = None
    latency_ms_batch: float | None = None
    batch_rows: int = 0
    error: str | None = None

    @property
    def sentence(self) -> str:
        """Return the check's outcome in one sentence."""
        if not self.ok:
            return f"{self.model_uri} failed the infrastructure check: {self.error}."
        return (
            f"{self.model_uri} loads in a fresh process in {self.load_seconds:.1f} s and scores "
            f"{self.batch_rows} rows of its input example in {self.latency_ms_batch:.0f} ms."
        )


@dataclass(frozen=True)
class RegisterResult(StepResult):
    """The release of the chosen model: its version, the gate's decision, the infra check, the aliases after."""

    NESTED: ClassVar[dict[str, type]] = {"gate": GateDecision}

    model_name: str
    version: str
    promoted: bool
    champion_before: str | None
    champion_after: str | None
    champion_version: str | None
    gate: GateDecision
    decision: dict[str, str]  # the same decision as the MLflow tags on the version and the runs
    reasons: list[str]
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    infra: dict[str, str]
    notes: list[str]
    awaiting_approval: bool
    trained_by: str

    @property
    def sentence(self) -> str:
        """Return the decision in one sentence."""
        if self.awaiting_approval:
            after = f"awaiting approval: an approver runs `lab2prod promote {self.version}`"
        elif self.promoted:
            after = "promoted to champion"
        else:
            after = f"champion unchanged (v{self.champion_after})"
        return f"{self.model_name} v{self.version}: {'; '.join(self.reasons)} -> {after}."


@dataclass(frozen=True)
class PagesResult(StepResult):
    """The pages a step wrote, by name (the report step's index, model card and readiness)."""

    pages: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """Return the pages' paths by name (the summary holds them as its keys)."""
        return dict(self.pages)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PagesResult:
        """Return the pages stored in `data`."""
        return cls(pages={k: str(v) for k, v in data.items()})


@dataclass(frozen=True)
class BatchPageResult(StepResult):
    """One scored batch's summary page and the facts it shows."""

    report: str
    facts: dict[str, Any]

"""What the benchmarks share: the project's folder, the load average, the bundled credit data and its first model.

Imported by the scripts of this folder (`python benchmarks/<name>.py` puts the folder on the path). It
imports lab2prod inside its functions: a script that measures its children keeps its own process light.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "data/contracts/credit.yaml"
CATALOG = ROOT / "data/sources/credit/catalog.yaml"


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def closing_line(started: float) -> str:
    """Return the last line of a run that began at `started` (time.perf_counter): its seconds and the load."""
    return (
        f"\n{time.perf_counter() - started:.0f} s; load average at end (1, 5, 15 min): "
        f"{load_average()}: not a quiet machine when the first figure is above 0.5"
    )


def project_copy(folder: Path, env_file: str) -> Path:
    """Copy the project (what a build needs) into `folder`, with `env_file` as its env.yaml; return `folder`."""
    from lab2prod.release.repro import copy_project

    copy_project(ROOT, folder)
    shutil.copy2(ROOT / env_file, folder / "env.yaml")
    return folder


@dataclass(frozen=True)
class Build:
    """One `ploomber build` in a project copy: its output, wall seconds and its processes' CPU seconds."""

    stdout: str
    wall: float
    cpu: float


def ploomber_build(folder: Path, *args: str) -> Build:
    """Run `ploomber build ARGS` in the copy `folder` on its own MLflow store, as a user runs it.

    Its output is appended to `folder`/build.log; a failed build stops the benchmark in one line.
    """
    from lab2prod import settings

    env = settings.subprocess_env(
        set_={"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"},
        unset=("LAB2PROD_ROOT", "PLOOMBER_ENV_FILENAME"),
    )
    ploomber = str(Path(sys.executable).parent / "ploomber")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [ploomber, "build", *args], cwd=folder, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with (folder / "build.log").open("a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"build failed (exit {done.returncode}) in {folder}: see {folder / 'build.log'}")
    return Build(done.stdout, wall, cpu)


def ingest_credit(lake: Path) -> tuple[Any, Path]:
    """Ingest the bundled credit sources into `lake`; return the contract and the normalized CSV's path."""
    from lab2prod import settings
    from lab2prod.data.ingest import ingest

    contract = settings.load_contract(CONTRACT)
    return contract, ingest(settings.load_catalog(CATALOG), contract, lake).normalized


def credit_frame(lake: Path) -> tuple[Any, Any]:
    """Ingest the bundled credit sources into `lake`; return the contract and the normalized rows."""
    from lab2prod.data.conditioning import read_normalized

    contract, normalized = ingest_credit(lake)
    return contract, read_normalized(str(normalized), contract)


@dataclass
class Fitted:
    """A model fitted on a window's train part, with the rows it learnt from and was measured on."""

    model: Any
    train: Any
    test: Any
    metrics: dict[str, float]


def fit_window(window: Any, contract: Any, seed: int = 42, family: str = "linear") -> Fitted:
    """Fit `family` on a window as retraining splits it (RetrainConfig's test_size held out); measure it there."""
    from lab2prod.modeling.split import split_frame
    from lab2prod.modeling.training import train_model
    from lab2prod.monitoring.retrain import RetrainConfig

    test_size = RetrainConfig().test_size
    parts = split_frame(
        window, contract.target, contract.task, test_size, valid_size=0.0, seed=seed
    )
    trained = train_model(parts["train"], contract, family, {}, seed=seed, valid=parts["test"])
    return Fitted(trained.model, parts["train"], parts["test"], trained.metrics)


def replay_start(data: Any, contract: Any, seed: int) -> tuple[Fitted, Any]:
    """Split `data` as the simulation does: a seeded half is the past, which a model is fitted on
    as retraining splits its window; return that model and the other half, the pool of new batches."""
    past = data.sample(frac=0.5, random_state=seed)
    pool = data.drop(past.index).reset_index(drop=True)
    return fit_window(past.reset_index(drop=True), contract, seed=seed), pool


def trained_credit(root: Path) -> tuple[Any, Path, Any, Any]:
    """Ingest the bundled credit data into `root`/lake, fit a logistic regression on all of it and
    point MLflow at `root`'s store (experiment "benchmark"); return the contract, the normalized
    CSV's path, the rows and the trained model, ready to log."""
    from lab2prod import tracking
    from lab2prod.data.conditioning import read_normalized
    from lab2prod.modeling.training import train_model

    contract, normalized = ingest_credit(root / "lake")
    train = read_normalized(normalized, contract)
    trained = train_model(train, contract, "logistic_regression")
    tracking.connect(root, "benchmark")
    return contract, normalized, train, trained

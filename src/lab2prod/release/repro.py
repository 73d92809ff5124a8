"""The reproducibility check: build the pipeline twice in clean folders and compare content hashes.

Same input, same configuration, same code must give byte-identical normalized
data, splits, metrics and test-set predictions. The builds run `ploomber build`
as a subprocess (lab2prod itself never imports Ploomber).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab2prod import settings
from lab2prod.data.lake import (
    ENV_FILE,
    PIPELINE_FILE,
    SCORE_ENV_FILE,
    SCORE_PIPELINE_FILE,
    Lake,
)
from lab2prod.errors import ConfigError, Lab2ProdError

# what a build needs; everything else (lake, products, reports, mlflow.db) is generated
PROJECT_FILES = (
    PIPELINE_FILE,
    ENV_FILE,
    "env.test.yaml",
    SCORE_PIPELINE_FILE,  # the scoring run's page draws this pipeline (notebooks/score_summary)
    SCORE_ENV_FILE,
    "notebooks",
    "data/sources",
    "data/contracts",
)


@dataclass(frozen=True)
class ReproResult:
    """Hashes of the two builds by artifact name, and what matched."""

    first: dict[str, str]
    second: dict[str, str]

    @property
    def differing(self) -> list[str]:
        """Return the names of the artifacts whose hashes differ (or exist in one build only)."""
        return sorted(
            k for k in set(self.first) | set(self.second) if self.first.get(k) != self.second.get(k)
        )

    @property
    def identical(self) -> bool:
        """Return True when every compared artifact has the same hash in both builds."""
        return not self.differing

    def describe(self) -> str:
        """Return one line per artifact (match / DIFFERS) and a verdict."""
        lines = []
        for name in sorted(set(self.first) | set(self.second)):
            a, b = self.first.get(name, "missing"), self.second.get(name, "missing")
            lines.append(
                f"  {'match  ' if a == b else 'DIFFERS'}  {name}  {a[:12]}"
                + ("" if a == b else f" vs {b[:12]}")
            )
        verdict = (
            "reproducible: both builds are identical"
            if self.identical
            else f"NOT reproducible: {len(self.differing)} artifact(s) differ"
        )
        return "\n".join(lines + [verdict])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json_sha256(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def build_hashes(folder: Path, env: dict) -> dict[str, str]:
    """Return content hashes of a build in `folder`: normalized data, splits, metrics, test predictions.

    Artifacts a partial build did not reach are left out (and so compared only when both builds made them).
    """
    lake = Lake.of(folder, env["lake"], env["products"], env.get("reports", "reports"))
    dataset = env["dataset"]
    files = {
        "normalized data": lake.normalized(dataset),
        **{f"split {part}": lake.split(dataset, part) for part in ("train", "valid", "test")},
        "test predictions": lake.test_predictions(),
    }
    hashes = {name: _sha256(path) for name, path in files.items() if path.exists()}
    cells = {}
    for path in lake.grid_summaries():
        cell = json.loads(path.read_text())
        cells[path.stem] = {
            "family": cell["family"],
            "params": cell.get("model_params"),
            "valid": cell["valid_metrics"],
        }
    if cells:
        hashes["validation metrics (grid)"] = _json_sha256(cells)
    if lake.summary("evaluate").exists():
        evaluated = json.loads(lake.summary("evaluate").read_text())
        hashes["test metrics"] = _json_sha256(
            {k: evaluated.get(k) for k in ("test_metrics", "intervals", "slices", "importance")}
        )
    return hashes


def copy_project(root: Path, dest: Path) -> None:
    """Copy what a build needs (PROJECT_FILES) from `root` into `dest`, with the commit it comes from.

    The copy is no git repository: it records `root`'s commit (tracking.COMMIT_FILE) so that the runs
    built in it carry the real `git_commit` tag instead of 'unknown'.
    """
    from lab2prod import tracking  # imports MLflow: only when a copy is made

    dest.mkdir(parents=True, exist_ok=True)
    (dest / tracking.COMMIT_FILE).write_text(tracking.git_commit(root) + "\n", encoding="utf-8")
    for item in PROJECT_FILES:
        src = root / item
        if not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(
                src, dest / item, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "exploratory")
            )
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)


def build(folder: Path, until: str | None = None, timeout: float = 1800) -> None:
    """Run `ploomber build` (up to task `until`) in `folder` with its own MLflow store; log to folder/build.log."""
    ploomber = Path(sys.executable).parent / "ploomber"
    cmd = [str(ploomber if ploomber.exists() else "ploomber"), "build"] + (
        ["--partially", until] if until else []
    )
    # the build's own SQLite store, inside the copy: never the user's
    child_env = settings.subprocess_env(
        set_={"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"},
        unset=("LAB2PROD_ROOT", "PLOOMBER_ENV_FILENAME"),
    )
    done = subprocess.run(
        cmd, cwd=folder, env=child_env, capture_output=True, text=True, timeout=timeout
    )
    (folder / "build.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise Lab2ProdError(
            f"ploomber build failed in {folder} (exit {done.returncode}): see {folder / 'build.log'}"
        )


def repro_check(
    root: Path,
    env_file: str = "env.test.yaml",
    overrides: dict[str, str] | None = None,
    keep: Path | None = None,
    until: str | None = None,
    timeout: float = 1800,
    progress: Callable[[str], None] = lambda _: None,
) -> ReproResult:
    """Build the project twice in fresh copies with `env_file` (plus `overrides`) and return the compared hashes."""
    env_path = Path(root) / env_file
    env = settings.read_yaml(env_path)
    for key, value in (overrides or {}).items():
        if key not in env:
            raise ConfigError(f"{env_path}: no key {key!r} to override; keys are {', '.join(env)}")
        env[key] = yaml.safe_load(value)
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="lab2prod-repro-"))
    hashes = []
    try:
        for i in (1, 2):
            folder = base / f"build{i}"
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            copy_project(Path(root), folder)
            # both builds read the chosen values as env.yaml, the file `ploomber build` reads by default
            settings.write_yaml(env, Lake.of(folder).env_file())
            progress(f"build {i}/2 in {folder} ...")
            start = time.perf_counter()
            build(folder, until, timeout)
            progress(f"build {i}/2 done in {time.perf_counter() - start:.0f} s")
            hashes.append(build_hashes(folder, env))
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return ReproResult(first=hashes[0], second=hashes[1])

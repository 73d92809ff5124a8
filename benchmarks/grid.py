"""Wall time of the training grid: Ploomber's serial executor against the parallel one (2 processes).

Builds two temporary copies of the project with the same env file; in each, the
steps before the grid (ingest, validate, split, start) are built first and not
timed, then `ploomber build --partially select` (every grid cell of `train` and
`select`) is timed. Prints both wall times and their ratio (goal: <= 0.7).

    python benchmarks/grid.py [--env-file env.test.yaml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, load_average

from lab2prod import settings
from lab2prod.release.repro import copy_project

PLOOMBER = str(Path(sys.executable).parent / "ploomber")


def _build(folder: Path, *args: str) -> float:
    env = settings.subprocess_env(
        set_={"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"},
        unset=("LAB2PROD_ROOT", "PLOOMBER_ENV_FILENAME"),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [PLOOMBER, "build", *args], cwd=folder, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    (folder / "build.log").open("a").write(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"build failed in {folder}: see {folder / 'build.log'}")
    return elapsed


def prepare(base: Path, name: str, env_file: str, executor: str | None) -> Path:
    """Copy the project into base/name, use `env_file` as env.yaml, optionally force the serial executor."""
    folder = base / name
    copy_project(ROOT, folder)
    shutil.copy2(ROOT / env_file, folder / "env.yaml")
    if executor == "serial":
        spec = (folder / "pipeline.yaml").read_text()
        spec, n = re.subn(
            r"executor:\n  dotted_path: [\w.]+\n(?:  .*\n)+", "executor: serial\n", spec
        )
        if n != 1:
            sys.exit(
                "pipeline.yaml: the parallel executor block was not found; update benchmarks/grid.py"
            )
        (folder / "pipeline.yaml").write_text(spec)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", default="env.test.yaml")
    parser.add_argument("--keep", help="keep the build folders here")
    args = parser.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lab2prod-bench-grid-"))
    try:
        times = {}
        for name in ("serial", "parallel"):
            folder = prepare(base, name, args.env_file, name)
            warm = _build(folder, "--partially", "start")
            print(f"{name}: steps before the grid built in {warm:.1f} s (not timed)", flush=True)
            before = load_average()
            times[name] = _build(folder, "--partially", "select")
            cells = len(list((folder / "products").glob("train-*.json")))
            print(
                f"{name}: {cells} grid cells + select: {times[name]:.1f} s wall "
                f"(load average {before} before, {load_average()} after)",
                flush=True,
            )
        print(
            f"serial {times['serial']:.1f} s, parallel {times['parallel']:.1f} s, "
            f"ratio parallel/serial = {times['parallel'] / times['serial']:.2f} (goal <= 0.7)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

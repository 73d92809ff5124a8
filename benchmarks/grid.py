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
import sys
import tempfile
from pathlib import Path

from common import load_average, ploomber_build, project_copy


def prepare(base: Path, name: str, env_file: str, executor: str | None) -> Path:
    """Copy the project into base/name, use `env_file` as env.yaml, optionally force the serial executor."""
    folder = project_copy(base / name, env_file)
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
            warm = ploomber_build(folder, "--partially", "start").wall
            print(f"{name}: steps before the grid built in {warm:.1f} s (not timed)", flush=True)
            before = load_average()
            times[name] = ploomber_build(folder, "--partially", "select").wall
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

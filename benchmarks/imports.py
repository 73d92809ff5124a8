"""Time importing what the commands and notebooks import, each in a fresh interpreter; print the figures.

    .venv/bin/python benchmarks/imports.py [--repeat 3] [module ...]

Each module is imported in a new `python -c "import MODULE"` process, `--repeat` times; the best
wall time and that run's CPU seconds (user + system of the child) are printed beside the bare
interpreter's start-up, which every figure includes. The load average is printed before and after:
on a loaded machine the wall times are those of a shared core. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

from common import load_average

MODULES = (
    "pandas",
    "pyarrow",
    "sklearn.ensemble",
    "mlflow",
    "lab2prod.scoring.score",
    "lab2prod.cli",
    "papermill",
    "ploomber",
)


def timed_import(module: str | None) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds) of one fresh interpreter importing `module` (None: nothing)."""
    code = f"import {module}" if module else "pass"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"load average {load_average()} before; {os.cpu_count()} cores; python {sys.version.split()[0]}"
    )
    for module in (None, *args.modules):
        runs = [timed_import(module) for _ in range(args.repeat)]
        wall, cpu = min(runs)
        print(
            f"{module or '(bare interpreter)':28} {wall:6.2f} s wall  {cpu:6.2f} s CPU", flush=True
        )
    print(f"load average {load_average()} after (best of {args.repeat} runs each)")


if __name__ == "__main__":
    main()

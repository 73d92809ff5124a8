"""Wall time of the whole training build: `ploomber build` of env.yaml in a fresh copy of the project.

Copies the project (what a build needs, lab2prod.release.repro.copy_project) into a temporary folder
with its own MLflow store (sqlite:///<copy>/mlflow.db), times one `ploomber build` there as a user
runs it (the process, Ploomber's import included), and prints the total wall time, the CPU time of
the build's processes (a figure a loaded machine changes less), the load average before and after,
Ploomber's per-task table, and each
task's start and end in seconds from the build's first task (from its log: the critical path). Goal (issue 23): at most 60 s on 2 quiet cores.

    python benchmarks/build.py [--env-file env.yaml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import tempfile
import time
from pathlib import Path

from common import closing_line, load_average, ploomber_build, project_copy


def task_table(output: str) -> str:
    """Return Ploomber's per-task table, the last lines of a build's output from its header on."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("name")]
    return "\n".join(lines[starts[-1] - 1 :]) if starts else "(no per-task table in the output)"


STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\d+) "
STARTED = re.compile(STAMP + r".*Starting execution: \w+: (\S+) ->")
DONE = re.compile(STAMP + r".*Done\. Operation took")


def timeline(log: str) -> str:
    """Return each task's start and end, in seconds from the first task's start, read from the build's log.

    A task process logs "Starting execution: ...: <task>" then "Done." with its process id.
    """
    spans: dict[str, list[float]] = {}
    running: dict[str, str] = {}
    first = None
    for line in log.splitlines():
        for pattern in (STARTED, DONE):
            found = pattern.match(line)
            if not found:
                continue
            at = dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            first = at if first is None else first
            if pattern is STARTED:
                running[found.group(2)] = found.group(3)
                spans[found.group(3)] = [at - first, float("nan")]
            elif found.group(2) in running:
                spans[running.pop(found.group(2))][1] = at - first
    rows = [f"{'task':<10} {'start':>7} {'end':>7}"]
    rows += [f"{name:<10} {start:7.1f} {end:7.1f}" for name, (start, end) in spans.items()]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", default="env.yaml")
    parser.add_argument("--keep", help="build in this folder and keep it")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = (
        Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lab2prod-bench-build-"))
    )
    try:
        project_copy(folder, args.env_file)
        before = load_average()
        build = ploomber_build(folder)
        print(task_table(build.stdout))
        print("\n" + timeline((folder / "products" / "logs" / "build.log").read_text()))
        tasks = len(list((folder / "products" / "notebooks").glob("*.ipynb")))
        print(
            f"\n`ploomber build` of {args.env_file} ({tasks} tasks): {build.wall:.1f} s wall, {build.cpu:.1f} s CPU "
            f"(load average {before} before, {load_average()} after; goal <= 60 s)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(closing_line(started))


if __name__ == "__main__":
    main()

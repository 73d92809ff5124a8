"""Build one task of a pipeline the way `ploomber build` does: `python -m lab2prod_ploomber.task NAME`.

What the Airflow DAGs run (lab2prod_ploomber.airflow). Like `ploomber task NAME --force`, plus what
`pipeline.yaml`'s executor gives every notebook task: a kernel on Unix sockets
(kernels.IPCKernelManager), so that no kernel dies in a race for a TCP port (papermill #511).
The env file is Ploomber's: $PLOOMBER_ENV_FILENAME, else env.yaml beside pipeline.yaml and
env.<name>.yaml beside pipeline.<name>.yaml; `--env--KEY VALUE` overrides a key, as in Ploomber.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml
from ploomber.spec import DAGSpec

from lab2prod_ploomber.executors import KERNEL_MANAGER


def env_file_for(entry_point: Path) -> Path:
    """Return the env file Ploomber reads for `entry_point`."""
    if os.environ.get("PLOOMBER_ENV_FILENAME"):
        return entry_point.parent / os.environ["PLOOMBER_ENV_FILENAME"]
    parts = entry_point.name.split(".")
    name = f"env.{parts[1]}.yaml" if len(parts) == 3 else "env.yaml"
    return entry_point.parent / name


def main(argv: list[str] | None = None) -> int:
    """Build task NAME of the pipeline (forced); return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m lab2prod_ploomber.task",
        description="Build one task of a Ploomber pipeline (forced), as `ploomber build` runs it.",
    )
    parser.add_argument("name", help="the task's name in the pipeline")
    parser.add_argument("--entry-point", default="pipeline.yaml", help="the pipeline file")
    args, rest = parser.parse_known_args(argv)
    if len(rest) % 2 or any(not key.startswith("--env--") for key in rest[::2]):
        parser.error("after the task's name only --env--KEY VALUE pairs may follow")

    entry = Path(args.entry_point).resolve()
    env = yaml.safe_load(env_file_for(entry).read_text(encoding="utf-8")) or {}
    for key, value in zip(rest[::2], rest[1::2]):
        env[key[len("--env--") :]] = value
    dag = DAGSpec(str(entry), env=env).to_dag()
    dag.render(show_progress=False)
    if args.name not in dag:
        print(f"error: {entry}: no task {args.name!r}; tasks: {', '.join(dag)}", file=sys.stderr)
        return 2
    task = dag[args.name]
    if getattr(task, "executor", None) == "papermill":  # a NotebookRunner
        task.executor_params.setdefault("kernel_manager_class", KERNEL_MANAGER)
    task.build(force=True)
    print(f"{args.name}: built")
    return 0


if __name__ == "__main__":
    sys.exit(main())

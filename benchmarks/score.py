"""Benchmark batch scoring: `lab2prod score` against the naive one-shot way and `mlflow models predict`.

Builds a champion in a temporary MLflow store (the bundled credit data, a
logistic regression logged and registered as the training pipeline does),
resamples the data to the sizes asked, then runs each way as its own process,
side by side, and prints wall time, rows/s and peak RSS (the process tree's
resident memory, polled every 20 ms with psutil; imports and model loading
included) and the CPU seconds of the whole process tree (getrusage of the
reaped children, or the sum polled per process when larger: a pool's workers are not always
reaped up the tree). Each way runs --repeat times, the ways taking turns, and the
table gives the median time (and the fastest and slowest): on a shared 2-core
machine a single run of the same command varies by 20% or more, and taking
turns spreads slow spells over every way. The load average is printed beside
the figures. Figures only, never asserted.

The repeated-ids case (issue 14): `lab2prod score` on --repeat-rows rows with
unique ids, then on as many rows drawn with replacement from the bundled
applicants (each id about 67 times at 300,000 rows: all but the first of each
quarantined), and the ratio of the time per row.
Run from the project folder:

    python benchmarks/score.py                    # 1M and 5M rows, 3 runs of each way
    python benchmarks/score.py --sizes 100000 --repeat 1     # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
from common import ROOT as PROJECT
from common import load_average, trained_credit

MODEL_NAME = "credit-risk"
URI = f"models:/{MODEL_NAME}@champion"

NAIVE = """
import sys
import pandas as pd
from lab2prod.model_edge import load_sklearn_model
model = load_sklearn_model(sys.argv[3])  # the fitted pipeline (skops), without the contract
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
proba = model.predict_proba(frame)[:, 1]
pd.DataFrame({"applicant_id": frame["applicant_id"], "probability": proba}).to_csv(sys.argv[2], index=False)
"""


def build_champion(root: Path) -> Path:
    """Ingest the bundled sources, fit and register a logistic regression champion; return the normalized CSV."""
    from lab2prod import model_logging
    from lab2prod.release import registry

    contract, normalized, train, trained = trained_credit(root)
    uri = model_logging.log_training_run(trained, train, contract, run_name="benchmark").model_uri
    registry.promote(MODEL_NAME, registry.register(uri, MODEL_NAME).version)
    return normalized


def resample(
    normalized: Path, rows: int, path: Path, seed: int = 0, unique_ids: bool = True
) -> Path:
    """Write `rows` rows drawn with replacement from the normalized data (target dropped; ids made
    unique, or kept as drawn: each applicant's id then repeats)."""
    table = pv.read_csv(
        normalized, convert_options=pv.ConvertOptions(strings_can_be_null=True)
    ).drop_columns(["Status"])
    picks = np.random.default_rng(seed).integers(0, table.num_rows, rows)
    table = table.take(pa.array(picks))
    if unique_ids:
        ids = pa.array(np.char.add("R", np.arange(rows).astype("U9")).astype(object), pa.string())
        table = table.set_column(table.schema.get_field_index("applicant_id"), "applicant_id", ids)
    # as the lake writes them: integers plain, floats with a decimal point ("9.0"; pyarrow writes "9").
    # `mlflow models predict` reads the CSV with pandas (the registered pyfunc conditions it by the
    # contract, as lab2prod score does; the plain sklearn flavor's signature, model_logging.input_schema, says
    # long for the contract's required integers and double for its floats)
    for i, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            text = pc.cast(table.column(i), pa.string())
            text = pc.if_else(
                pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".0", "")
            )
            table = table.set_column(i, field.name, text)
    pv.write_csv(table, path, write_options=pv.WriteOptions(quoting_style="needed"))
    return path


def measure(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, float]:
    """Run a command; return (seconds, peak RSS of its process tree in MB, exit code, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    root = psutil.Process(process.pid)
    peak = 0
    seen_cpu: dict[int, float] = {}  # the CPU seconds last seen of each process of the tree
    while process.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            rss = 0
            for p in procs:
                with p.oneshot():
                    rss += p.memory_info().rss
                    times = p.cpu_times()
                    seen_cpu[p.pid] = times.user + times.system
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # getrusage counts only the processes reaped up the tree: a pool's fork server and its workers
    # may be reaped by nobody here, so the polled sum counts too (it misses the last 20 ms)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu = max(reaped, sum(seen_cpu.values()))
    err = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        print(
            f"  ! {' '.join(args[:3])} exited {process.returncode}: {err.strip().splitlines()[-1:]}",
            file=sys.stderr,
        )
    return seconds, peak / 2**20, process.returncode, cpu


def load() -> str:
    """Return the load averages (1, 5, 15 minutes) and the cores, for the figures' context."""
    return f"load average {load_average()} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument(
        "--mlflow-max-rows",
        type=int,
        default=1_000_000,
        help="skip `mlflow models predict` above this size (it holds everything in memory)",
    )
    parser.add_argument(
        "--chunk-rows", type=int, help="rows per chunk (default: lab2prod score's own default)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each way; the table gives the median (default 3)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="also time `lab2prod score --workers 0` (no worker processes)",
    )
    parser.add_argument(
        "--pool",
        type=int,
        metavar="WORKERS",
        default=0,
        help="also time `lab2prod score --workers WORKERS` (a process pool; none by default up "
        "to 2 cores)",
    )
    parser.add_argument(
        "--dask",
        type=int,
        metavar="WORKERS",
        default=0,
        help="also time `lab2prod score --engine dask` on a LocalCluster of WORKERS processes "
        "(e.g. 2 on 2 cores), next to the local engine",
    )
    parser.add_argument(
        "--only-lab2prod",
        action="store_true",
        help="time only the lab2prod engines (no naive one-shot, no mlflow models predict)",
    )
    parser.add_argument(
        "--repeat-rows",
        type=int,
        default=300_000,
        help="rows of the repeated-ids case (0: skip it; default 300000)",
    )
    parser.add_argument(
        "--workdir", help="keep the data and store here (default: a temporary folder, removed)"
    )
    args = parser.parse_args()

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lab2prod-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")]),
    }

    def lab2prod_score(data: Path, *extra: str) -> list[str]:
        return [
            str(Path(bindir) / "lab2prod"),
            "score",
            "--input",
            str(data),
            "--output",
            str(work / "out-lab2prod.csv"),
            "--model",
            URI,
            "--contract",
            str(PROJECT / "data/contracts/credit.yaml"),
            *(["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []),
            "--quiet",
            *extra,
        ]

    def take_turns(ways: dict[str, list[str]], size: int) -> dict[str, list[tuple]]:
        runs: dict[str, list[tuple]] = {name: [] for name in ways}
        for turn in range(1, max(1, args.repeat) + 1):
            for name, command in ways.items():
                seconds, peak, code, cpu = measure(command, env, work)
                runs[name].append((seconds, peak, code, cpu))
                print(
                    f"  [{turn}] {name:<24} {seconds:6.1f} s  {size / seconds:>10,.0f} rows/s  "
                    f"{peak:7,.0f} MB peak  {cpu:6.1f} CPU-s  ({load()})"
                    + ("" if code == 0 else f"  (exit {code})"),
                    file=sys.stderr,
                )
        return runs

    try:
        print(f"setting up in {work} ... ({load()})", file=sys.stderr)
        normalized = build_champion(work)
        rows_table = []
        for size in args.sizes:
            data = resample(normalized, size, work / f"batch-{size}.csv")
            mb = data.stat().st_size / 2**20
            print(f"{size:,} rows: {mb:,.0f} MB of CSV", file=sys.stderr)
            ways = {"lab2prod score": lab2prod_score(data)}
            if args.in_process:
                ways["lab2prod score -w0"] = lab2prod_score(data, "--workers", "0")
            if args.pool:
                ways[f"lab2prod score -w{args.pool}"] = lab2prod_score(
                    data, "--workers", str(args.pool)
                )
            if args.dask:
                ways[f"dask, {args.dask} workers"] = lab2prod_score(
                    data, "--engine", "dask", "--workers", str(args.dask)
                )
            if not args.only_lab2prod:
                ways["naive one-shot"] = [
                    sys.executable,
                    "-c",
                    NAIVE,
                    str(data),
                    str(work / "out-naive.csv"),
                    URI,
                ]
            if size <= args.mlflow_max_rows and not args.only_lab2prod:
                ways["mlflow models predict"] = [
                    str(Path(bindir) / "mlflow"),
                    "models",
                    "predict",
                    "-m",
                    URI,
                    "-i",
                    str(data),
                    "-o",
                    str(work / "out-mlflow.json"),
                    "-t",
                    "csv",
                    "--env-manager",
                    "local",
                ]
            for name, measured in take_turns(ways, size).items():
                rows_table.append((size, name, measured))
            for leftover in work.glob("out-*"):
                leftover.unlink()
            data.unlink()
        repeated = None
        if args.repeat_rows:
            size = args.repeat_rows
            clean = resample(normalized, size, work / "batch-unique.csv")
            drawn = resample(normalized, size, work / "batch-drawn.csv", unique_ids=False)
            print(f"{size:,} rows, unique ids and drawn with replacement", file=sys.stderr)
            repeated = take_turns(
                {"unique ids": lab2prod_score(clean), "ids drawn again": lab2prod_score(drawn)},
                size,
            )
        print()
        print(
            f"{'rows':>10}  {'way':<24} {'seconds':>8} {'(min-max)':>13} {'rows/s':>11} "
            f"{'peak RSS MB':>12} {'CPU-s':>7} {'CPU-s/M rows':>13}"
        )
        medians = {}
        for size, name, measured in rows_table:
            times = sorted(m[0] for m in measured)
            seconds, cpu = float(np.median(times)), float(np.median([m[3] for m in measured]))
            peak = max(m[1] for m in measured)
            code = max((m[2] for m in measured), key=abs)
            medians[(size, name)] = (seconds, peak, cpu)
            print(
                f"{size:>10,}  {name:<24} {seconds:8.1f} {f'({times[0]:.1f}-{times[-1]:.1f})':>13} "
                f"{size / seconds:11,.0f} {peak:12,.0f} {cpu:7.1f} {cpu / size * 1e6:13.1f}"
                + ("" if code == 0 else f"  exit {code}")
            )
        print(f"(median of {max(1, args.repeat)} runs of each way, taking turns; {load()})")
        small, large = min(args.sizes), max(args.sizes)
        ours = "lab2prod score"

        def verdict(met: bool) -> str:
            return "met" if met else "MISSED"

        print(f"\ntargets (issue 13), {load()}:")
        for size in sorted(set(args.sizes)):
            if (size, "naive one-shot") in medians:
                naive, mine = medians[(size, "naive one-shot")], medians[(size, ours)]
                ratio = naive[0] / mine[0]
                print(
                    f"  at {size:,}: {ratio:.2f}x the naive way's speed (target >= 1: "
                    f"{verdict(ratio >= 1)}); CPU-s per M rows {mine[2] / size * 1e6:.1f} against "
                    f"the naive way's {naive[2] / size * 1e6:.1f} (aim: no more: "
                    f"{verdict(mine[2] <= naive[2])})"
                )
        if (small, "mlflow models predict") in medians:
            ratio = medians[(small, "mlflow models predict")][0] / medians[(small, ours)][0]
            print(
                f"  at {small:,}: {ratio:.2f}x the speed of mlflow models predict "
                f"(target >= 1.5: {verdict(ratio >= 1.5)})"
            )
        if small != large:
            ratio = medians[(large, ours)][1] / medians[(small, ours)][1]
            peak = medians[(large, ours)][1]
            print(
                f"  peak RSS at {large:,} / at {small:,}: {ratio:.2f} (target <= 1.2: "
                f"{verdict(ratio <= 1.2)}); {peak:,.0f} MB at {large:,} (target < 600: "
                f"{verdict(peak < 600)})"
            )
        if args.dask:
            for size in args.sizes:
                dask = medians[(size, f"dask, {args.dask} workers")][0]
                print(
                    f"dask ({args.dask} workers) / local at {size:,}: {dask / medians[(size, ours)][0]:.2f}x the time"
                )
        if repeated is not None:
            per_row = {n: float(np.median([m[0] for m in r])) for n, r in repeated.items()}
            print(
                f"repeated ids at {args.repeat_rows:,} rows: unique {per_row['unique ids']:.1f} s, "
                f"drawn again {per_row['ids drawn again']:.1f} s: "
                f"{per_row['ids drawn again'] / per_row['unique ids']:.2f}x the clean path per row "
                "(target <= 2)"
            )
        print(f"load average at the end: {load()} (a shared machine, not a quiet one)")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

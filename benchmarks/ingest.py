"""Ingest and validation throughput and memory at lake scale (prints figures, asserts nothing).

    python benchmarks/ingest.py [--rows 1000000] [--bad-share 0.001] [--runs 3] [--workdir DIR]

Builds one CSV of `--rows` rows drawn with replacement (seeded) from the bundled demo, with fresh
unique ids and a small share of rows made invalid (age out of range) so quarantine is exercised. Then,
each phase in a fresh process of its own (so each peak RSS is that phase's alone):

* ingest:   land the file in the raw zone (SHA-256 + copy), read it, condition it by the credit
            contract (pandera), write the normalized and quarantine zones and the manifest
            (`ingest.ingest`); the rows are accounted for: in = normalized + quarantined
* validate: read and condition the same file (`validate.validate_file`, what `lab2prod validate` runs)
* check:    the dataset-level pandera check of the normalized frame (`quality.check_normalized`)

and, whole processes side by side in turns (`--runs` each, median wall time and peak RSS):

* `lab2prod validate --input FILE --contract data/contracts/credit.yaml`
* `python -c "import pandas; pandas.read_csv(FILE)"`: the floor a plain read sets
* `lab2prod validate` of the same file without its target column: refused on its header

Wall and CPU seconds are both printed, with the load average before and after: on a shared machine
the CPU figure is the steadier one. A phase's clock starts after its imports (pandas, pyarrow and
pandera: about 1 s on a quiet machine); each phase's row also gives its whole process (interpreter
start, imports, the phase, exit) and the rows/s of that. The targets of issue 14.6 end the output,
each with its figure and "met" or "MISSED": ingest and validation at 300,000 rows/s or more (the
phase, and the whole process), peak RSS at most 1 GB, in = normalized + quarantined, `lab2prod
validate` within 4x `pandas.read_csv` (wall), the file without its target refused before its rows
are read. Figures belong in benchmarks/RESULTS.md with the date and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, load_average

sys.path.insert(0, str(ROOT / "src"))
BIN = Path(sys.executable).parent
CONTRACT = ROOT / "data/contracts/credit.yaml"


def make_input(workdir: Path, rows: int, bad_share: float, seed: int = 0) -> Path:
    """Write the resampled CSV (and a copy without the target column) and return its path."""
    import numpy as np
    import pandas as pd

    from lab2prod import settings
    from lab2prod.data import ingest

    demo = ingest.ingest(
        settings.load_catalog(ROOT / "data/sources/credit/catalog.yaml"),
        settings.load_contract(CONTRACT),
        workdir / "demo-lake",
    )
    base = pd.read_csv(demo.normalized, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    big = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    big["applicant_id"] = [f"B{i:08d}" for i in range(rows)]
    bad = rng.random(rows) < bad_share
    big.loc[bad, "Age"] = "150"
    path = workdir / "credit_big.csv"
    big.to_csv(path, index=False, lineterminator="\n")
    big.drop(columns=["Status"]).to_csv(
        workdir / "credit_big_no_target.csv", index=False, lineterminator="\n"
    )
    return path


def _contract(dataset: str):
    from dataclasses import replace

    from lab2prod import settings

    return replace(settings.load_contract(CONTRACT), dataset=dataset)


def run_phase(phase: str, path: Path, workdir: Path) -> dict:
    """Run one phase in this process; return its timings, peak RSS and row counts."""
    import pandera.pandas  # noqa: F401  imported before the clock starts: a throughput, not a start-up

    from lab2prod.data import ingest, quality
    from lab2prod.data.catalog import single_file_catalog
    from lab2prod.data.conditioning import read_normalized
    from lab2prod.data.validate import validate_file

    contract = _contract("credit_big")
    out: dict = {"phase": phase}
    if phase == "check":
        frame = read_normalized(str(workdir / "lake/normalized/credit_big.csv"), contract)
        quarantine = workdir / "lake/quarantine/credit_big.csv"
        quarantined = quarantine.read_text(encoding="utf-8").count("\n") - 1
        rows = len(frame)
    start, cpu = time.perf_counter(), time.process_time()
    if phase == "ingest":
        result = ingest.ingest(single_file_catalog(path), contract, workdir / "lake")
        rows = result.rows_in
        out.update(
            normalized=result.rows_normalized,
            quarantined=result.rows_quarantined,
            accounted=result.rows_in == result.rows_normalized + result.rows_quarantined,
        )
    elif phase == "validate":
        report = validate_file(path, contract)
        rows = report.result.rows_in
        out.update(
            normalized=len(report.result.clean),
            quarantined=report.rows_quarantined,
            accounted=rows == len(report.result.clean) + report.rows_quarantined,
        )
    elif phase == "check":
        quality.check_normalized(frame, contract, quarantined, "bench")
    out.update(
        rows=rows,
        wall=time.perf_counter() - start,
        cpu=time.process_time() - cpu,
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return out


def _child(phase: str, path: Path, workdir: Path) -> dict:
    """Run one phase in a fresh process; return its figures and those of the whole process
    (interpreter start, imports, the phase, exit): wall and CPU seconds."""
    argv = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--input",
        str(path),
        "--workdir",
        str(workdir),
    ]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"phase {phase} failed:\n{err.read()[-3000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result.update(process_wall=wall, process_cpu=usage.ru_utime + usage.ru_stime)
    return result


def whole_process(argv: list[str]) -> tuple[float, float, int, float]:
    """Run a command; return its wall seconds, its peak RSS in MB, its exit code and its CPU seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return (
        time.perf_counter() - start,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(status),
        usage.ru_utime + usage.ru_stime,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bad-share", type=float, default=0.001)
    parser.add_argument("--runs", type=int, default=3, help="turns of the whole-process comparison")
    parser.add_argument(
        "--workdir", help="folder for the generated files (default: a temporary folder)"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: one phase in this process
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "make":
        make_input(Path(args.workdir), args.rows, args.bad_share)
        return
    if args.phase:
        print(json.dumps(run_phase(args.phase, Path(args.input), Path(args.workdir))))
        return
    with tempfile.TemporaryDirectory(prefix="lab2prod-bench-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(
            f"load average before: {load_average()} (2 cores; a shared machine is not a quiet one)"
        )
        start = time.perf_counter()
        # in a process of its own: this one stays small, for Linux counts a child's peak RSS from the
        # size of the process it was forked from
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                "make",
                "--rows",
                str(args.rows),
                "--bad-share",
                str(args.bad_share),
                "--workdir",
                str(workdir),
            ],
            check=True,
        )
        path = workdir / "credit_big.csv"
        print(
            f"input: {path.stat().st_size / 1e6:.0f} MB CSV, {args.rows:,} rows, 15 columns "
            f"(made in {time.perf_counter() - start:.1f} s)"
        )
        print(
            "each phase in its own process; the phase's own clock starts after its imports, the whole "
            "process counts interpreter start, imports and exit too"
        )
        print(
            f"{'phase':<9} {'rows':>10} {'wall s':>7} {'rows/s':>10} {'CPU s':>7} {'rows/s CPU':>10} "
            f"{'peak MB':>8} {'process s':>9} {'rows/s':>10}  accounted"
        )
        phases = {}
        for phase in ("ingest", "validate", "check"):
            r = phases[phase] = _child(phase, path, workdir)
            accounted = (
                f"in {r['rows']:,} = normalized {r['normalized']:,} + quarantined {r['quarantined']:,}: "
                f"{r['accounted']}"
                if "accounted" in r
                else ""
            )
            print(
                f"{phase:<9} {r['rows']:>10,} {r['wall']:>7.2f} {r['rows'] / r['wall']:>10,.0f} "
                f"{r['cpu']:>7.2f} {r['rows'] / r['cpu']:>10,.0f} {r['peak_mb']:>8,.0f} "
                f"{r['process_wall']:>9.2f} {r['rows'] / r['process_wall']:>10,.0f}  {accounted}"
            )
        ways = {
            "lab2prod validate": [
                str(BIN / "lab2prod"),
                "validate",
                "--input",
                str(path),
                "--contract",
                str(CONTRACT),
            ],
            "pandas.read_csv": [
                sys.executable,
                "-c",
                f"import pandas; pandas.read_csv({str(path)!r})",
            ],
            "header refused": [
                str(BIN / "lab2prod"),
                "validate",
                "--input",
                str(workdir / "credit_big_no_target.csv"),
                "--contract",
                str(CONTRACT),
            ],
        }
        runs: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in ways}
        for _ in range(args.runs):  # in turns: a busy spell hits every way alike
            for name, argv in ways.items():
                runs[name].append(whole_process(argv))
        print(f"whole processes, median of {args.runs} runs in turns:")
        medians = {}
        for name, results in runs.items():
            wall, peak, cpu = (statistics.median(r[i] for r in results) for i in (0, 1, 3))
            codes = sorted({r[2] for r in results})
            medians[name] = (wall, peak, codes, cpu)
            print(
                f"  {name:<18} {wall:6.2f} s  CPU {cpu:5.2f} s  peak {peak:6,.0f} MB  exit {codes}"
            )
        ratio = medians["lab2prod validate"][0] / medians["pandas.read_csv"][0]
        cpu_ratio = medians["lab2prod validate"][3] / medians["pandas.read_csv"][3]
        print(f"  lab2prod validate / pandas.read_csv: {ratio:.2f}x wall ({cpu_ratio:.2f}x CPU)")
        verdicts(phases, medians, ratio, path.stat().st_size / 2**20)
        print(f"load average after: {load_average()}")


TARGET_ROWS_S = 300_000
TARGET_PEAK_MB = 1024  # 1 GB, as ru_maxrss counts it (MiB)
TARGET_RATIO = 4.0


def verdicts(phases: dict, medians: dict, ratio: float, input_mb: float) -> None:
    """Print each target of issue 14.6 with the figure measured and whether it is met."""

    def line(target: str, figure: str, met: bool) -> None:
        print(f"  {target:<46} {figure:<58} {'met' if met else 'MISSED'}")

    print("targets (issue 14.6: 2 cores, 1M rows):")
    for phase, name in (("ingest", "ingest"), ("validate", "validation")):
        r = phases[phase]
        rate, whole = r["rows"] / r["wall"], r["rows"] / r["process_wall"]
        line(
            f"{name} >= {TARGET_ROWS_S:,} rows/s (the phase)",
            f"{rate:,.0f} rows/s ({r['rows'] / r['cpu']:,.0f} rows/s of CPU)",
            rate >= TARGET_ROWS_S,
        )
        line(
            f"{name} >= {TARGET_ROWS_S:,} rows/s (whole process)",
            f"{whole:,.0f} rows/s ({r['process_wall'] - r['wall']:.2f} s of start, imports, exit)",
            whole >= TARGET_ROWS_S,
        )
    peaks = {p: phases[p]["peak_mb"] for p in ("ingest", "validate")}
    line(
        f"peak RSS <= {TARGET_PEAK_MB:,} MB",
        ", ".join(f"{p} {mb:,.0f} MB" for p, mb in peaks.items()),
        max(peaks.values()) <= TARGET_PEAK_MB,
    )
    line(
        "in = normalized + quarantined",
        ", ".join(f"{p} {phases[p]['accounted']}" for p in ("ingest", "validate")),
        all(phases[p]["accounted"] for p in ("ingest", "validate")),
    )
    line(
        f"lab2prod validate <= {TARGET_RATIO:g}x pandas.read_csv (wall)",
        f"{ratio:.2f}x",
        ratio <= TARGET_RATIO,
    )
    wall, peak, codes, _ = medians["header refused"]
    full_peak = medians["lab2prod validate"][1]
    # refused before its rows are read: exit 2, and a peak below what reading the rows takes (the full
    # validate's peak less the file's own bytes, which any read of the rows holds at least)
    line(
        "a header that cannot pass: refused before rows",
        f"exit {codes}, {wall:.2f} s, peak {peak:,.0f} MB (reading: {full_peak:,.0f} MB; file {input_mb:,.0f} MB)",
        codes == [2] and peak + input_mb < full_peak,
    )


if __name__ == "__main__":
    main()

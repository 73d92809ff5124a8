"""Time monitoring one batch of 1M rows against scoring the same rows with the model; print both.

    PYTHONPATH=src python benchmarks/monitor.py [--rows 1000000] [--family logistic_regression]

The batch is the bundled credit data (the lake's normalized CSV, or the sources
ingested into a temporary lake) resampled with replacement to --rows rows, with
Income shifted down for half of them so the tests have something to find. The
model is fitted on the training reference (half of the data). Both figures are
in-process, after the batch is in memory:

* scoring: `model_frame` + `predict` (the model's own preprocessing included);
* monitoring: `drift_report` on every contract feature plus prediction drift of
  the scored probabilities (what `lab2prod monitor` computes for a scored batch),
  and `monitor_frame` end to end (the reference predictions included).

Reading the 1M-row CSV (pyarrow) is timed apart: both paths pay it once.
Target: monitoring <= scoring. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from common import fit_window

from lab2prod import settings
from lab2prod.data.conditioning import read_normalized
from lab2prod.data.ingest import ingest
from lab2prod.data.lake import atomic_write_csv
from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.monitoring.cases import read_table
from lab2prod.monitoring.drift import drift_report
from lab2prod.monitoring.monitor import WatchedModel, monitor_frame

ROOT = Path(__file__).resolve().parents[1]


def best_of(repeat: int, func):
    """Return (best wall time in seconds, last result) of `repeat` calls."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--family", default="logistic_regression")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    contract = settings.load_contract(ROOT / "data/contracts/credit.yaml")
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        normalized = ROOT / "data/lake/normalized/credit.csv"
        if not normalized.is_file():
            catalog = settings.load_catalog(ROOT / "data/sources/credit/catalog.yaml")
            normalized = ingest(catalog, contract, Path(tmp) / "lake").normalized
        data = read_normalized(str(normalized), contract)
        reference = data.sample(frac=0.5, random_state=0).reset_index(drop=True)
        model = fit_window(reference, contract, family=args.family).model
        rng = np.random.default_rng(0)
        batch = data.iloc[rng.integers(0, len(data), args.rows)].reset_index(drop=True)
        batch = batch.assign(
            Income=np.where(rng.random(args.rows) < 0.5, batch["Income"] * 0.7, batch["Income"]),
            applicant_id=[f"R{i:07d}" for i in range(args.rows)],
        ).drop(columns=[contract.target])
        path = atomic_write_csv(Path(tmp) / "batch.csv", batch)
        read_s, batch = best_of(1, lambda: read_table(path))
        score_s, proba = best_of(
            args.repeat, lambda: predict(model, model_frame(batch, contract), contract.task)
        )
        ref_proba = predict(model, model_frame(reference, contract), contract.task)
        drift_s, report = best_of(
            args.repeat,
            lambda: drift_report(
                reference, batch, contract, reference_predictions=ref_proba, batch_predictions=proba
            ),
        )
        scored = batch.assign(probability=proba)
        monitor_s, result = best_of(
            args.repeat,
            lambda: monitor_frame(
                scored, reference, contract, "bench", watched=WatchedModel(model)
            ),
        )
    print(
        f"rows {args.rows:,}  family {args.family}  features {len(contract.features)}  (best of {args.repeat})"
    )
    after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load_before} before, {after} after (uptime's)")
    print(f"read CSV (pyarrow)            {read_s:6.2f} s")
    print(f"score: model_frame + predict  {score_s:6.2f} s")
    print(f"monitor: drift_report         {drift_s:6.2f} s   ({drift_s / score_s:.2f}x scoring)")
    print(
        f"monitor: monitor_frame        {monitor_s:6.2f} s   ({monitor_s / score_s:.2f}x scoring)"
    )
    print(
        f"drifted features: {', '.join(report.drifted_features) or 'none'}; status {result.status}"
    )


if __name__ == "__main__":
    main()

"""Measure the monitor's alarm rates: false alarms on batches from the training distribution, detection of drift.

    .venv/bin/python benchmarks/monitor_alarms.py [--batches 100] [--sizes 500 5000] [--seeds 10]

The set-up is the simulation's (`lab2prod.monitoring.simulate`): half of the bundled credit data
(seeded) is the past, a model is fitted on it with the retraining code (`common.fit_window`, as retraining splits a window: train part =
the monitor's reference, held-out part = its holdout metrics), the other half is the pool new batches
are drawn from with replacement.

* **False alarms**: `--batches` batches per size drawn from the pool with no drift (the simulation's
  batches before its drift starts, each with its own seed), monitored by `monitor_frame` exactly as
  `lab2prod monitor` does on a scored batch, with and without their delayed labels. A false alarm is
  status "alert" (a retraining threshold crossed); "warning" (a feature drifted, nothing to retrain
  for) is counted apart.
* **Detection**: the simulation's drifted batches (`make_batch` with `Scenario(**CREDIT_DRIFT)`'s drift, intensity
  t from 0 to 1) over `--seeds` seeds, at each size, monitored with their labels against the model
  they were drifting away from. Detected = status "alert".

Goals (issue 17): false alarms at most 5% at each size; every batch at intensity 0.5 or more
detected. Prints a table and the machine's load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import closing_line, credit_frame, load_average, replay_start

from lab2prod.modeling.features import model_frame
from lab2prod.modeling.predict import predict
from lab2prod.monitoring.monitor import ALERT, WARNING, MonitorConfig, WatchedModel, monitor_frame
from lab2prod.monitoring.simulate import Scenario, make_batch

# the credit demo's drift: incomes fall, part-time workers living with their parents appear, and
# their default follows the amount borrowed
CREDIT_DRIFT = {
    "shift_column": "Income",
    "segment_column": "Amount",
    "segment_values": (("Job", "partime"), ("Home", "parents"), ("Marital", "single")),
}


def monitor_batch(batch, candidate, contract, config, with_labels: bool):
    """Return the monitor's result on one batch scored by the candidate, as `lab2prod monitor` sees it."""
    features = batch.drop(columns=[contract.target])
    scored = features.assign(
        probability=predict(candidate.model, model_frame(features, contract), contract.task)
    )
    return monitor_frame(
        scored,
        candidate.train,
        contract,
        "bench",
        config,
        WatchedModel(candidate.model, holdout=candidate.metrics),
        labels=batch[[contract.id_column, contract.target]] if with_labels else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100, help="no-drift batches per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--seeds", type=int, default=10, help="drift scenarios per size")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"load average at start (1, 5, 15 min): {load_average()}  (2 cores, shared machine)")
    with tempfile.TemporaryDirectory() as tmp:
        contract, data = credit_frame(Path(tmp) / "lake")
    candidate, pool = replay_start(data, contract, args.seed)
    config = MonitorConfig()
    print(
        f"data {len(data)} rows: reference {len(candidate.train)}, holdout {len(candidate.test)} "
        f"(roc_auc {candidate.metrics['roc_auc']:.4f}), pool {len(pool)}; thresholds {config}"
    )

    rows = []
    for size in args.sizes:
        quiet = Scenario(batch_rows=size, drift_start=10**9, seed=args.seed, **CREDIT_DRIFT)
        for with_labels in (False, True):
            statuses, reasons = [], {}
            for k in range(args.batches):
                result = monitor_batch(
                    make_batch(pool, contract, quiet, k), candidate, contract, config, with_labels
                )
                statuses.append(result.status)
                for (
                    trigger
                ) in result.triggers:  # "dataset drift ..." or "performance degraded: ..."
                    kind = " ".join(trigger.split()[:2]).rstrip(":")
                    reasons[kind] = reasons.get(kind, 0) + 1
            alerts = sum(s == ALERT for s in statuses)
            warnings = sum(s == WARNING for s in statuses)
            rows.append(
                {
                    "measure": "false alarms",
                    "rows": size,
                    "labels": "yes" if with_labels else "no",
                    "intensity": 0.0,
                    "batches": len(statuses),
                    "alert rate": alerts / len(statuses),
                    "warning rate": warnings / len(statuses),
                    "triggers": "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "-",
                }
            )
            print(rows[-1], flush=True)

    for size, with_labels in itertools.product(
        sorted({*args.sizes, Scenario(**CREDIT_DRIFT).batch_rows}), (False, True)
    ):
        found: dict[float, list[str]] = {}
        for seed in range(args.seeds):
            scenario = Scenario(batch_rows=size, seed=seed, **CREDIT_DRIFT)
            for k in range(scenario.drift_start, scenario.batches):
                t = round(scenario.intensity(k), 3)
                result = monitor_batch(
                    make_batch(pool, contract, scenario, k),
                    candidate,
                    contract,
                    config,
                    with_labels,
                )
                found.setdefault(t, []).append(result.status)
        for t, statuses in sorted(found.items()):
            rows.append(
                {
                    "measure": "detection",
                    "rows": size,
                    "labels": "yes" if with_labels else "no",
                    "intensity": t,
                    "batches": len(statuses),
                    "alert rate": sum(s == ALERT for s in statuses) / len(statuses),
                    "warning rate": sum(s == WARNING for s in statuses) / len(statuses),
                    "triggers": "-",
                }
            )
            print(rows[-1], flush=True)

    table = pd.DataFrame(rows)
    table["alert rate"] = (table["alert rate"] * 100).round(1).astype(str) + "%"
    table["warning rate"] = (table["warning rate"] * 100).round(1).astype(str) + "%"
    print()
    print(table.to_markdown(index=False))
    print(closing_line(started))


if __name__ == "__main__":
    main()

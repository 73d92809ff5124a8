"""Measure how well ROC AUC estimated before labels matches the realized one, under covariate shift and concept drift.

    .venv/bin/python benchmarks/estimate.py [--sizes 1000 5000] [--seeds 5] [--batches 8]

The set-up is the simulation's (`lab2prod.monitoring.simulate`) and `benchmarks/monitor_alarms.py`'s:
half of the bundled credit data (seeded) is the past, a model is fitted on it with the retraining code
(`common.fit_window`, as retraining splits a window: its train part is the monitor's reference, its held-out part plays the validation
split, where calibration is checked), the other half is the pool new batches are drawn from.

Two kinds of drift, each over `--batches` batches whose intensity t rises from 0 to 1:

* **covariate shift** (the estimate's premise): rows are drawn from the pool with weights that favour
  low incomes, young applicants and part-time workers more and more (exp(t * ...)); each row keeps its
  own outcome, so the relation between features and outcome is the training one.
* **concept drift**: the simulation's scenario (`make_batch`, `Scenario(**CREDIT_DRIFT)`): incomes shrink while the
  outcomes stay, and a new segment defaults by a rule the model never saw. Probabilities say nothing
  of it: the gap shows how far the estimate can be off, and the realized check (labels) flags it.

Each batch goes through `monitor_frame` with its labels and the model's holdout metrics, as
`lab2prod monitor --labels` does: the result holds the estimate (from the probabilities only) and
the realized metrics side by side. Printed: mean absolute error of the estimated ROC AUC against the
realized one per kind and size (with the recalibration on validation and without), how often the
realized value fell inside the estimate's 95% interval, and how often the monitor flagged degraded
performance once labels came. Goal (issue 27): MAE <= 0.02 at 1,000 rows under covariate shift.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, closing_line, credit_frame, load_average, replay_start

from lab2prod import settings
from lab2prod.modeling.business import best_threshold
from lab2prod.modeling.features import model_frame, target_vector
from lab2prod.modeling.predict import predict
from lab2prod.monitoring.estimate import EstimateBasis, check_calibration, estimate_performance
from lab2prod.monitoring.monitor import MonitorConfig, WatchedModel, monitor_frame
from lab2prod.monitoring.simulate import Scenario, make_batch

# the credit demo's drift: incomes fall, part-time workers living with their parents appear, and
# their default follows the amount borrowed
CREDIT_DRIFT = {
    "shift_column": "Income",
    "segment_column": "Amount",
    "segment_values": (("Job", "partime"), ("Home", "parents"), ("Marital", "single")),
}


def covariate_batch(pool: pd.DataFrame, contract, rows: int, t: float, seed: int) -> pd.DataFrame:
    """Return `rows` rows drawn from `pool` with weights tilted by `t` towards low income, youth and part-time work."""
    rng = np.random.default_rng(seed)
    income = pool["Income"].fillna(pool["Income"].median())
    z_income = (income - income.mean()) / income.std()
    z_age = (pool["Age"] - pool["Age"].mean()) / pool["Age"].std()
    tilt = -1.2 * z_income - 0.8 * z_age + 1.5 * (pool["Job"] == "partime")
    weights = np.exp(t * tilt.to_numpy(dtype="float64"))
    idx = rng.choice(len(pool), size=rows, replace=True, p=weights / weights.sum())
    batch = pool.iloc[idx].reset_index(drop=True)
    return batch.assign(**{contract.id_column: [f"C{seed}-{i:05d}" for i in range(rows)]})


def measure(batch, candidate, contract, basis, config) -> dict[str, float]:
    """Return estimated and realized ROC AUC of one labelled batch, as the monitor reports them."""
    features = batch.drop(columns=[contract.target])
    scored = features.assign(
        probability=predict(candidate.model, model_frame(features, contract), contract.task)
    )
    labels = batch[[contract.id_column, contract.target]]
    result = monitor_frame(
        scored,
        candidate.train,
        contract,
        "bench",
        config,
        WatchedModel(candidate.model, holdout=candidate.metrics, basis=basis),
        labels=labels,
    )
    raw = estimate_performance(scored["probability"].to_numpy(), config.cut)  # not recalibrated
    est = result.estimate.metrics["roc_auc"]
    realized = result.performance.metrics["roc_auc"]
    return {
        "realized": realized,
        "estimated": est["value"],
        "raw_estimated": raw.metrics["roc_auc"]["value"],
        "inside": float(est["low"] <= realized <= est["high"]),
        "degraded": float(result.performance.degraded),
        "realized_value": result.performance.metrics.get("value", np.nan),
        "estimated_value": result.estimate.metrics.get("value", {}).get("value", np.nan),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seeds", type=int, default=5, help="replays per kind and size")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"load average at start (1, 5, 15 min): {load_average()}  (2 cores, shared machine)")
    with tempfile.TemporaryDirectory() as tmp:
        contract, data = credit_frame(Path(tmp) / "lake")
    business = settings.business_settings(ROOT)
    candidate, pool = replay_start(data, contract, args.seed)
    held_out = candidate.test
    y_held = target_vector(held_out, contract)
    p_held = predict(candidate.model, model_frame(held_out, contract), contract.task)
    calibration = check_calibration(y_held, p_held)
    basis = EstimateBasis(business=business, calibration=calibration)
    # decisions at the threshold that maximises value on the held-out part, as evaluate chooses it
    config = MonitorConfig(threshold=best_threshold(y_held, p_held, business) if business else 0.5)
    print(
        f"data {len(data)} rows: reference {len(candidate.train)}, held out {len(held_out)} "
        f"(roc_auc {candidate.metrics['roc_auc']:.4f}), pool {len(pool)}"
    )
    print(calibration.sentence(), f"Threshold {config.cut:.3f}.")

    rows = []
    for kind in ("covariate shift", "concept drift"):
        for size in args.sizes:
            for seed in range(args.seeds):
                scenario = Scenario(
                    batches=args.batches, batch_rows=size, drift_start=1, seed=seed, **CREDIT_DRIFT
                )
                for k in range(args.batches):
                    t = scenario.intensity(k)
                    batch = (
                        covariate_batch(pool, contract, size, t, seed * 100 + k)
                        if kind == "covariate shift"
                        else make_batch(pool, contract, scenario, k)
                    )
                    found = measure(batch, candidate, contract, basis, config)
                    rows.append({"kind": kind, "rows": size, "seed": seed, "t": t, **found})
            part = pd.DataFrame([r for r in rows if r["kind"] == kind and r["rows"] == size])
            print(
                f"{kind}, {size} rows: MAE {np.mean(np.abs(part.estimated - part.realized)):.4f}",
                flush=True,
            )

    table = pd.DataFrame(rows)
    table["error"] = (table["estimated"] - table["realized"]).abs()
    table["raw_error"] = (table["raw_estimated"] - table["realized"]).abs()
    summary = (
        table.groupby(["kind", "rows"])
        .agg(
            batches=("error", "size"),
            mae=("error", "mean"),
            mae_uncalibrated=("raw_error", "mean"),
            max_error=("error", "max"),
            inside_interval=("inside", "mean"),
            realized_auc=("realized", "mean"),
            flagged_with_labels=("degraded", "mean"),
        )
        .reset_index()
    )
    print()
    print(summary.round(4).to_markdown(index=False))
    by_t = (
        table.assign(t=table["t"].round(2))
        .groupby(["kind", "rows", "t"])
        .agg(
            realized=("realized", "mean"),
            estimated=("estimated", "mean"),
            gap=("error", "mean"),
            flagged=("degraded", "mean"),
            value_realized=("realized_value", "mean"),
            value_estimated=("estimated_value", "mean"),
        )
        .reset_index()
    )
    print()
    print(by_t.round(4).to_markdown(index=False))
    print(closing_line(started))


if __name__ == "__main__":
    main()

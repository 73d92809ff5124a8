"""Profile online scoring in process: where a request's time goes, the contract model beside the plain flavor.

Logs the two models `benchmarks/serve.py` serves (`build_models`: the contract-checking model and
the plain `mlflow.sklearn` flavor of the same fitted pipeline), loads both with
`mlflow.pyfunc.load_model` and calls MLflow's `scoring_server.invocations` (what `mlflow models
serve` runs for each request, less HTTP) on the same `dataframe_split` JSON bodies, the two models
taking turns. Prints, per request size, the median CPU time (`time.process_time`) and wall time
(`time.perf_counter`) of a call of each, their ratio, and the contract model's steps timed one by
one on the same request (parse, text cells, conditioning, the model's frame, predict, the rest of
`score_chunk`, the answer's JSON). With `--profile`, also cProfile's top functions of the contract
model's calls. Figures only, never asserted; the load average is printed beside them.

    PATH=.venv/bin:$PATH python benchmarks/serve_profile.py
    PATH=.venv/bin:$PATH python benchmarks/serve_profile.py --sizes 100 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import load_average
from serve import body, build_models


def median_ms(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Return the median CPU and wall time of `call` in ms over `repeat` calls."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        call()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return float(np.median(cpu)) * 1000, float(np.median(wall)) * 1000


def invocations_of(model: Any) -> Callable[[bytes], Any]:
    """Return a function answering one JSON body with `model` as MLflow's scoring server does."""
    from mlflow.pyfunc import scoring_server

    schema = model.metadata.get_input_schema()

    def call(data: bytes) -> Any:
        answer = scoring_server.invocations(data, "application/json", model, schema)
        if answer.status != 200:
            raise SystemExit(f"HTTP {answer.status}: {answer.response[:300]}")
        return answer

    return call


def side_by_side(calls: dict[str, Callable[[bytes], Any]], bodies: dict, repeat: int) -> None:
    """Print the median CPU and wall ms of each model's calls, taking turns, and the ratio to plain."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for i in range(repeat):
        for name, call in calls.items():
            data = bodies[name][i % len(bodies[name])]
            times[name].append(median_ms(lambda call=call, data=data: call(data), 1))
    base_cpu, base_wall = (np.median([t[k] for t in times["plain"]]) for k in (0, 1))
    for name, pairs in times.items():
        cpu, wall = np.median([t[0] for t in pairs]), np.median([t[1] for t in pairs])
        print(
            f"  {name:<9} cpu {cpu:6.2f} ms ({cpu / base_cpu:4.2f}x)   "
            f"wall {wall:6.2f} ms ({wall / base_wall:4.2f}x)"
        )


def steps(model: Any, data: bytes, repeat: int) -> None:
    """Print the median CPU ms of each step of the contract model's answer to one body."""
    from mlflow.pyfunc import scoring_server

    from lab2prod.data.conditioning import condition
    from lab2prod.modeling.features import model_frame
    from lab2prod.modeling.predict import predict
    from lab2prod.scoring.chunk import _piece_contract, score_chunk
    from lab2prod.serving.answer import ORIGIN, answer_request, request_cells, with_row_ids

    inner = model.unwrap_python_model()
    contract = inner.contract if inner.contract.id_column else with_row_ids(inner.contract)
    schema = model.metadata.get_input_schema()
    frame = scoring_server._parse_json_data(data, model.metadata, schema).data
    cells = request_cells(frame, contract)
    conditioned = condition(cells, _piece_contract(contract), "score", ORIGIN, whole=False)
    features = model_frame(conditioned.columns, contract)
    answer = answer_request(frame, inner.model, inner.contract, inner.threshold).predictions
    figures = {
        "parse JSON (MLflow)": lambda: scoring_server._parse_json_data(
            data, model.metadata, schema
        ),
        "request_cells": lambda: request_cells(frame, contract),
        "condition": lambda: condition(
            cells, _piece_contract(contract), "score", ORIGIN, whole=False
        ),
        "model_frame": lambda: model_frame(conditioned.columns, contract),
        "predict (sklearn)": lambda: predict(inner.model, features, contract.task),
        "score_chunk": lambda: score_chunk(cells, inner.model, contract, inner.threshold, ORIGIN),
        "answer_request": lambda: answer_request(
            frame, inner.model, inner.contract, inner.threshold
        ),
        "pyfunc predict": lambda: model.predict(frame),
        "answer JSON (MLflow)": lambda: scoring_server.predictions_to_json(answer, io.StringIO()),
    }
    for name, call in figures.items():
        cpu, _ = median_ms(call, repeat)
        print(f"    {name:<22} {cpu:6.2f} ms")


def profile(call: Callable[[bytes], Any], bodies: list[bytes], repeat: int, top: int) -> None:
    """Print cProfile's `top` functions by own time over `repeat` calls."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(repeat):
        call(bodies[i % len(bodies)])
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="calls of each model and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ.pop("LAB2PROD_REQUEST_LOG", None)  # the request log is off, as by default
    import mlflow.pyfunc

    from lab2prod.modeling.features import signature_frame

    with tempfile.TemporaryDirectory(prefix="lab2prod-profile-serve-") as folder:
        root = Path(folder)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        contract_uri, plain_uri, train, contract = build_models(root)
        models = {
            "contract": mlflow.pyfunc.load_model(contract_uri),
            "plain": mlflow.pyfunc.load_model(plain_uri),
        }
        rows = train.drop(columns=[contract.target]).dropna().reset_index(drop=True)
        frames = {"contract": rows, "plain": signature_frame(rows, contract)}
        calls = {name: invocations_of(model) for name, model in models.items()}
        rng = np.random.default_rng(0)
        print(f"load average at start: {load_average()}")
        for size in args.sizes:
            picks = [rng.integers(0, len(rows) - size) for _ in range(50)]
            bodies = {
                name: [body(frame.iloc[p : p + size]) for p in picks]
                for name, frame in frames.items()
            }
            for name, call in calls.items():  # warm up: imports and caches
                for data in bodies[name][:20]:
                    call(data)
            print(f"{size} rows: scoring_server.invocations, median of {args.repeat}")
            side_by_side(calls, bodies, args.repeat)
            print("  the contract model's steps (CPU ms, median):")
            steps(models["contract"], bodies["contract"][0], args.repeat)
            if args.profile:
                profile(calls["contract"], bodies["contract"], args.repeat, args.top)
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

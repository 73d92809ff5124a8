"""Benchmark online scoring: the contract-checking model against the plain scikit-learn flavor, over REST.

Builds a logistic regression on the bundled credit data in a temporary MLflow store and logs it
twice from the same fitted pipeline: as lab2prod logs it (`model_logging.log_contract_model`: the
contract conditions every request, named outputs) and as the plain `mlflow.sklearn` flavor with
`predict_proba` and the lake's signature. Serves both with `mlflow models serve --env-manager
local` on loopback, side by side, sends the same rows to each (1-row and 100-row requests, taking
turns so that a slow spell of the machine hits both), and prints p50 and p99 of the wall time of a
request as a client sees it (keep-alive connection, JSON `dataframe_split`), and the ratio of the
contract model's p50 to the plain flavor's. Figures only, never asserted; the load average is
printed beside them.

Run from the project folder (the venv's bin must be on PATH: `mlflow models serve` starts uvicorn):

    PATH=.venv/bin:$PATH python benchmarks/serve.py
    PATH=.venv/bin:$PATH python benchmarks/serve.py --requests 100     # a quick look
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import trained_credit


def build_models(root: Path) -> tuple[str, str, pd.DataFrame, object]:
    """Fit one pipeline, log it as the contract model and as the plain sklearn flavor; return both
    URIs, the normalized rows and the contract."""
    import mlflow

    from lab2prod import model_logging
    from lab2prod.modeling.estimators import trusted_types
    from lab2prod.modeling.features import signature_frame

    contract, _, train, trained = trained_credit(root)
    contract_uri = model_logging.log_training_run(
        trained, train, contract, run_name="benchmark"
    ).model_uri
    example = signature_frame(train.head(50), contract)
    with mlflow.start_run(run_name="plain-sklearn"):
        plain_uri = model_logging.log_sklearn_model(
            trained.model,
            example,
            trusted_types(trained.family),
            "predict_proba",
            inputs=model_logging.input_schema(example, contract),
        )
    return contract_uri, plain_uri, train, contract


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(uri: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """Start `mlflow models serve` of `uri` on a free loopback port."""
    port = _free_port()
    process = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process, port


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mlflow models serve exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"mlflow models serve on port {port} not ready after {timeout} s")


def body(frame: pd.DataFrame) -> bytes:
    """Return a `dataframe_split` JSON request of `frame` (whole numbers as JSON integers)."""
    split = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split}).encode()


def timings(conn: http.client.HTTPConnection, data: bytes) -> float:
    """Send one request; return its wall time in ms (refused or failed answers stop the run).

    A keep-alive connection the server closed (idle past uvicorn's 5 s) is opened again and the
    request sent again: that attempt is the one timed.
    """
    for attempt in range(2):
        started = time.perf_counter()
        try:
            conn.request("POST", "/invocations", data, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            payload = answer.read()
            break
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()
            if attempt:
                raise
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status != 200:
        raise SystemExit(f"HTTP {answer.status}: {payload[:300]!r}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=400, help="requests of each size to each model"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args(argv)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("LAB2PROD_REQUEST_LOG", None)  # the request log is off, as by default
    with tempfile.TemporaryDirectory(prefix="lab2prod-bench-serve-") as folder:
        root = Path(folder)
        env["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_TRACKING_URI"] = (
            f"sqlite:///{root / 'mlflow.db'}"
        )
        contract_uri, plain_uri, train, contract = build_models(root)
        from lab2prod.modeling.features import signature_frame

        rows = train.drop(columns=[contract.target]).dropna().reset_index(drop=True)
        plain_rows = signature_frame(rows, contract)
        servers = {
            "contract (lab2prod)": (serve(contract_uri, env, root), rows),
            "plain sklearn flavor": (serve(plain_uri, env, root), plain_rows),
        }
        try:
            conns = {}
            for name, ((process, port), _) in servers.items():
                wait_ready(port, process)
                conns[name] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            results = {}
            rng = np.random.default_rng(0)
            for size in args.sizes:
                picks = [rng.integers(0, len(rows) - size) for _ in range(args.requests)]
                bodies = {
                    name: [body(frame.iloc[p : p + size]) for p in picks]
                    for name, (_, frame) in servers.items()
                }
                for name in servers:  # warm up: first requests pay imports and caches
                    for data in bodies[name][:20]:
                        timings(conns[name], data)
                times = {name: [] for name in servers}
                for i in range(args.requests):  # taking turns
                    for name in servers:
                        times[name].append(timings(conns[name], bodies[name][i]))
                for name in servers:
                    results[(name, size)] = np.asarray(times[name])
        finally:
            for (process, _), _ in servers.values():
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    load = os.getloadavg()
    print(
        f"{args.requests} requests per model and size; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"| {'model':<22} | rows | p50 ms | p99 ms | p50 / plain |")
    print(f"|{'-' * 24}|-----:|-------:|-------:|------------:|")
    for size in args.sizes:
        base = np.percentile(results[("plain sklearn flavor", size)], 50)
        for name in servers:
            t = results[(name, size)]
            p50, p99 = np.percentile(t, 50), np.percentile(t, 99)
            print(f"| {name:<22} | {size:>4} | {p50:6.1f} | {p99:6.1f} | {p50 / base:10.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

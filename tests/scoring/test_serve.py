"""Online scoring: `mlflow models serve` of the champion answers a real JSON request like `lab2prod score`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab2prod.data.contract import condition
from lab2prod.modeling.features import signature_frame
from lab2prod.scoring.score import load_model, score_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"mlflow models serve exited with {process.returncode}: {process.stderr.read()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"mlflow models serve not ready after {timeout} s")


@contextmanager
def serving(model_uri: str, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Run `mlflow models serve` of `model_uri` on a free loopback port; yield its URL, stop it after."""
    port = _free_port()
    process = subprocess.Popen(
        [
            "mlflow",
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ping", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def served(champion, tmp_path_factory):
    """`mlflow models serve` of the session's champion on a free loopback port; yields its base URL."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MLFLOW_TRACKING_URI": champion["tracking_uri"],
    }
    with serving(champion["model_uri"], env, tmp_path_factory.mktemp("serve")) as url:
        yield url


def _invoke(url: str, request: dict) -> tuple[int, dict]:
    post = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(request).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(post, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.integration
def test_rest_invocations_match_lab2prod_score(champion, served, tmp_path):
    contract = champion["contract"]
    text = pd.read_csv(champion["normalized"], dtype=str, keep_default_na=False).head(60)
    batch = tmp_path / "batch.csv"
    text.to_csv(batch, index=False, lineterminator="\n")
    ref = load_model(champion["model_uri"])
    scored = pd.read_csv(
        score_file(
            batch, tmp_path / "pred.csv", ref, contract, scored_at="2026-01-01T00:00:00Z"
        ).output
    )

    typed = condition(text.replace("", None), contract, mode="score").clean
    features = signature_frame(typed, contract)
    complete = (
        features.notna().all(axis=1).to_numpy()
    )  # JSON has no NaN: send the rows without gaps
    request = {
        "dataframe_split": {
            "columns": list(features.columns),
            "data": features[complete].astype(object).values.tolist(),
        }
    }
    status, answer = _invoke(served, request)
    assert status == 200, answer
    predictions = np.asarray(answer["predictions"], dtype="float64")
    assert predictions.shape == (
        int(complete.sum()),
        2,
    )  # logged with pyfunc_predict_fn="predict_proba"
    expected = scored["probability"].to_numpy()[complete]
    assert int(complete.sum()) >= 30
    # the same model on the same rows; only BLAS block sums may differ in the last bits
    np.testing.assert_allclose(predictions[:, 1], expected, rtol=1e-12, atol=0)
    assert scored["applicant_id"].tolist() == typed["applicant_id"].tolist()


@pytest.mark.integration
def test_rest_accepts_json_integers_as_the_lake_stores_them(champion, served):
    # rows as the lake stores them, read back by pandas: whole numbers are JSON integers, not 5.0
    lake_rows = pd.read_csv(champion["normalized"]).head(40).dropna()
    records = json.loads(lake_rows.drop(columns=["Status"]).to_json(orient="records"))
    assert isinstance(records[0]["Seniority"], int)
    status, answer = _invoke(served, {"dataframe_records": records})
    assert status == 200, answer
    assert np.asarray(answer["predictions"]).shape == (len(records), 2)
    # the failure path: a required column missing is refused with MLflow's own message
    status, answer = _invoke(
        served, {"dataframe_records": [{k: v for k, v in records[0].items() if k != "Age"}]}
    )
    assert status == 400 and "Age" in answer.get("message", "")

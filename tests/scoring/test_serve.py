"""Online scoring against a real `mlflow models serve`: the contract conditions every request, as in `lab2prod score`.

The champion is the pyfunc lab2prod registers (`serving.model`): named outputs equal to `lab2prod
score`'s, HTTP 400 with the row and the reason for a row the contract refuses, and, with the request
log on, every answered and refused row kept in the lake for `lab2prod monitor`.
"""

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lane import maker
from mlflow.exceptions import MlflowException

from lab2prod.scoring.score import load_model, score_file

from .conftest import scoring_champion


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


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=20)
    except ProcessLookupError:
        process.wait()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def server(
    model_uri: str, env: dict[str, str], cwd: Path, workers: int = 1
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `mlflow models serve` of `model_uri` on a free loopback port; yield its URL and process, stop it after."""
    port = _free_port()
    process = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
        + ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ping", process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        _stop(process)


@contextmanager
def serving(model_uri: str, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Run `mlflow models serve` of `model_uri` on a free loopback port; yield its URL, stop it after."""
    with server(model_uri, env, cwd) as (url, _):
        yield url


def _env(champion: dict, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MLFLOW_TRACKING_URI": champion["tracking_uri"],
        **extra,
    }
    if "LAB2PROD_REQUEST_LOG" not in extra:  # off unless the test turns it on
        env.pop("LAB2PROD_REQUEST_LOG", None)
    return env


@pytest.fixture(scope="module")
def served(champion, tmp_path_factory):
    """`mlflow models serve` of the session's champion on a free loopback port; yields its base URL."""
    with serving(champion["model_uri"], _env(champion), tmp_path_factory.mktemp("serve")) as url:
        yield url


def _invoke(url: str, request: dict | str) -> tuple[int, dict]:
    """POST a JSON request (a mapping) or a CSV text (a string) to the server's invocations."""
    csv = isinstance(request, str)
    post = urllib.request.Request(
        f"{url}/invocations",
        data=(request if csv else json.dumps(request)).encode(),
        headers={"Content-Type": "text/csv" if csv else "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(post, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a client sends them: JSON numbers, strings and null."""
    return json.loads(frame.to_json(orient="records"))


def _lab2prod_score(
    champion: dict, frame: pd.DataFrame, folder: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`lab2prod score`'s predictions and quarantine of `frame` written as a CSV batch."""
    batch = folder / "batch.csv"
    frame.to_csv(batch, index=False, lineterminator="\n")
    result = score_file(
        batch, folder / "pred.csv", load_model(champion["model_uri"]), champion["contract"]
    )
    return pd.read_csv(result.output, dtype={"applicant_id": str}), pd.read_csv(result.quarantine)


@pytest.mark.integration
@pytest.mark.readiness("monitor 3")
def test_rest_invocations_match_lab2prod_score(champion, served, tmp_path):
    rows = pd.read_csv(champion["normalized"]).head(60).drop(columns=["Status"])
    assert rows.isna().any().any()  # missing values travel as JSON null, as empty cells in a file
    scored, _ = _lab2prod_score(champion, rows, tmp_path)
    status, answer = _invoke(served, {"dataframe_records": _records(rows)})
    assert status == 200, answer
    got = pd.DataFrame(answer["predictions"])
    assert list(got.columns) == ["applicant_id", "probability", "label"]
    assert (
        got["applicant_id"].tolist()
        == scored["applicant_id"].tolist()
        == rows["applicant_id"].tolist()
    )
    assert got["label"].tolist() == scored["label"].tolist()
    # the same model on the same rows; only BLAS block sums may differ in the last bits
    np.testing.assert_allclose(got["probability"], scored["probability"], rtol=1e-12, atol=0)
    # without the id column the answer has none, row for row
    status, answer = _invoke(
        served,
        {
            "dataframe_split": json.loads(
                rows.drop(columns=["applicant_id"]).head(3).to_json(orient="split", index=False)
            )
        },
    )
    assert status == 200 and list(answer["predictions"][0]) == ["probability", "label"]
    # the same rows as a CSV body, as `lab2prod score` reads a file
    status, answer = _invoke(served, rows.to_csv(index=False))
    assert status == 200, answer
    got = pd.DataFrame(answer["predictions"])
    assert got["applicant_id"].tolist() == scored["applicant_id"].tolist()
    np.testing.assert_allclose(got["probability"], scored["probability"], rtol=1e-12, atol=0)


@pytest.mark.integration
def test_pyfunc_leaves_the_input_to_the_contract(champion, tmp_path):
    import mlflow

    model = mlflow.pyfunc.load_model(champion["model_uri"])
    assert model.metadata.get_input_schema() is None  # nothing for MLflow to enforce cell by cell
    assert model.metadata.metadata["input_columns"][:2] == ["applicant_id", "Seniority"]
    rows = pd.read_csv(champion["normalized"]).head(5).drop(columns=["Status"])
    scored, _ = _lab2prod_score(champion, rows, tmp_path)
    # headers matched as in a batch file (case and spaces), an unknown column dropped
    loose = rows.rename(columns={"Home": " home "}).assign(note="call back")
    out = model.predict(loose)
    assert list(out.columns) == ["applicant_id", "probability", "label"]
    np.testing.assert_allclose(out["probability"], scored["probability"], rtol=1e-12, atol=0)
    # one row as a mapping of values
    one = model.predict(_records(rows.head(1))[0])
    assert one["applicant_id"].tolist() == [str(rows["applicant_id"][0])]
    with pytest.raises(MlflowException, match=r"row 0 .*: Home: 'castle' is not one of"):
        model.predict(rows.head(1).assign(Home="castle"))


@pytest.mark.integration
def test_rest_refuses_a_row_breaking_the_contract_with_400_and_its_reason(
    champion, served, tmp_path
):
    rows = pd.read_csv(champion["normalized"]).head(40).drop(columns=["Status"])
    mixed = rows.assign(Home=rows["Home"].where(rows.index != 1, "castle"))
    _, quarantine = _lab2prod_score(champion, mixed, tmp_path)  # 1 of 40: within the batch's limit
    reason = quarantine["reason"].item()
    assert reason == "Home: 'castle' is not one of ignore, other, owner, parents, priv, rent"
    status, answer = _invoke(served, {"dataframe_records": _records(mixed)})
    assert status == 400, answer
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    # the whole request is refused (no row scored), the bad row named with lab2prod score's words
    assert answer["message"] == (
        f"request: 1 of 40 rows break the contract, so none is scored: row 1 (applicant_id "
        f"'{rows['applicant_id'][1]}'): {reason}: fix or remove those rows and send the request again"
    )
    # a JSON number an integer column cannot hold: refused in the words its text gets in a file
    halves = rows.assign(Age=rows["Age"].astype("float64").where(rows.index != 2, 30.5))
    (tmp_path / "halves").mkdir()
    _, quarantine = _lab2prod_score(champion, halves, tmp_path / "halves")
    reason = quarantine["reason"].item()
    assert reason == "Age: '30.5' is not a whole number"
    status, answer = _invoke(served, {"dataframe_records": _records(halves)})  # 30.0, 30.5, ...
    assert status == 400 and answer["message"].startswith(
        f"request: 1 of 40 rows break the contract, so none is scored: row 2 (applicant_id "
        f"'{rows['applicant_id'][2]}'): {reason}: "
    )
    # a column missing: refused with the contract's message, not a traceback
    status, answer = _invoke(served, {"dataframe_records": _records(rows.drop(columns=["Age"]))})
    assert (
        status == 400
        and answer["message"] == "request: missing column 'Age': add it or fix the header"
    )


@dataclass(frozen=True)
class ServingLog:
    """What make_serving_log ran: 20 requests at once to a server keeping the request log, SIGKILLed, then `lab2prod monitor` of the day."""

    champion: dict[str, str]
    sent: list[str]  # the ids of the 240 rows sent
    statuses: list[int]  # each request's HTTP status
    days: list[Path]  # the request log's folders of a day
    reports: Path  # where the monitor wrote its pages
    monitor: subprocess.CompletedProcess | None  # None: the log had not exactly one day


@maker("serving_log")
def make_serving_log(tmp_path_factory, environ) -> ServingLog:
    """Serve a champion of its own with the request log on, send 20 requests (two refused), kill the server, monitor the day."""
    champion, champion_env = scoring_champion(tmp_path_factory, environ)
    tmp_path = tmp_path_factory.mktemp("serving-log")
    lake = tmp_path / "lake"
    bin_folder = str(Path(sys.executable).parent)
    env = {
        **champion_env,
        "PATH": os.pathsep.join([bin_folder, champion_env.get("PATH", "")]),
        "LAB2PROD_REQUEST_LOG": str(lake / "requests"),
    }
    rows = pd.read_csv(champion["normalized"]).drop(columns=["Status"]).head(240)
    requests = [rows.iloc[i : i + 12] for i in range(0, 240, 12)]  # 20 requests of 12 rows
    requests[3] = requests[3].assign(Home="castle")  # refused whole
    requests[7] = requests[7].assign(Age=[150] + [30] * 11)  # one bad row: refused whole
    with server(champion["model_uri"], env, tmp_path, workers=2) as (url, process):
        with ThreadPoolExecutor(4) as pool:  # at once, so that both workers answer
            answers = list(
                pool.map(lambda r: _invoke(url, {"dataframe_records": _records(r)}), requests)
            )
        os.killpg(process.pid, signal.SIGKILL)  # no shutdown: what is in the lake was there already
        process.wait()
    days = sorted((lake / "requests").iterdir())
    monitor = None
    if len(days) == 1:
        # labels arrive later, joined by id as for a scored batch
        labels = pd.read_csv(champion["normalized"], dtype={"applicant_id": str})
        labels[["applicant_id", "Status"]].to_csv(tmp_path / "labels.csv", index=False)
        monitor = subprocess.run(
            [str(Path(bin_folder) / "lab2prod"), "monitor", "--batch", str(days[0])]
            + ["--labels", str(tmp_path / "labels.csv"), "--reference", champion["normalized"]]
            + ["--contract", str(_contract_file(champion)), "--lake", str(lake)]
            + ["--reports", str(tmp_path / "reports"), "--no-mlflow", "--root", champion["root"]],
            env={k: v for k, v in env.items() if k != "LAB2PROD_REQUEST_LOG"},
            capture_output=True,
            text=True,
            timeout=300,
        )
    return ServingLog(
        champion,
        rows["applicant_id"].astype(str).tolist(),
        [status for status, _ in answers],
        days,
        tmp_path / "reports",
        monitor,
    )


@pytest.fixture(scope="session")
def serving_log(lane, request) -> ServingLog:
    """The requests and the monitor of make_serving_log, made by the second lane."""
    return lane.get(request, "serving_log")


@pytest.mark.integration
def test_request_log_keeps_every_row_through_a_kill_and_monitor_reads_the_day(serving_log):
    run = serving_log
    assert run.statuses.count(400) == 2 and run.statuses.count(200) == 18
    (day,) = run.days
    logged = pd.concat(
        pd.read_json(p, lines=True, dtype={"applicant_id": str}) for p in day.glob("*.jsonl")
    )
    assert sorted(logged["applicant_id"]) == sorted(run.sent)  # every row, once
    refused = logged[logged["status"] == "refused"]
    assert (
        len(refused) == 24
        and refused["reason"].str.contains("Home: 'castle' is not one of").sum() == 12
    )
    assert (refused["reason"] == "Age: 150 is above the maximum 100").sum() == 1
    answered = logged[logged["status"] == "answered"]
    assert (
        answered["probability"].between(0, 1).all()
        and answered["run_id"].eq(run.champion["run_id"]).all()
    )

    assert run.monitor.returncode in (0, 1), run.monitor.stderr[-2000:]
    status = json.loads((run.reports / "monitoring.json").read_text())
    assert status["batch_id"] == f"requests-{day.name}"
    serving = status["serving"]
    assert (serving["requests"], serving["rows"], serving["rows_refused"]) == (20, 240, 24)
    assert serving["requests_refused"] == 2 and serving["latency_ms_p99"] > 0
    assert status["performance"]["rows_labelled"] == 216
    report = (run.reports / "monitoring.html").read_text()
    assert f"Serving: requests of {day.name}" in report and "216 answered, 24 refused" in report


def _contract_file(champion: dict) -> Path:
    return Path(__file__).resolve().parents[2] / "data/contracts/credit.yaml"

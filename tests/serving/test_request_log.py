"""serving.request_log: one append-only file per process, whole requests per write, a day read back for the monitor."""

from __future__ import annotations

import json
import multiprocessing
import sys
import threading

import pandas as pd
import pytest

from lab2prod.errors import MonitoringError
from lab2prod.serving.request_log import (
    ANSWERED,
    REFUSED,
    RequestLog,
    read_request_day,
)

DAY = "2026-12-06"
STAMP = f"{DAY}T10:00:00.000000Z"


def _rows(ids):
    return pd.DataFrame(
        {
            "id": ids,
            "age": [30] * len(ids),
            "income": [1.5] * len(ids),
            "home": ["owner"] * len(ids),
        }
    )


def _answer(ids):
    return pd.DataFrame({"id": ids, "probability": [0.25] * len(ids), "label": ["good"] * len(ids)})


def _log_requests(folder, start, count):
    """A server process: `count` answered requests of 2 rows, then one refused of 1 row."""
    log = RequestLog(folder, {"run_id": "r1", "model_uri": "models:/toy@champion"})
    for i in range(start, start + count):
        ids = [f"p{i}a", f"p{i}b"]
        log.write(_rows(ids), [(ANSWERED, "")] * 2, _answer(ids), STAMP, 3.0 + i % 5)
    log.write(
        _rows([f"x{start}"]), [(REFUSED, "age: 12 is below the minimum 18")], None, STAMP, 1.0
    )
    log.close()


def test_two_processes_log_every_row_and_a_day_reads_back_as_a_monitoring_batch(tmp_path, contract):
    context = multiprocessing.get_context("fork")  # the function lives in this test module
    workers = [context.Process(target=_log_requests, args=(tmp_path, s, 50)) for s in (0, 100)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    files = sorted((tmp_path / DAY).glob("requests-*.jsonl"))
    assert len(files) == 2  # one file per process: no two writers share one
    batch, stats = read_request_day(tmp_path / DAY, contract)
    assert (stats.requests, stats.rows, stats.rows_answered, stats.rows_refused) == (
        102,
        202,
        200,
        2,
    )
    assert stats.requests_refused == 2 and stats.reasons == {"age": 2}
    assert stats.latency_ms_p50 is not None and stats.latency_ms_max == 7.0
    assert len(batch) == 200 and batch["id"].is_unique
    assert batch["age"].dtype == "float64" and set(batch["label"]) == {"good"}
    assert set(batch["run_id"]) == {"r1"} and (batch["status"] == ANSWERED).all()


def test_a_row_torn_by_a_kill_is_skipped_and_counted(tmp_path, contract):
    _log_requests(tmp_path, 0, 3)
    (path,) = (tmp_path / DAY).glob("*.jsonl")
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"request_id": "cut in the mid')  # a write the kill interrupted
    batch, stats = read_request_day(tmp_path / DAY, contract)
    assert stats.torn_lines == 1 and stats.rows == 7 and len(batch) == 6
    first = json.loads(whole.splitlines()[0])
    assert first["received_at"] == STAMP and first["row"] == 0 and first["probability"] == 0.25


def test_a_day_without_requests_is_refused(tmp_path, contract):
    with pytest.raises(
        MonitoringError, match="request folder .* not found: turn request logging on"
    ):
        read_request_day(tmp_path / DAY, contract)
    (tmp_path / DAY).mkdir()
    with pytest.raises(MonitoringError, match="holds no logged request"):
        read_request_day(tmp_path / DAY, contract)


def test_a_log_made_before_a_fork_gives_the_child_a_file_of_its_own(tmp_path, contract):
    import os

    log = RequestLog(tmp_path)
    log.write(_rows(["parent"]), [(ANSWERED, "")], _answer(["parent"]), STAMP, 1.0)
    pid = os.fork()
    if pid == 0:  # the child writes through the log it inherited
        log.write(_rows(["child"]), [(ANSWERED, "")], _answer(["child"]), STAMP, 1.0)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    log.close()
    files = sorted((tmp_path / DAY).glob("*.jsonl"))
    assert len(files) == 2
    assert sorted(json.loads(f.read_text())["id"] for f in files) == ["child", "parent"]


def test_the_threads_of_one_server_process_share_one_file(tmp_path):
    # MLflow's server answers requests on threads: without the log's lock, two first writes raced
    # and one wrote to a file named ".jsonl", which the monitor never reads
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a race shows
    try:
        for attempt in range(20):  # a fresh log each time: the first writes name the file
            folder = tmp_path / str(attempt)
            log = RequestLog(folder)
            start = threading.Barrier(8)

            def answer(i, log=log, start=start):
                start.wait()
                log.write(_rows([f"t{i}"]), [(ANSWERED, "")], _answer([f"t{i}"]), STAMP, 1.0)

            threads = [threading.Thread(target=answer, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            log.close()
            (written,) = (folder / DAY).iterdir()  # one file, named as the monitor reads it
            assert written.name.startswith("requests-"), written.name
            assert len(written.read_text().splitlines()) == 8
    finally:
        sys.setswitchinterval(interval)

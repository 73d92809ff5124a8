"""A model version says what moved it: the gate's verdict at release, then who moved `champion` and why.

Read back the way the MLflow UI reads it: through a real `mlflow server` on 127.0.0.1 over the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from lab2prod.cli import main
from lab2prod.errors import RegistryError
from lab2prod.release import gate, registry
from lab2prod.release.promotion import release_description

BIN = Path(sys.executable).parent


@contextlib.contextmanager
def mlflow_server(store: Path):
    """A real `mlflow server` over the SQLite store in `store`, on a free port; stopped on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (store / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=store,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError((store / "server.log").read_text()[-3000:])
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def version_through_rest(url: str, name: str, version: str) -> dict:
    query = urllib.parse.urlencode({"name": name, "version": version})
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/model-versions/get?{query}") as answer:
        return json.loads(answer.read())["model_version"]


@pytest.mark.integration  # one fresh-process infrastructure check and a real MLflow server: tens of seconds
def test_promote_and_rollback_say_who_and_why_in_the_description(store, toy_data, fit_and_log):
    name = "described"
    for _ in range(2):
        uri, _ = fit_and_log(toy_data["train"])
        registry.register(uri, name)
    assert (
        main(["promote", "1", "--reason", "approved", "--model", name, "--root", str(store)]) == 0
    )
    # the next two moves skip the infrastructure check (tested elsewhere): the same registry calls
    registry.promote_by_hand(name, "2", "better on the holdout")
    registry.rollback(name, "incident 42")

    with mlflow_server(store) as url:
        one, two = (version_through_rest(url, name, v) for v in ("1", "2"))
    who = registry._who()
    lines = one["description"].splitlines()
    # who trained it: the run's lab2prod.trained_by tag ("unknown" for a run logged without lab2prod's tracking)
    trained = "trained by unknown"
    assert f"made champion by {who} (promote; {trained}): approved" in lines[0]
    assert "champion passed to v2" in one["description"]
    assert lines[-1].endswith(
        f"made champion by {who} (rollback; {trained}): incident 42 (replaced v2)"
    )
    assert (
        f"made champion by {who} (promote; {trained}): better on the holdout (replaced v1)"
        in (two["description"])
    )
    tags = {t["key"]: t["value"] for t in one["tags"]}
    assert (tags["release.reason"], tags["release.by"]) == ("incident 42", who)


def test_a_description_of_a_missing_version_is_refused(store):
    with pytest.raises(RegistryError, match="has no version 9"):
        registry.add_to_description("no-such-model", "9", "never written")


def decision(promote: bool, champion: float | None) -> gate.GateDecision:
    return gate.GateDecision(
        promote=promote,
        metric="roc_auc",
        challenger=0.81234,
        champion=champion,
        reasons=("roc_auc 0.8123 vs champion 0.8200: not better (tolerance 0.0)",),
    )


def test_the_release_description_gives_the_verdict_and_the_model_card():
    promoted = release_description(decision(True, 0.79), "3")
    assert promoted.startswith(
        "Promoted to champion by the release gate: roc_auc 0.8123 against champion v3's 0.7900"
    )
    assert "Model card: reports/model_card.html" in promoted
    assert "(there was no champion)" in release_description(decision(True, None), None)
    rejected = release_description(decision(False, 0.82), "3")
    assert rejected.startswith("Not promoted by the release gate: roc_auc 0.8123 vs champion")


def test_with_business_values_the_description_says_what_each_model_is_worth_in_the_unit(
    credit_business,
):
    verdict = gate.decide(
        {"roc_auc": 0.90, "value": -150_000.0},
        {"roc_auc": 0.80, "value": 4_000.0},
        "value",
    )
    text = release_description(verdict, "3", credit_business)
    assert text.startswith("Not promoted by the release gate: value -150000.0000 vs champion")
    assert (
        "On the test split this model is worth EUR -150,000 per 1,000 cases, EUR 154,000 less "
        "than champion v3 (EUR 4,000)." in text
    )
    assert "worth" not in release_description(verdict, "3")  # no values declared: no sentence

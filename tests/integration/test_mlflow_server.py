"""The team MLflow server: `make mlflow-server` on PostgreSQL with basic auth, used the way MLflow users do.

The sample pipeline is built against it by Airflow's run of the training DAG (conftest.airflow_project,
shared with test_airflow.py): MLFLOW_TRACKING_URI=http://... plus MLFLOW_TRACKING_USERNAME/PASSWORD.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from scale_out import PG_URL, rest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PG_URL, reason="LAB2PROD_TEST_PG_URL is not set: .ci/run starts PostgreSQL"
    ),
]


def test_the_build_against_the_server_left_its_runs_model_and_champion(
    team_server, airflow_project
):
    auth = (team_server.username, team_server.password)
    status, found = rest(
        team_server.uri,
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=lab2prod-test",
        auth,
    )
    assert status == 200, status
    experiment = found["experiment"]
    # artifacts go through the server (proxied), never to a path of the client's
    assert experiment["artifact_location"].startswith("mlflow-artifacts:/")
    status, runs = rest(
        team_server.uri,
        "/api/2.0/mlflow/runs/search",
        auth,
        body={"experiment_ids": [experiment["experiment_id"]], "max_results": 1000},
    )
    assert status == 200
    names = {run["info"]["run_name"] for run in runs["runs"]}
    # the build's parent run and its four grid cells at least
    assert len(runs["runs"]) >= 5, names
    status, model = rest(
        team_server.uri, "/api/2.0/mlflow/registered-models/get?name=credit-risk", auth
    )
    assert status == 200 and model["registered_model"]["name"] == "credit-risk"
    status, champion = rest(
        team_server.uri,
        "/api/2.0/mlflow/registered-models/alias?name=credit-risk&alias=" + quote("champion"),
        auth,
    )
    assert status == 200, status
    version = champion["model_version"]
    assert version["run_id"] in {run["info"]["run_id"] for run in runs["runs"]}
    # the model's files landed in the server's own artifact folder
    assert list(team_server.folder.glob("artifacts/**/MLmodel")), "no model files were proxied"


@pytest.mark.parametrize("auth", [None, ("admin", "not-the-password")], ids=["none", "wrong"])
def test_a_request_without_valid_credentials_gets_401(team_server, auth):
    status, _ = rest(team_server.uri, "/api/2.0/mlflow/experiments/search?max_results=1", auth)
    assert status == 401


def test_the_admin_password_comes_from_the_environment_only(team_server):
    assert (
        rest(
            team_server.uri,
            "/api/2.0/mlflow/experiments/search?max_results=1",
            (team_server.username, team_server.password),
        )[0]
        == 200
    )
    # MLflow's old default admin password is never accepted
    assert (
        rest(
            team_server.uri,
            "/api/2.0/mlflow/experiments/search?max_results=1",
            ("admin", "password1234"),
        )[0]
        == 401
    )


def _send(uri: str, method: str, path: str, auth: tuple[str, str], body: dict) -> int:
    """Send `body` as JSON with `method` (PATCH and DELETE too) to the server; return the HTTP status."""
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(
        uri + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_password_changed_or_a_user_deleted_is_refused_at_once(team_server):
    """The server trusts a password it has checked for a minute (make mlflow-server's credential
    cache), and still refuses the old password on the very next request once it is changed through
    the API, and the user's once the user is deleted: the server runs one worker, whose cache the
    change clears."""
    uri, admin = team_server.uri, (team_server.username, team_server.password)
    name, first, second = (
        f"rotating-{secrets.token_hex(3)}",
        *(secrets.token_urlsafe(18) for _ in "ab"),
    )
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    created = _send(
        uri, "POST", "/api/2.0/mlflow/users/create", admin, {"username": name, "password": first}
    )
    assert created == 200, created
    try:
        assert [rest(uri, search, (name, first))[0] for _ in range(2)] == [
            200,
            200,
        ]  # checked, then trusted
        changed = {"username": name, "password": second}
        assert _send(uri, "PATCH", "/api/2.0/mlflow/users/update-password", admin, changed) == 200
        assert rest(uri, search, (name, first))[0] == 401
        assert rest(uri, search, (name, second))[0] == 200
    finally:
        deleted = _send(uri, "DELETE", "/api/2.0/mlflow/users/delete", admin, {"username": name})
    assert deleted == 200, deleted
    assert rest(uri, search, (name, second))[0] == 401

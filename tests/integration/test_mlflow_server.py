"""The team MLflow server: `make mlflow-server` on PostgreSQL with basic auth, used the way MLflow users do.

The sample pipeline is built against it by Airflow's run of the training DAG (conftest.airflow_project,
shared with test_airflow.py): MLFLOW_TRACKING_URI=http://... plus MLFLOW_TRACKING_USERNAME/PASSWORD.
"""

from __future__ import annotations

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

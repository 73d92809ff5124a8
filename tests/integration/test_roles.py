"""Roles on the team server (`make mlflow-server`: PostgreSQL, lab2prod-auth), used the way each role works.

One server and one small build for the whole file (scale_out.roles_project, made by the second lane):
the project's roles.yaml applied twice by the admin, then ada (data scientist) builds the sample
pipeline with `release: {approval: required}`. The module fixture `released` then plays the release
once: ada's own promote, april's approval, a second version released by ci through the release path,
rollbacks by ada and april, and vic's audit (played by the lane too, right after the build).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from scale_out import PG_URL, ROLES_EXPERIMENT, ROLES_MODEL, rest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PG_URL, reason="LAB2PROD_TEST_PG_URL is not set: .ci/run starts PostgreSQL"
    ),
]


def call(uri: str, method: str, path: str, auth: tuple[str, str], body: dict | None = None) -> int:
    """Send one request with basic auth; return the HTTP status."""
    request = urllib.request.Request(
        uri + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def ada_built(roles_project):
    assert roles_project.build.returncode == 0, (
        roles_project.build.stdout[-3000:] + roles_project.build.stderr[-3000:]
    )
    return roles_project


@pytest.fixture(scope="module")
def released(ada_built):
    """The release played once after ada's build, by the lane (scale_out.play_release): the
    version and each step's finished process, by name."""
    assert ada_built.released is not None
    return ada_built.released


@pytest.fixture
def as_user(ada_built, monkeypatch):
    """Return an MLflow client of the team server logged in as the user named."""

    def _client(user: str) -> MlflowClient:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ada_built.passwords[user])
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        return MlflowClient(ada_built.server.uri)

    return _client


def test_roles_applied_twice_leave_the_same_server(ada_built):
    first, second = ada_built.applied
    assert first.returncode == 0, first.stderr
    assert (
        "created role data-scientist" in first.stdout
        and "gave ada role data-scientist" in first.stdout
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines() == [
        f"roles.yaml: 0 change(s) on {ada_built.server.uri} (the server already matches)"
    ]
    status, roles = rest(
        ada_built.server.uri,
        "/api/3.0/mlflow/users/roles/list?username=ada",
        (ada_built.server.username, ada_built.server.password),
    )
    # beside MLflow's own role of her per-user grants (__user_<id>__)
    assert status == 200
    assert [r["name"] for r in roles["roles"] if not r["name"].startswith("__")] == [
        "data-scientist"
    ]


def test_a_data_scientist_registers_but_cannot_move_champion(ada_built, as_user):
    ada = as_user("ada")
    # ada's build logged its runs and registered a version (challenger) on the server
    assert ada_built.aliases_after_build.get("challenger")
    version = ada_built.aliases_after_build["challenger"]
    for alias in ("champion", "previous"):
        with pytest.raises(MlflowException, match="PERMISSION_DENIED|403"):
            ada.set_registered_model_alias(ROLES_MODEL, alias, version)
    with pytest.raises(MlflowException, match="PERMISSION_DENIED|403"):
        ada.delete_registered_model_alias(ROLES_MODEL, "champion")
    auth = ("ada", ada_built.passwords["ada"])
    body = {"name": ROLES_MODEL, "alias": "champion", "version": version}
    # the REST API and the UI's own route
    for prefix in ("/api/2.0", "/ajax-api/2.0"):
        assert (
            call(
                ada_built.server.uri, "POST", f"{prefix}/mlflow/registered-models/alias", auth, body
            )
            == 403
        )
    # any other alias is hers to set
    ada.set_registered_model_alias(ROLES_MODEL, "ada-try", version)


def test_with_approval_required_the_build_leaves_the_challenger_waiting(ada_built):
    summary = json.loads((ada_built.root / "products/register.json").read_text())
    assert summary["awaiting_approval"] is True and summary["promoted"] is False
    assert summary["trained_by"] == "ada"
    assert ada_built.aliases_after_build == {"challenger": summary["version"]}
    assert "awaiting approval" in (ada_built.root / "reports/index.html").read_text()
    assert (
        "awaiting approval"
        in ada_built.build.stdout
        + ada_built.build.stderr
        + (ada_built.root / "products/notebooks/register.ipynb").read_text()
    )


def test_the_trainers_own_promote_is_refused_in_one_line(released):
    done = released[1]["ada promotes"]
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "ada trained roles-credit v" in done.stderr and "approver role" in done.stderr


def test_an_approvers_promote_makes_it_champion_and_is_recorded(ada_built, released, as_user):
    version, steps = released
    assert steps["april approves"].returncode == 0, steps["april approves"].stderr
    assert f"{ROLES_MODEL} v{version} is champion" in steps["april approves"].stdout
    found = as_user("vic").get_model_version(ROLES_MODEL, version)
    assert found.tags["release.trained_by"] == "ada"
    assert found.tags["release.approval"] == "required"
    assert found.tags["release.status"] == "approved" and found.tags["release.by"] != "ada"
    assert (
        "made champion by april (approve; trained by ada): read the model card" in found.description
    )


def test_the_release_identity_promotes_through_the_release_path(released):
    done = released[1]["ci releases"]
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["promoted"] is True and summary["trained_by"] == "ada"


def test_rollback_needs_the_approver_role(released):
    steps = released[1]
    refused = steps["ada rolls back"]
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "ada may not roll back roles-credit: it needs the approver role" in refused.stderr
    assert steps["april rolls back"].returncode == 0, steps["april rolls back"].stderr


def test_the_audit_lists_every_change_of_champion(released):
    version, steps = released
    done = steps["vic audits"]
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split("  ")[1:3] for line in lines] == [
        [f"v{version}", "approve by april (trained by ada)"],
        [f"v{int(version) + 1}", f"gate by ci (trained by ada, replaced v{version})"],
        [f"v{version}", f"rollback by april (trained by ada, replaced v{int(version) + 1})"],
    ]
    assert "why: read the model card: approved" in lines[0] and "gate: promote" in lines[0]


def test_a_viewer_reads_everything_and_writes_nothing(ada_built, released, as_user, tmp_path):
    import mlflow

    vic = as_user("vic")
    experiment = vic.get_experiment_by_name(ROLES_EXPERIMENT)
    runs = vic.search_runs([experiment.experiment_id])
    assert runs and vic.get_registered_model(ROLES_MODEL).aliases["champion"]
    parent = next(
        r
        for r in runs
        if "reports/model_card.html"
        in {a.path for a in vic.list_artifacts(r.info.run_id, "reports")}
    )
    card = mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id,
        artifact_path="reports/model_card.html",
        dst_path=str(tmp_path),
        tracking_uri=ada_built.server.uri,
    )
    assert "<html" in Path(card).read_text(encoding="utf-8").lower()
    auth, uri = ("vic", ada_built.passwords["vic"]), ada_built.server.uri
    run_id, eid = parent.info.run_id, experiment.experiment_id
    writes = {
        "create experiment": ("POST", "/api/2.0/mlflow/experiments/create", {"name": "vic"}),
        "tag experiment": (
            "POST",
            "/api/2.0/mlflow/experiments/set-experiment-tag",
            {"experiment_id": eid, "key": "k", "value": "v"},
        ),
        "create run": ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": eid}),
        "tag run": (
            "POST",
            "/api/2.0/mlflow/runs/set-tag",
            {"run_id": run_id, "key": "k", "value": "v"},
        ),
        "delete run": ("POST", "/api/2.0/mlflow/runs/delete", {"run_id": run_id}),
        "create model": ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "vic-model"}),
        "register version": (
            "POST",
            "/api/2.0/mlflow/model-versions/create",
            {"name": ROLES_MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id},
        ),
        "set alias": (
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": ROLES_MODEL, "alias": "challenger", "version": "1"},
        ),
        "tag version": (
            "POST",
            "/api/2.0/mlflow/model-versions/set-tag",
            {"name": ROLES_MODEL, "version": "1", "key": "k", "value": "v"},
        ),
        "delete version": (
            "DELETE",
            "/api/2.0/mlflow/model-versions/delete",
            {"name": ROLES_MODEL, "version": "1"},
        ),
        "delete model": (
            "DELETE",
            "/api/2.0/mlflow/registered-models/delete",
            {"name": ROLES_MODEL},
        ),
    }
    answers = {
        what: call(uri, method, path, auth, body) for what, (method, path, body) in writes.items()
    }
    assert answers == dict.fromkeys(writes, 403)


def test_no_password_appears_in_any_product_of_the_build(ada_built, released, as_user):
    secrets = {ada_built.server.password, *ada_built.passwords.values()}
    leaks = [
        str(path)
        for path in ada_built.root.rglob("*")
        if path.is_file() and any(s.encode() in path.read_bytes() for s in secrets)
    ]
    assert leaks == []
    assert not any(s in ada_built.build.stdout + ada_built.build.stderr for s in secrets)
    # nor in MLflow: the runs' params and tags, the versions' tags and descriptions
    vic = as_user("vic")
    experiment = vic.get_experiment_by_name(ROLES_EXPERIMENT)
    recorded = [
        json.dumps([r.data.params, r.data.tags])
        for r in vic.search_runs([experiment.experiment_id])
    ] + [
        json.dumps([v.tags, v.description])
        for v in vic.search_model_versions(f"name = '{ROLES_MODEL}'")
    ]
    assert not any(s in text for s in secrets for text in recorded)

"""The team server's two rules (lab2prod.team_auth), decided on requests built in Flask, without a server.

The same rules on a real server (PostgreSQL, MLflow's basic auth first): tests/integration/test_roles.py.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask, g

from lab2prod import team_auth


@pytest.fixture
def ask(monkeypatch):
    """Return guard_roles's answer (None: MLflow decides) to `method path body` sent by `user` holding `roles`."""
    app = Flask(__name__)

    def _ask(user, roles, method, path, body=None, may_create=False):
        monkeypatch.setattr(team_auth, "_role_names", lambda username: set(roles))
        monkeypatch.setattr(team_auth, "_may_create", lambda username, kind: may_create)
        monkeypatch.setattr(team_auth.auth, "sender_is_admin", lambda: user == "admin")
        with app.test_request_context(path, method=method, json=body):
            g.mlflow_authenticated_user = user
            return team_auth.guard_roles()

    return _ask


@pytest.mark.parametrize("route", ["/api/2.0", "/ajax-api/2.0"])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize("alias", ["champion", "previous"])
def test_only_release_approver_or_admin_move_champion_and_previous(ask, route, method, alias):
    path = f"{route}/mlflow/registered-models/alias"
    body = {"name": "credit-risk", "alias": alias, "version": "3"}
    refused = ask("ada", {"data-scientist"}, method, path, body)
    assert refused.status_code == 403
    assert json.loads(refused.get_data())["message"].startswith(
        f"alias '{alias}' moves only through lab2prod's release path: user 'ada'"
    )
    for user, roles in [("ci", {"release"}), ("april", {"approver"}), ("admin", set())]:
        assert ask(user, roles, method, path, body) is None
    # other aliases, and reads, are MLflow's to decide
    assert ask("ada", {"data-scientist"}, method, path, {**body, "alias": "challenger"}) is None
    assert ask("ada", {"data-scientist"}, "GET", path + f"?name=credit-risk&alias={alias}") is None


@pytest.mark.parametrize(
    "path", ["/api/2.0/mlflow/experiments/create", "/ajax-api/2.0/mlflow/registered-models/create"]
)
def test_creating_needs_a_role_with_edit(ask, path):
    refused = ask("vic", {"viewer"}, "POST", path, {"name": "x"})
    assert refused.status_code == 403 and "no role of roles.yaml grants EDIT" in refused.get_data(
        as_text=True
    )
    assert ask("ada", {"data-scientist"}, "POST", path, {"name": "x"}, may_create=True) is None
    assert ask("admin", set(), "POST", path, {"name": "x"}) is None

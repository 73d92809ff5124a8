"""Roles as code: roles.yaml read and checked, applied idempotently (a fake of MLflow's auth client), the audit trail parsed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException

from conftest import PROJECT
from lab2prod import settings
from lab2prod.errors import ConfigError
from lab2prod.release.audit import changes_from_tags
from lab2prod.release.roles import apply_roles, roles_from_dict, roles_of


def test_the_projects_roles_yaml_names_every_role_of_the_lifecycle():
    spec = roles_from_dict(settings.read_yaml(PROJECT / "roles.yaml"))
    assert set(spec.roles) == {"data-scientist", "data-engineer", "release", "approver", "viewer"}
    # a data scientist registers versions (EDIT on models); a viewer only reads
    assert spec.roles["data-scientist"].grants[("registered_model", "*")] == "EDIT"
    assert set(spec.roles["viewer"].grants.values()) == {"READ"}
    assert all(u.password_env.startswith("LAB2PROD_PASSWORD_") for u in spec.users)
    assert "password:" not in (PROJECT / "roles.yaml").read_text()


BASE = {
    "roles": {"release": {"grants": {"experiment": "EDIT"}}, "approver": {}},
    "users": {"ci": {"roles": ["release"], "password_env": "PW_CI"}},
}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"users": {"ci": {"password": "hunter2hunter2", "password_env": "PW"}}},
            "no password in the file",
        ),
        ({"roles": {"release": {}}}, "roles approver are missing"),
        ({"users": {"ci": {"roles": ["boss"], "password_env": "PW_CI"}}}, "unknown role 'boss'"),
        (
            {"roles": {"release": {"grants": {"experiment": "WRITE"}}, "approver": {}}},
            "'WRITE' is not one of",
        ),
        (
            {"roles": {"release": {"grants": {"pipelines": "EDIT"}}, "approver": {}}},
            "unknown resource type 'pipelines'",
        ),
        (
            {"users": {"ci": {"roles": [], "password_env": "lower"}}},
            "password_env must name an environment variable",
        ),
    ],
)
def test_a_wrong_roles_file_is_refused_in_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        roles_from_dict({**BASE, **change}, origin="roles.yaml")


class FakeAuth:
    """MLflow's AuthServiceClient over dictionaries: roles, grants, users, assignments."""

    def __init__(self):
        self.roles, self.grants, self.users, self.held, self.calls = {}, {}, {}, {}, 0
        self.next_id = 1

    def _id(self):
        self.next_id += 1
        return self.next_id

    def list_roles(self, workspace):
        return list(self.roles.values())

    def create_role(self, workspace, name, description=None):
        self.calls += 1
        role = SimpleNamespace(id=self._id(), name=name, description=description)
        self.roles[name] = role
        return role

    def update_role(self, role_id, name=None, description=None):
        self.calls += 1
        next(r for r in self.roles.values() if r.id == role_id).description = description

    def list_role_permissions(self, role_id):
        return [g for g in self.grants.values() if g.role_id == role_id]

    def add_role_permission(self, role_id, resource_type, resource_pattern, permission):
        self.calls += 1
        grant = SimpleNamespace(
            id=self._id(),
            role_id=role_id,
            resource_type=resource_type,
            resource_pattern=resource_pattern,
            permission=permission,
        )
        self.grants[grant.id] = grant

    def update_role_permission(self, role_permission_id, permission):
        self.calls += 1
        self.grants[role_permission_id].permission = permission

    def remove_role_permission(self, role_permission_id):
        self.calls += 1
        del self.grants[role_permission_id]

    def get_user(self, username):
        if username not in self.users:
            raise MlflowException(f"user {username} not found")
        return username

    def create_user(self, username, password):
        self.calls += 1
        self.users[username] = password

    def update_user_password(self, username, password, current_password=None):
        self.calls += 1
        self.users[username] = password

    def list_user_roles(self, username):
        return [r for r in self.roles.values() if r.id in self.held.get(username, set())]

    def assign_role(self, username, role_id):
        self.calls += 1
        self.held.setdefault(username, set()).add(role_id)

    def unassign_role(self, username, role_id):
        self.calls += 1
        self.held[username].discard(role_id)


def test_roles_applied_twice_change_nothing_the_second_time_and_fix_any_drift():
    spec = roles_from_dict(settings.read_yaml(PROJECT / "roles.yaml"))
    auth, created = FakeAuth(), []
    passwords = {u.password_env: f"password-of-{u.name}" for u in spec.users}

    def apply():
        return apply_roles(
            spec,
            auth,
            login=lambda user, pw: auth.users.get(user) == pw,
            secret=passwords.__getitem__,
            create_model=lambda n: not created.append(n) and len(created) == 1,
        )

    first = apply()
    assert "created user ada" in first and "gave ada role data-scientist" in first
    assert "created registered model credit-risk (owned by the admin)" in first
    assert auth.users["ada"] == "password-of-ada"
    assert apply() == []
    # drift on the server: a grant widened, a grant added by hand, a role given by hand, a password changed
    viewer = auth.roles["viewer"].id
    next(g for g in auth.grants.values() if g.role_id == viewer).permission = "EDIT"
    auth.add_role_permission(viewer, "run", "*", "MANAGE")
    auth.assign_role("vic", auth.roles["release"].id)
    auth.users["ada"] = "changed-by-hand"
    fixes = apply()
    assert sorted(fixes) == sorted(
        [
            "role viewer: experiment * EDIT -> READ",
            "role viewer: removed MANAGE on run *",
            "took role release from vic",
            "set the password of ada (from $LAB2PROD_PASSWORD_ADA)",
        ]
    )
    assert apply() == []


def test_a_user_without_the_password_variable_stops_the_apply(monkeypatch):
    spec = roles_from_dict(BASE)
    monkeypatch.delenv("PW_CI", raising=False)
    with pytest.raises(ConfigError, match="environment variable PW_CI is not set"):
        apply_roles(
            spec,
            FakeAuth(),
            login=lambda u, p: True,
            secret=settings.secret,
            create_model=lambda n: False,
        )


def test_without_a_team_server_nobody_has_roles_to_check(tmp_path):
    assert roles_of(f"sqlite:///{tmp_path / 'mlflow.db'}", "ada") is None
    assert roles_of(None, "ada") is None


def test_the_audit_trail_is_read_from_version_tags_in_time_order():
    entry = {
        "at": "2026-12-06T10:00:00Z",
        "version": "3",
        "action": "approve",
        "by": "april",
        "trained_by": "ada",
        "reason": "read the card",
        "gate": "promote: no champion yet",
        "replaced": "2",
    }
    tags = {
        "audit.champion.20261206T100000.000002Z": json.dumps({**entry, "action": "rollback"}),
        "audit.champion.20261206T100000.000001Z": json.dumps(entry),
        "audit.champion.broken": "{not json",
        "gate.decision": "promote",
    }
    changes = changes_from_tags(tags)
    assert [c.action for c in changes] == ["approve", "rollback"]
    assert changes[0].describe() == (
        "2026-12-06T10:00:00Z  v3  approve by april (trained by ada, replaced v2)  "
        "why: read the card  gate: promote: no champion yet"
    )

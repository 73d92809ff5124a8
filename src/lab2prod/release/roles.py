"""Roles as code: roles.yaml read into typed specs, and applied to the team server through MLflow's auth API.

`roles_from_dict` is pure (it validates and returns `RolesSpec`); `apply_roles` compares the
server's roles, grants, users and assignments with the spec and changes only what differs, so a
second run changes nothing. Passwords never live in roles.yaml: each user names the environment
variable that holds theirs.

Who may move `champion` and `previous` is not a permission MLflow can express (creating a
version and moving an alias need the same one); the team server's app (`lab2prod.team_auth`)
lets only the roles named in PROMOTING_ROLES do it, and the release path asks the roles too.
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mlflow.exceptions import MlflowException
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

from lab2prod.errors import ConfigError

ROLES_FILE = "roles.yaml"  # in the project folder
# the roles that move `champion`/`previous` on the team server (lab2prod.team_auth keeps the same names)
RELEASE, APPROVER = "release", "approver"
PROMOTING_ROLES = frozenset({RELEASE, APPROVER})
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "DENY")
RESOURCE_TYPES = ("experiment", "registered_model", "registered_model_version", "run")
USER_ROLES_ROUTE = "/api/3.0/mlflow/users/roles/list"  # mlflow.server.auth.routes.LIST_USER_ROLES
WORKSPACE = "default"  # MLflow's workspace when workspaces are off (the team server's set-up)
_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


@dataclass(frozen=True)
class RoleSpec:
    """One role: its name, what it is for, and its grants {(resource type, pattern): permission}."""

    name: str
    description: str
    grants: dict[tuple[str, str], str]


@dataclass(frozen=True)
class UserSpec:
    """One user: the name they log in with, the variable holding their password, their roles."""

    name: str
    password_env: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class RolesSpec:
    """What roles.yaml asks for: roles, users, and the registered models the admin creates (so nobody else owns them)."""

    roles: dict[str, RoleSpec]
    users: tuple[UserSpec, ...]
    registered_models: tuple[str, ...]


def _grants(role: str, raw: Any, origin: str) -> dict[tuple[str, str], str]:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{origin}: role {role!r}: 'grants' must map resource types to permissions, "
            "e.g. {experiment: EDIT, registered_model: READ}"
        )
    grants = {}
    for resource_type, value in raw.items():
        if resource_type not in RESOURCE_TYPES:
            raise ConfigError(
                f"{origin}: role {role!r}: unknown resource type {resource_type!r}; "
                f"known: {', '.join(RESOURCE_TYPES)}"
            )
        # EDIT applies to every resource of the type; {<model-name>: EDIT} to the one named
        for pattern, permission in (value if isinstance(value, dict) else {"*": value}).items():
            if permission not in PERMISSIONS:
                raise ConfigError(
                    f"{origin}: role {role!r}: {resource_type}: permission {permission!r} is not "
                    f"one of {', '.join(PERMISSIONS)}"
                )
            grants[(resource_type, str(pattern))] = permission
    return grants


def roles_from_dict(data: dict[str, Any], origin: str = "roles.yaml") -> RolesSpec:
    """Return the roles spec of a roles.yaml mapping; raise ConfigError (file, role or user, what to fix) when it is wrong."""
    raw_roles = data.get("roles")
    if not isinstance(raw_roles, dict) or not raw_roles:
        raise ConfigError(f"{origin}: 'roles' must map role names to their grants")
    roles = {}
    for name, body in raw_roles.items():
        body = body or {}
        if not _NAME.match(str(name)):
            raise ConfigError(f"{origin}: role name {name!r}: use letters, digits, '-', '_', '.'")
        roles[name] = RoleSpec(
            name, str(body.get("description") or ""), _grants(name, body.get("grants", {}), origin)
        )
    missing = sorted(PROMOTING_ROLES - set(roles))
    if missing:
        raise ConfigError(
            f"{origin}: roles {', '.join(missing)} are missing: the team server lets only "
            f"{' and '.join(sorted(PROMOTING_ROLES))} move 'champion'"
        )
    users = []
    for name, body in (data.get("users") or {}).items():
        body = body or {}
        if not _NAME.match(str(name)):
            raise ConfigError(
                f"{origin}: user name {name!r}: use letters, digits, '-', '_', '.', '@'"
            )
        if "password" in body:
            raise ConfigError(
                f"{origin}: user {name!r}: no password in the file; name the environment "
                "variable that holds it (password_env: LAB2PROD_PASSWORD_...)"
            )
        env = body.get("password_env")
        if not env or not re.match(r"^[A-Z_][A-Z0-9_]*$", str(env)):
            raise ConfigError(
                f"{origin}: user {name!r}: password_env must name an environment variable "
                "(upper case, e.g. LAB2PROD_PASSWORD_ADA)"
            )
        user_roles = tuple(body.get("roles") or ())
        unknown = [r for r in user_roles if r not in roles]
        if unknown:
            raise ConfigError(
                f"{origin}: user {name!r}: unknown role {unknown[0]!r}; roles: {', '.join(roles)}"
            )
        users.append(UserSpec(str(name), str(env), user_roles))
    models = tuple(str(m) for m in data.get("registered_models") or ())
    return RolesSpec(roles, tuple(users), models)


class AuthClient(Protocol):
    """The part of MLflow's AuthServiceClient (`mlflow.server.get_app_client`) that `apply_roles` uses."""

    def list_roles(self, workspace: str) -> list: ...
    def create_role(self, workspace: str, name: str, description: str | None = None): ...
    def update_role(
        self, role_id: int, name: str | None = None, description: str | None = None
    ): ...
    def list_role_permissions(self, role_id: int) -> list: ...
    def add_role_permission(
        self, role_id: int, resource_type: str, resource_pattern: str, permission: str
    ): ...
    def update_role_permission(self, role_permission_id: int, permission: str): ...
    def remove_role_permission(self, role_permission_id: int) -> None: ...
    def get_user(self, username: str): ...
    def create_user(self, username: str, password: str): ...
    def update_user_password(
        self, username: str, password: str, current_password: str | None = None
    ): ...
    def list_user_roles(self, username: str) -> list: ...
    def assign_role(self, username: str, role_id: int): ...
    def unassign_role(self, username: str, role_id: int) -> None: ...


def roles_of(uri: str | None, username: str) -> set[str] | None:
    """Return the names of the roles the team server at `uri` gives `username`; None without a team server (a local store, or a server without basic auth)."""
    if not uri or not uri.startswith(("http://", "https://")):
        return None
    # the REST call of AuthServiceClient.list_user_roles: importing that client loads the whole
    # server (Flask app, auth store), seconds that a release on a local store never pays
    try:
        answer = http_request(
            get_default_host_creds(uri),
            USER_ROLES_ROUTE,
            "GET",
            params={"username": username},
            max_retries=0,
        )
    except MlflowException:
        return None
    if answer.status_code != 200:
        return None  # no basic auth there (404), or roles not readable
    # MLflow keeps a user's own grants in a role named __user_<id>__: not one of roles.yaml's
    return {
        role["name"] for role in answer.json().get("roles", []) if not role["name"].startswith("__")
    }


def password_works(uri: str, username: str, password: str) -> bool:
    """Return whether `username` logs in to the server at `uri` with `password` (GET its own user record)."""
    request = urllib.request.Request(uri.rstrip("/") + "/api/2.0/mlflow/users/current")
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status == 200
    except urllib.error.HTTPError:
        return False


def _sync_role(
    client: AuthClient, role: RoleSpec, existing: dict[str, Any]
) -> tuple[int, list[str]]:
    changes = []
    found = existing.get(role.name)
    if found is None:
        found = client.create_role(WORKSPACE, role.name, role.description)
        changes.append(f"created role {role.name}")
    elif (found.description or "") != role.description:
        client.update_role(found.id, description=role.description)
        changes.append(f"described role {role.name}")
    have = {
        (p.resource_type, p.resource_pattern): p for p in client.list_role_permissions(found.id)
    }
    for key, permission in role.grants.items():
        if key not in have:
            client.add_role_permission(found.id, key[0], key[1], permission)
            changes.append(f"role {role.name}: granted {permission} on {key[0]} {key[1]}")
        elif have[key].permission != permission:
            changes.append(
                f"role {role.name}: {key[0]} {key[1]} {have[key].permission} -> {permission}"
            )
            client.update_role_permission(have[key].id, permission)
    for key, grant in have.items():
        if key not in role.grants:
            client.remove_role_permission(grant.id)
            changes.append(f"role {role.name}: removed {grant.permission} on {key[0]} {key[1]}")
    return found.id, changes


def _sync_user(
    client: AuthClient,
    user: UserSpec,
    role_ids: dict[str, int],
    login: Callable[[str, str], bool],
    secret: Callable[[str], str],
) -> list[str]:
    changes = []
    try:
        client.get_user(user.name)
        exists = True
    except MlflowException:
        exists = False
    if not exists:
        client.create_user(user.name, secret(user.password_env))
        changes.append(f"created user {user.name}")
    else:
        password = secret(user.password_env)
        if not login(user.name, password):
            client.update_user_password(user.name, password)
            changes.append(f"set the password of {user.name} (from ${user.password_env})")
    held = {role.name: role.id for role in client.list_user_roles(user.name)}
    for name in user.roles:
        if name not in held:
            client.assign_role(user.name, role_ids[name])
            changes.append(f"gave {user.name} role {name}")
    for name, role_id in held.items():
        if name not in user.roles and name in role_ids:
            client.unassign_role(user.name, role_id)
            changes.append(f"took role {name} from {user.name}")
    return changes


def apply_roles(
    spec: RolesSpec,
    client: AuthClient,
    login: Callable[[str, str], bool],
    secret: Callable[[str], str],
    create_model: Callable[[str], bool],
) -> list[str]:
    """Make the server's roles, grants, users and role assignments those of `spec`; return the changes made (none the second time).

    `login(user, password)` says whether a password already works, `secret(name)` reads an
    environment variable, `create_model(name)` creates a registered model when absent (True when it did).
    Roles and assignments the spec does not name are left alone; grants of a role it names are
    made exactly the spec's.
    """
    existing = {role.name: role for role in client.list_roles(WORKSPACE)}
    role_ids, changes = {}, []
    for role in spec.roles.values():
        role_ids[role.name], done = _sync_role(client, role, existing)
        changes += done
    for user in spec.users:
        changes += _sync_user(client, user, role_ids, login, secret)
    for name in spec.registered_models:
        if create_model(name):
            changes.append(f"created registered model {name} (owned by the admin)")
    return changes

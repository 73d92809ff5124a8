"""The team server's app (`mlflow server --app-name lab2prod-auth`): MLflow's basic auth plus two rules of lab2prod's roles.

MLflow's basic auth decides by permission on a resource: creating a model version and moving an
alias both need update permission on the registered model, so a user who may register versions
may also move `champion` (MLflow #24742 asks for rules per alias). This app runs MLflow's own
`basic-auth` app unchanged and adds, after its authentication, two checks on the roles that
`lab2prod roles apply` writes into MLflow's auth store:

- moving or deleting a protected alias (`champion`, `previous`) needs one of the promoting roles
  (`release`, `approver`) or the admin: anybody else gets 403 from the client, the REST API or the UI;
- creating an experiment or a registered model needs a role granting EDIT or more on that kind of
  resource: a user with only the server's default READ (a viewer) creates nothing.

Everything else (reads, runs, versions, tags) is left to MLflow's own permissions.
This module runs inside the server only; nothing else in lab2prod imports it.
"""

from __future__ import annotations

import json

from flask import Flask, g, request
from mlflow.server import app as mlflow_app
from mlflow.server import auth
from mlflow.server.auth.permissions import GrantLoadKey
from mlflow.server.auth.requirements import fold_grants_for_key
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

PROTECTED_ALIASES = frozenset({"champion", "previous"})
PROMOTING_ROLES = frozenset({"release", "approver"})
# the tail of the REST and ajax routes (any API version or static prefix before it) -> resource type created
CREATE_ROUTES = {
    "/mlflow/experiments/create": ("experiment", "an experiment"),
    "/mlflow/registered-models/create": ("registered_model", "a registered model"),
}
ALIAS_ROUTE = "/mlflow/registered-models/alias"


def _forbidden(message: str):
    response = auth.make_forbidden_response()
    response.set_data(json.dumps({"error_code": "PERMISSION_DENIED", "message": message}))
    response.mimetype = "application/json"
    return response


def _role_names(username: str) -> set[str]:
    user = auth.store.get_user(username)
    return {role.name for role in auth.store.list_user_roles(user.id)}


def _may_create(username: str, resource_type: str) -> bool:
    user = auth.store.get_user(username)
    grants = auth.store.list_grants(user.id, DEFAULT_WORKSPACE_NAME, {resource_type})
    permission = fold_grants_for_key(grants, GrantLoadKey(resource_type, "*"))
    return permission is not None and permission.can_update


def guard_roles():
    """Return a 403 response when the request breaks one of the two rules above, else None (MLflow decides)."""
    username = getattr(g, "mlflow_authenticated_user", None)
    if username is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    path = request.path
    if path.endswith(ALIAS_ROUTE) and request.method in ("POST", "DELETE"):
        alias = auth._get_request_param("alias")
        if alias in PROTECTED_ALIASES and not (
            auth.sender_is_admin() or _role_names(username) & PROMOTING_ROLES
        ):
            return _forbidden(
                f"alias {alias!r} moves only through lab2prod's release path: user {username!r} "
                f"holds none of the roles {', '.join(sorted(PROMOTING_ROLES))} (roles.yaml)"
            )
        return None
    for tail, (resource_type, what) in CREATE_ROUTES.items():
        if path.endswith(tail) and not (
            auth.sender_is_admin() or _may_create(username, resource_type)
        ):
            return _forbidden(
                f"user {username!r} may not create {what}: no role of roles.yaml grants EDIT on it"
            )
    return None


def create_app(app: Flask = mlflow_app):
    """Return MLflow's basic-auth app with `guard_roles` run after its authentication (the `mlflow.app` entry point)."""
    served = auth.create_app(app)
    app.before_request(guard_roles)  # after basic auth's own hook: the user is known by then
    return served

"""The registry edge: model versions and their aliases (champion, challenger, previous) in MLflow.

It registers versions and moves aliases; finding and loading a model is `lab2prod.model_edge`.
"""

from __future__ import annotations

import datetime as dt
import json

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from lab2prod import settings
from lab2prod.errors import RegistryError
from lab2prod.model_edge import CHAMPION, Version, version_by_alias

CHALLENGER, PREVIOUS = "challenger", "previous"  # CHAMPION is the model edge's: scoring reads it
# the tag release.status of a challenger that passed the gate while the project asks for approval
# (env.yaml release.approval); a tag, not an alias: removing an alias needs MANAGE on the whole model
AWAITING, APPROVED = "awaiting-approval", "approved"
# one tag per change of champion on the version made champion: the audit trail (lab2prod roles audit)
AUDIT_PREFIX = "audit.champion."


def register(model_uri: str, name: str, tags: dict[str, str] | None = None) -> Version:
    """Register the model at `model_uri` as a new version of `name`; return it."""
    mv = mlflow.register_model(model_uri, name, tags=tags)
    return Version(name=name, version=str(mv.version), run_id=mv.run_id, source=mv.source)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point `alias` of model `name` at `version`."""
    try:
        MlflowClient().set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(
            f"cannot set alias {alias!r} of model {name!r} to version {version}: "
            f"{exc.message.splitlines()[0] if exc.message else exc}"
        ) from None


def promote(name: str, version: str) -> Version | None:
    """Make `version` the champion; the one it replaces keeps alias `previous`. Return the replaced one."""
    old = version_by_alias(name, CHAMPION)
    if old is not None and old.version == str(version):
        return None
    if old is not None:
        set_alias(name, PREVIOUS, old.version)
    set_alias(name, CHAMPION, version)
    return old


def tag_version(name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a model version (the gate's decision, its numbers)."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


# the version tags a person reads on its MLflow page (and lab2prod reads back: readiness, the CLI);
# the rest of the release's numbers are in the JSON artifact named by EVIDENCE
READABLE = (
    "gate.decision",
    "gate.reasons",
    "gate.metric",
    "gate.challenger",
    "gate.champion",
    "gate.champion_version",
    "gate.notes",
    "infra.ok",
    "infra.load_seconds",
    "infra.error",
    "release.trained_by",  # who trained it: four eyes compare it with who approves
    "release.approval",  # whether the project asked for an approver when it was registered
)
EVIDENCE = "release.evidence"


def store_evidence(
    name: str, version: str, run_id: str | None, tags: dict[str, str]
) -> dict[str, str]:
    """Store every tag of a release as one JSON artifact of run `run_id`; return the tags to set on the version.

    Those are the READABLE ones plus `release.evidence`, the artifact's URI. Without a run there is
    nowhere to store the file: every tag is returned.
    """
    if not run_id:
        return dict(tags)
    artifact = f"release/{name}-v{version}.json"
    MlflowClient().log_text(
        run_id,
        json.dumps(
            {"model": name, "version": str(version), "tags": tags}, indent=2, sort_keys=True
        ),
        artifact,
    )
    kept = {k: v for k, v in tags.items() if k in READABLE}
    return {**kept, EVIDENCE: f"runs:/{run_id}/{artifact}"}


def evidence(name: str, version: str) -> dict[str, str]:
    """Return every tag of version `version`'s release: its JSON artifact's, then the version's own.

    Raises RegistryError naming the version when it or its artifact cannot be read.
    """
    try:
        tags = dict(MlflowClient().get_model_version(name, str(version)).tags or {})
    except MlflowException:
        raise RegistryError(
            f"model {name!r} has no version {version}: list them in the MLflow UI"
        ) from None
    uri = tags.get(EVIDENCE)
    if not uri:
        return tags
    try:
        stored = json.loads(mlflow.artifacts.load_text(uri))["tags"]
    except (MlflowException, OSError, ValueError, KeyError) as exc:
        raise RegistryError(
            f"model {name!r} version {version}: cannot read its release evidence {uri} ({exc})"
        ) from None
    return {**stored, **tags}


def describe(name: str, version: str, text: str) -> None:
    """Set the description of version `version` of `name`: what the MLflow UI shows above its tags."""
    try:
        MlflowClient().update_model_version(name, str(version), description=text)
    except MlflowException as exc:
        raise RegistryError(
            f"cannot describe model {name!r} version {version}: {exc.message}"
        ) from None


def add_to_description(name: str, version: str, line: str) -> None:
    """Append `line` to the description of version `version` of `name` (its history of alias moves)."""
    try:
        old = MlflowClient().get_model_version(name, str(version)).description or ""
    except MlflowException:
        raise RegistryError(
            f"model {name!r} has no version {version}: list them in the MLflow UI"
        ) from None
    describe(name, version, f"{old.rstrip()}\n\n{line}" if old.strip() else line)


def _who() -> str:
    return settings.identity()


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _audit_key() -> str:
    """Return a tag key of the audit trail: the prefix and the time to the microsecond (keys sort in time order)."""
    return f"{AUDIT_PREFIX}{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S.%f}Z"


def version_tags(name: str, version: str) -> dict[str, str]:
    """Return the tags of version `version` of `name`; raise RegistryError when there is no such version."""
    try:
        return dict(MlflowClient().get_model_version(name, str(version)).tags or {})
    except MlflowException:
        raise RegistryError(
            f"model {name!r} has no version {version}: list them in the MLflow UI"
        ) from None


def promote_by_hand(
    name: str, version: str, reason: str, action: str = "promote"
) -> Version | None:
    """Make `version` the champion, recording who, when, why and the gate's verdict on both versions; return the replaced champion.

    `action` says which path moved it: gate (the pipeline), promote, approve or rollback (by hand).
    """
    if not reason or not reason.strip():
        raise RegistryError(
            "a reason is required: pass --reason 'why this version becomes champion'"
        )
    tags = version_tags(name, version)
    old = promote(name, str(version))
    stamp, who = _stamp(), _who()
    trained_by = tags.get("release.trained_by", "unknown")
    gate = f"{tags.get('gate.decision', 'none')}: {tags.get('gate.reasons', '')}".rstrip(": ")
    tag_version(
        name,
        str(version),
        {
            "release.action": action,
            "release.reason": reason,
            "release.by": who,
            "release.at": stamp,
            "release.replaced": old.version if old else "none",
            _audit_key(): json.dumps(
                {
                    "at": stamp,
                    "version": str(version),
                    "action": action,
                    "by": who,
                    "trained_by": trained_by,
                    "reason": reason,
                    "gate": gate,
                    "replaced": old.version if old else None,
                }
            ),
        },
    )
    if tags.get("release.status") == AWAITING:
        tag_version(name, str(version), {"release.status": APPROVED})
    # the description is what the MLflow UI shows first: who moved `champion`, when and why
    add_to_description(
        name,
        str(version),
        f"{stamp}: made champion by {who} ({action}; trained by {trained_by}): {reason}"
        + (f" (replaced v{old.version})" if old else ""),
    )
    if old is not None:
        tag_version(
            name,
            old.version,
            {
                "release.demoted_by": action,
                "release.demoted_reason": reason,
                "release.demoted_at": stamp,
            },
        )
        add_to_description(
            name,
            old.version,
            f"{stamp}: champion passed to v{version} by {who} ({action}): {reason}",
        )
    return old


def await_approval(name: str, version: str) -> None:
    """Mark `version`, which passed the gate, as waiting for an approver: tag release.status=awaiting-approval."""
    tag_version(name, str(version), {"release.status": AWAITING})


def rollback(name: str, reason: str) -> tuple[Version, Version]:
    """Give `champion` back to the version holding `previous` (the demoted one keeps `previous`); return (restored, demoted)."""
    back = version_by_alias(name, PREVIOUS)
    current = version_by_alias(name, CHAMPION)
    if back is None:
        raise RegistryError(
            f"model {name!r} has no version with alias {PREVIOUS!r}: nothing to roll back to"
        )
    if current is None:
        raise RegistryError(
            f"model {name!r} has no champion: use `lab2prod promote VERSION` instead"
        )
    promote_by_hand(name, back.version, reason, action="rollback")
    return back, current


def ensure_model(name: str) -> bool:
    """Create registered model `name` when it does not exist; return whether it was created."""
    client = MlflowClient()
    try:
        client.get_registered_model(name)
        return False
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    client.create_registered_model(name)
    return True


def aliases(name: str) -> dict[str, str]:
    """Return {alias: version} of registered model `name` (empty when the model is unknown)."""
    try:
        model = MlflowClient().get_registered_model(name)
    except MlflowException:
        return {}
    return {alias: str(v) for alias, v in (model.aliases or {}).items()}

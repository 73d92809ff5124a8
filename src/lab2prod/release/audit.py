"""The audit trail of a registered model: every change of `champion`, read back from the registry itself.

Each move of `champion` through lab2prod (the gate of a build, `lab2prod promote`, an approval,
`lab2prod rollback`) writes one tag `audit.champion.<time>` on the version it makes champion
(`registry.promote_by_hand`): version, action, who, who trained it, when, why and the gate's verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from lab2prod.errors import RegistryError
from lab2prod.release.registry import AUDIT_PREFIX


@dataclass(frozen=True)
class ChampionChange:
    """One change of champion: which version, how, by whom, trained by whom, when, why, and the gate's verdict."""

    at: str
    version: str
    action: str
    by: str
    trained_by: str
    reason: str
    gate: str
    replaced: str | None
    key: str = ""  # the tag's key: its time to the microsecond orders changes within one second

    def describe(self) -> str:
        """Return the change in one line, as `lab2prod roles audit` prints it."""
        replaced = f", replaced v{self.replaced}" if self.replaced else ""
        return (
            f"{self.at}  v{self.version}  {self.action} by {self.by} (trained by {self.trained_by}"
            f"{replaced})  why: {self.reason}  gate: {self.gate}"
        )


def changes_from_tags(tags: dict[str, str]) -> list[ChampionChange]:
    """Return the champion changes recorded in one version's tags (pure; a malformed tag is skipped)."""
    found = []
    for key in sorted(k for k in tags if k.startswith(AUDIT_PREFIX)):
        try:
            entry = json.loads(tags[key])
            found.append(
                ChampionChange(
                    at=str(entry["at"]),
                    version=str(entry["version"]),
                    action=str(entry["action"]),
                    by=str(entry["by"]),
                    trained_by=str(entry.get("trained_by") or "unknown"),
                    reason=str(entry.get("reason") or ""),
                    gate=str(entry.get("gate") or ""),
                    replaced=None if entry.get("replaced") is None else str(entry["replaced"]),
                    key=key,
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


def champion_history(name: str) -> list[ChampionChange]:
    """Return every recorded change of `champion` of registered model `name`, oldest first."""
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise RegistryError(f"cannot read the versions of model {name!r}: {exc.message}") from None
    changes = [c for v in versions for c in changes_from_tags(dict(v.tags or {}))]
    return sorted(changes, key=lambda c: c.key)

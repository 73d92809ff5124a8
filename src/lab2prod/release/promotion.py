"""Release a trained model: register it as `challenger`, check it loads, gate it against the champion, promote.

Both models are scored here on the same test frame with the same metric
code, so the comparison never mixes numbers computed on different data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlflow
import pandas as pd

from lab2prod import model_edge
from lab2prod.data.contract import Contract
from lab2prod.errors import RegistryError
from lab2prod.modeling.training import model_metrics
from lab2prod.release import gate, registry
from lab2prod.release.infra_check import InfraCheck, infra_check


@dataclass(frozen=True)
class Release:
    """What happened to one challenger: its version, the gate's decision, the infra check, the aliases after."""

    version: str
    decision: gate.GateDecision
    infra: InfraCheck
    champion_before: str | None
    champion_after: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, Any]:
        """Return the release as a JSON-ready dict (for products/register.json and the report)."""
        return {
            "version": self.version,
            "promoted": self.decision.promote,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "decision": self.decision.as_tags(),
            "reasons": list(self.decision.reasons),
            "challenger_metrics": self.decision.challenger_metrics,
            "champion_metrics": self.decision.champion_metrics,
            "infra": self.infra.as_tags(),
            "notes": list(self.notes),
        }


def release_challenger(
    model_uri: str,
    run_id: str | None,
    name: str,
    test: pd.DataFrame,
    contract: Contract,
    metric: str,
    floors: dict[str, float] | None = None,
    tolerance: float = 0.0,
    threshold: float = 0.5,
    tags: dict[str, str] | None = None,
    infra_rows: int = 1000,
) -> Release:
    """Register `model_uri` as the new `challenger` of `name` and promote it when the gate and the infra check pass."""
    version = registry.register(model_uri, name, tags=tags)
    registry.set_alias(name, registry.CHALLENGER, version.version)
    challenger_metrics = model_metrics(
        model_edge.load_sklearn_model(model_uri), test, contract, threshold
    )
    notes: list[str] = []
    champion = registry.version_by_alias(name, registry.CHAMPION)
    champion_metrics = None
    if champion is not None:
        try:
            model = model_edge.load_sklearn_model(
                model_edge.model_uri(name, version=champion.version)
            )
            champion_metrics = model_metrics(model, test, contract, threshold)
        except Exception as exc:  # noqa: BLE001 -- an obsolete champion must not block the release; it is recorded
            notes.append(
                f"champion v{champion.version} cannot score this test split "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); gate on floors only"
            )
    decision = gate.decide(
        challenger_metrics, champion_metrics, metric, floors=floors, tolerance=tolerance
    )
    # only a model the gate would promote pays for the fresh-process check (seconds of imports)
    infra = InfraCheck(
        ok=False,
        model_uri=model_edge.model_uri(name, version=version.version),
        error="not run: the gate rejected it",
    )
    if decision.promote:
        infra = infra_check(infra.model_uri, mlflow.get_tracking_uri(), rows=infra_rows)
        if not infra.ok:
            decision = decision.blocked(f"infrastructure check failed: {infra.error}")
    version_tags = {
        **decision.as_tags(),
        **infra.as_tags(),
        "gate.champion_version": champion.version if champion else "none",
    }
    if notes:
        version_tags["gate.notes"] = "; ".join(notes)
    # the description first (what the MLflow UI shows above the tags), then the few tags a person
    # reads; every number behind the decision goes to one JSON artifact of the model's run
    registry.describe(
        name, version.version, release_description(decision, champion.version if champion else None)
    )
    registry.tag_version(
        name,
        version.version,
        registry.store_evidence(name, version.version, run_id or version.run_id, version_tags),
    )
    if run_id:
        client = mlflow.MlflowClient()
        for key, value in version_tags.items():
            client.set_tag(run_id, key, value)
        client.set_tag(run_id, "registered.version", version.version)
    if decision.promote:
        registry.promote(name, version.version)
    after = registry.version_by_alias(name, registry.CHAMPION)
    return Release(
        version=version.version,
        decision=decision,
        infra=infra,
        champion_before=champion.version if champion else None,
        champion_after=after.version if after else None,
        notes=tuple(notes),
    )


MODEL_CARD = "reports/model_card.html"


def release_description(decision: gate.GateDecision, champion_version: str | None) -> str:
    """Return the gate's verdict in one sentence and where the model card is: the version's description."""
    if decision.promote:
        against = (
            f" against champion v{champion_version}'s {decision.champion:.4f}"
            if decision.champion is not None
            else " (there was no champion)"
        )
        verdict = (
            f"Promoted to champion by the release gate: {decision.metric} "
            f"{decision.challenger:.4f}{against}, every floor met, loaded and scored in a fresh process."
        )
    else:
        verdict = "Not promoted by the release gate: " + "; ".join(decision.reasons) + "."
    return (
        f"{verdict} Model card: {MODEL_CARD} of the build that registered it "
        "(also stored with the build's MLflow run, artifact reports/model_card.html)."
    )


def promote_checked(
    name: str, version: str, reason: str, infra_rows: int = 1000
) -> tuple[InfraCheck, registry.Version | None]:
    """Promote `version` by hand after it passes the infra check; return (check, replaced champion).

    Raises RegistryError, and moves no alias, when the check fails.
    """
    if not reason or not reason.strip():
        raise RegistryError(
            "a reason is required: pass --reason 'why this version becomes champion'"
        )
    check = infra_check(
        model_edge.model_uri(name, version=version), mlflow.get_tracking_uri(), rows=infra_rows
    )
    if not check.ok:
        raise RegistryError(
            f"model {name!r} version {version} failed the infrastructure check "
            f"({check.error}): it cannot become champion"
        )
    return check, registry.promote_by_hand(name, str(version), reason)


def rollback_checked(
    name: str, reason: str, infra_rows: int = 1000
) -> tuple[InfraCheck, registry.Version, registry.Version]:
    """Give `champion` back to `previous` after the infra check of that version; return (check, restored, demoted)."""
    back = registry.version_by_alias(name, registry.PREVIOUS)
    if back is None:
        raise RegistryError(
            f"model {name!r} has no version with alias 'previous': nothing to roll back to"
        )
    check = infra_check(
        model_edge.model_uri(name, version=back.version), mlflow.get_tracking_uri(), rows=infra_rows
    )
    if not check.ok:
        raise RegistryError(
            f"model {name!r} version {back.version} failed the infrastructure check "
            f"({check.error}): rollback refused"
        )
    restored, demoted = registry.rollback(name, reason)
    return check, restored, demoted

"""Release a trained model: register it as `challenger`, check it loads, gate it against the champion, promote.

Both models are scored here on the same test frame with the same metric
code, so the comparison never mixes numbers computed on different data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from lab2prod import model_edge, settings
from lab2prod.data.contract import Contract
from lab2prod.errors import RegistryError
from lab2prod.modeling.business import BusinessValue
from lab2prod.modeling.features import target_vector
from lab2prod.modeling.metrics import trivial_metrics
from lab2prod.modeling.training import model_metrics
from lab2prod.release import gate, registry, roles
from lab2prod.release.infra_check import InfraCheck, infra_check, start_infra_check


@dataclass(frozen=True)
class Release:
    """What happened to one challenger: its version, the gate's decision, the infra check, the aliases after."""

    version: str
    decision: gate.GateDecision
    infra: InfraCheck
    champion_before: str | None
    champion_after: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    awaiting_approval: bool = (
        False  # passed the gate; an approver's `lab2prod promote` makes it champion
    )
    trained_by: str = ""

    def summary(self) -> dict[str, Any]:
        """Return the release as a JSON-ready dict (for products/register.json and the report)."""
        return {
            "version": self.version,
            "promoted": self.decision.promote and not self.awaiting_approval,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "decision": self.decision.as_tags(),
            "reasons": list(self.decision.reasons),
            "challenger_metrics": self.decision.challenger_metrics,
            "champion_metrics": self.decision.champion_metrics,
            "infra": self.infra.as_tags(),
            "notes": list(self.notes),
            "awaiting_approval": self.awaiting_approval,
            "trained_by": self.trained_by,
        }


def trivial_baseline(
    test: pd.DataFrame,
    contract: Contract,
    threshold: float = 0.5,
    train: pd.DataFrame | None = None,
) -> dict:
    """Return the metrics on `test` of the trivial model fitted on `train`: the gate's floor.

    The trivial model predicts `train`'s mean, or its class shares; `train` None: the test rows'
    own.
    """
    return trivial_metrics(
        target_vector(test, contract),
        contract.task,
        classes=len(contract.labels or ()),
        threshold=threshold,
        fitted_on=None if train is None else target_vector(train, contract),
    )


@dataclass(frozen=True)
class Challenger:
    """A logged model up for release: its URI, its run, the threshold it decides at, its version's tags."""

    model_uri: str
    run_id: str | None = None
    threshold: float = 0.5
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GateRules:
    """How a challenger is judged: the metric against the champion, the floors and tolerance, approval, value.

    With `approval_required` (env.yaml `release: {approval: required}`) a challenger that passes
    waits with tag release.status=awaiting-approval instead: an approver who did not train it
    promotes it. With `business` values both models are also valued per 1,000 test cases, each at
    its own threshold, so `metric="value"` and floors on `value` compare what each model would earn.
    `infra_rows`: rows of the fresh-process infrastructure check.
    """

    metric: str
    floors: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.0
    approval_required: bool = False
    business: BusinessValue | None = None
    infra_rows: int = 1000


def release_challenger(
    challenger: Challenger,
    name: str,
    test: pd.DataFrame,
    contract: Contract,
    rules: GateRules,
    train: pd.DataFrame | None = None,
    checked: InfraCheck | None = None,
) -> Release:
    """Register the challenger's model as the new `challenger` of `name` and promote it when the gate and the infra check pass.

    The gate's floor is the trivial model fitted on `train` (None: on the test rows) measured on `test`.
    The champion decides at its own threshold (its run's `decision_threshold`), the challenger at
    `challenger.threshold`; `rules` say how the two are compared. `checked` is the fresh-process
    check of the challenger's model already run (the training pipeline's check step, beside
    evaluate: the version is registered from that model); None, or a check of another model, and
    the check of the new version runs here, beside the gate's measures.
    """
    model_uri, run_id, threshold = challenger.model_uri, challenger.run_id, challenger.threshold
    tags = challenger.tags
    metric, floors, tolerance = rules.metric, rules.floors, rules.tolerance
    approval_required, business = rules.approval_required, rules.business
    infra_rows = rules.infra_rows
    trained_by = trainer(run_id)
    version = registry.register(model_uri, name, tags=tags)
    if checked is not None and checked.model_uri != model_uri:
        checked = None  # the answer is about another model: it says nothing of this one
    # without an answer, the fresh-process check of the new version starts now: its seconds of
    # imports and loading overlap the gate's measures below
    with (
        contextlib.nullcontext()
        if checked is not None
        else start_infra_check(
            model_edge.model_uri(name, version=version.version),
            mlflow.get_tracking_uri(),
            rows=infra_rows,
        )
    ) as started:
        registry.set_alias(name, registry.CHALLENGER, version.version)
        challenger_metrics = model_metrics(
            model_edge.load_sklearn_model(model_uri), test, contract, threshold, business
        )
        notes: list[str] = []
        champion = registry.version_by_alias(name, registry.CHAMPION)
        champion_metrics = None
        if champion is not None:
            try:
                model = model_edge.load_sklearn_model(
                    model_edge.model_uri(name, version=champion.version)
                )
                champion_metrics = model_metrics(
                    model,
                    test,
                    contract,
                    _or(model_edge.run_threshold(champion.run_id), threshold),
                    business,
                )
            except Exception as exc:  # noqa: BLE001 -- an obsolete champion must not block the release; it is recorded
                notes.append(
                    f"champion v{champion.version} cannot score this test split "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); gate on floors only"
                )
        decision = gate.decide(
            challenger_metrics,
            champion_metrics,
            metric,
            floors=floors,
            tolerance=tolerance,
            baseline=trivial_baseline(test, contract, threshold, train),
        )
        # only a model the gate would promote waits for a running check's answer; the block's end
        # stops it
        if checked is not None:
            infra = checked
        elif decision.promote:
            infra = started.result()
        else:
            infra = InfraCheck(
                ok=False, model_uri=started.model_uri, error="not run: the gate rejected it"
            )
        if decision.promote and not infra.ok:
            decision = decision.blocked(f"infrastructure check failed: {infra.error}")
    version_tags = {
        **decision.as_tags(),
        **infra.as_tags(),
        "gate.champion_version": champion.version if champion else "none",
        "release.trained_by": trained_by,
        "release.approval": "required" if approval_required else "none",
    }
    if notes:
        version_tags["gate.notes"] = "; ".join(notes)
    awaiting = decision.promote and approval_required
    # the description first (what the MLflow UI shows above the tags), then the few tags a person
    # reads; every number behind the decision goes to one JSON artifact of the model's run
    registry.describe(
        name,
        version.version,
        release_description(
            decision, champion.version if champion else None, business, awaiting=awaiting
        ),
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
    if awaiting:
        registry.await_approval(name, version.version)
    elif decision.promote:
        registry.promote_by_hand(name, version.version, gate_reason(decision), action="gate")
    after = registry.version_by_alias(name, registry.CHAMPION)
    return Release(
        version=version.version,
        decision=decision,
        infra=infra,
        champion_before=champion.version if champion else None,
        champion_after=after.version if after else None,
        notes=tuple(notes),
        awaiting_approval=awaiting,
        trained_by=trained_by,
    )


def trainer(run_id: str | None) -> str:
    """Return who trained the run: its tag lab2prod.trained_by (the identity that logged it), else who releases it now."""
    if run_id:
        try:
            tags = mlflow.MlflowClient().get_run(run_id).data.tags
        except MlflowException:
            tags = {}
        if tags.get(TRAINED_BY):
            return tags[TRAINED_BY]
    return settings.identity()


TRAINED_BY = "lab2prod.trained_by"  # the run tag model_logging.log_training_run writes


def gate_reason(decision: gate.GateDecision) -> str:
    """Return why the gate promoted: the recorded reason of a champion the pipeline made."""
    return "passed the release gate: " + "; ".join(decision.reasons)


MODEL_CARD = "reports/model_card.html"


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def release_description(
    decision: gate.GateDecision,
    champion_version: str | None,
    business: BusinessValue | None = None,
    awaiting: bool = False,
) -> str:
    """Return the gate's verdict in one sentence and where the model card is: the version's description.

    With `business` values, a sentence in the business's unit follows: what the model earns per
    1,000 cases, and against the champion when there is one.
    """
    if awaiting:
        verdict = (
            f"Passed the release gate ({decision.metric} {decision.challenger:.4f}, every floor met, "
            "loaded and scored in a fresh process) and awaits approval (tag release.status): "
            "`lab2prod promote VERSION --reason ...` by an approver who did not train it makes it champion."
        )
    elif decision.promote:
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
        f"{verdict}{value_statement(decision, champion_version, business)} Model card: {MODEL_CARD} "
        "of the build that registered it (also stored with the build's MLflow run, artifact "
        "reports/model_card.html)."
    )


def check_approver(name: str, version: str, who: str, tags: dict[str, str]) -> None:
    """Raise RegistryError (one line) when `who` may not approve `version`: they trained it, or lack the approver role."""
    if tags.get("release.approval") != "required":
        return
    if tags.get("release.trained_by") == who:
        raise RegistryError(
            f"{who} trained {name} v{version} and approval is required: another person "
            "with the approver role promotes it"
        )
    check_role(who, roles.APPROVER, f"approve {name} v{version}")


def check_role(who: str, role: str, what: str) -> None:
    """Raise RegistryError when the team server says `who` lacks `role` (nothing is checked without a team server)."""
    held = roles.roles_of(mlflow.get_tracking_uri(), who)
    if held is not None and role not in held:
        raise RegistryError(
            f"{who} may not {what}: it needs the {role} role (roles.yaml); {who} has "
            + (", ".join(sorted(held)) or "none")
        )


def value_statement(
    decision: gate.GateDecision, champion_version: str | None, business: BusinessValue | None
) -> str:
    """Return ' <sentence>' saying what challenger and champion are worth per 1,000 test cases, or '' without values."""
    mine = decision.challenger_metrics.get("value")
    if business is None or mine is None:
        return ""
    text = f" On the test split this model is worth {business.amount(mine)} per 1,000 cases"
    theirs = (decision.champion_metrics or {}).get("value")
    if theirs is not None:
        gap = mine - theirs
        text += (
            f", {business.amount(abs(gap))} {'more' if gap > 0 else 'less'} than champion "
            f"v{champion_version} ({business.amount(theirs)})"
        )
    return text + "."


def promote_checked(
    name: str, version: str, reason: str, infra_rows: int = 1000
) -> tuple[InfraCheck, registry.Version | None]:
    """Promote `version` by hand after it passes the infra check; return (check, replaced champion).

    When the version was released with approval required, the promoting user must hold the
    approver role and must not be the one who trained it. Raises RegistryError, and moves no
    alias, when a check fails.
    """
    if not reason or not reason.strip():
        raise RegistryError(
            "a reason is required: pass --reason 'why this version becomes champion'"
        )
    tags = registry.version_tags(name, version)  # no such version: one line, before a fresh process
    check_approver(name, str(version), settings.identity(), tags)
    check = infra_check(
        model_edge.model_uri(name, version=version), mlflow.get_tracking_uri(), rows=infra_rows
    )
    if not check.ok:
        raise RegistryError(
            f"model {name!r} version {version} failed the infrastructure check "
            f"({check.error}): it cannot become champion"
        )
    action = "approve" if tags.get("release.approval") == "required" else "promote"
    return check, registry.promote_by_hand(name, str(version), reason, action=action)


def rollback_checked(
    name: str, reason: str, infra_rows: int = 1000
) -> tuple[InfraCheck, registry.Version, registry.Version]:
    """Give `champion` back to `previous` after the infra check of that version; return (check, restored, demoted).

    On the team server only a user with the approver role rolls back.
    """
    back = registry.version_by_alias(name, registry.PREVIOUS)
    if back is None:
        raise RegistryError(
            f"model {name!r} has no version with alias 'previous': nothing to roll back to"
        )
    check_role(settings.identity(), roles.APPROVER, f"roll back {name}")
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

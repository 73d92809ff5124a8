"""The release path against a real SQLite registry: challenger, gate on the same test split, infra check, aliases."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from lab2prod.errors import RegistryError
from lab2prod.release import promotion, registry
from lab2prod.release.audit import champion_history
from lab2prod.release.infra_check import InfraCheck
from lab2prod.release.promotion import (
    Challenger,
    GateRules,
    promote_checked,
    release_challenger,
)


def _release(name, uri, run_id, toy_data, contract):
    return release_challenger(
        Challenger(uri, run_id),
        name,
        toy_data["test"],
        contract,
        GateRules(metric="roc_auc", floors={"roc_auc": 0.6}, tolerance=0.0, infra_rows=200),
    )


def _tags(name, version):
    return mlflow.MlflowClient().get_model_version(name, version).tags


@pytest.mark.integration  # fresh-process infrastructure checks, each loading a model: seconds apiece
@pytest.mark.readiness("infra 4")
def test_worse_challenger_trained_on_shuffled_labels_is_not_promoted(
    store, toy_data, release_contract, fit_and_log
):
    name = "worse"
    good_uri, good_run = fit_and_log(toy_data["train"])
    first = _release(name, good_uri, good_run, toy_data, release_contract)
    # no champion yet: the floors and the fresh-process infra check decide
    assert first.decision.promote and first.infra.ok and first.champion_before is None
    assert first.infra.load_seconds > 0 and first.infra.batch_rows == 200
    assert registry.aliases(name) == {"champion": "1", "challenger": "1"}

    bad_uri, bad_run = fit_and_log(toy_data["train"], shuffle_labels=True)
    worse = _release(name, bad_uri, bad_run, toy_data, release_contract)
    assert not worse.decision.promote
    # the champion was loaded from the registry and scored on the same test rows
    assert worse.decision.champion_metrics["roc_auc"] == pytest.approx(
        first.decision.challenger_metrics["roc_auc"]
    )
    assert worse.decision.champion_metrics["roc_auc"] > worse.decision.challenger_metrics["roc_auc"]
    assert registry.aliases(name) == {"champion": "1", "challenger": "2"}
    tags = _tags(name, "2")
    assert tags["gate.decision"] == "reject" and tags["gate.champion_version"] == "1"
    assert "misses floor" in tags["gate.reasons"] and "not better" in tags["gate.reasons"]
    # the version keeps the tags a person reads; every number behind them is in one JSON artifact
    assert set(tags) - {"run_id", "data.sha256", "git_commit"} <= {
        *registry.READABLE,
        registry.EVIDENCE,
    }, sorted(tags)
    assert "gate.champion.roc_auc" not in tags and len(tags) <= 12, sorted(tags)
    assert tags[registry.EVIDENCE] == f"runs:/{bad_run}/release/{name}-v2.json"
    full = registry.evidence(name, "2")
    assert float(full["gate.champion.roc_auc"]) > float(full["gate.challenger.roc_auc"])
    assert full["gate.floor.roc_auc"] == "0.6" and full["gate.decision"] == "reject"
    assert mlflow.MlflowClient().get_run(bad_run).data.tags["gate.decision"] == "reject"


@pytest.mark.integration  # fresh-process infrastructure checks, each loading a model: seconds apiece
@pytest.mark.readiness("infra 7")
def test_better_challenger_is_promoted_and_rollback_restores_the_previous_champion(
    store, toy_data, release_contract, fit_and_log, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    name = "better"
    weak_uri, weak_run = fit_and_log(toy_data["train"], shuffle_labels=True)
    weak = _release(name, weak_uri, weak_run, toy_data, release_contract)
    assert not weak.decision.promote and registry.version_by_alias(name, "champion") is None
    # an operator makes the weak model champion by hand, with a reason
    assert registry.promote_by_hand(name, "1", reason="bootstrap the registry") is None
    assert _tags(name, "1")["release.reason"] == "bootstrap the registry"

    good_uri, good_run = fit_and_log(toy_data["train"])
    better = _release(name, good_uri, good_run, toy_data, release_contract)
    assert (
        better.decision.promote and better.champion_before == "1" and better.champion_after == "2"
    )
    assert registry.aliases(name) == {"champion": "2", "challenger": "2", "previous": "1"}
    assert _tags(name, "2")["gate.decision"] == "promote" and _tags(name, "2")["infra.ok"] == "true"
    # a user alone: who released is who trained (the OS user), recorded in the audit trail
    by_hand, by_gate = champion_history(name)
    assert (by_hand.version, by_hand.action, by_gate.version, by_gate.action) == (
        "1",
        "promote",
        "2",
        "gate",
    )
    assert by_gate.by == by_gate.trained_by and by_gate.reason.startswith("passed the release gate")

    restored, demoted = registry.rollback(name, reason="complaints after release")
    assert (restored.version, demoted.version) == ("1", "2")
    assert registry.aliases(name)["champion"] == "1"
    assert _tags(name, "1")["release.action"] == "rollback"
    assert _tags(name, "1")["release.reason"] == "complaints after release"
    assert _tags(name, "2")["release.demoted_reason"] == "complaints after release"


def test_promote_and_rollback_refuse_what_cannot_be_done(
    store, toy_data, release_contract, fit_and_log
):
    name = "refusals"
    with pytest.raises(RegistryError, match="no version with alias 'previous'"):
        registry.rollback(name, reason="x")
    uri, _ = fit_and_log(toy_data["train"])
    registry.register(uri, name)
    with pytest.raises(RegistryError, match="a reason is required"):
        registry.promote_by_hand(name, "1", reason=" ")
    with pytest.raises(RegistryError, match="has no version 7"):
        registry.promote_by_hand(name, "7", reason="typo")


def test_promoting_a_version_that_does_not_exist_fails_at_once_in_one_line(store):
    # no fresh process is started for a version the registry does not have
    with pytest.raises(RegistryError, match=r"^model 'no-such-model' has no version 4: list them"):
        promote_checked("no-such-model", "4", reason="typo")
    assert registry.aliases("no-such-model") == {}


@pytest.mark.integration  # fresh-process infrastructure checks, each loading a model: seconds apiece
@pytest.mark.readiness("infra 6")
def test_a_model_failing_the_infra_check_is_never_promoted(store, monkeypatch):
    # the registry answers for the version but the fresh process cannot load it: one subprocess,
    # so this test costs the imports of mlflow once
    monkeypatch.setattr(registry, "version_tags", lambda name, version: {})
    with pytest.raises(
        RegistryError, match=r"version 1 failed the infrastructure check \(exit 1: .*not found"
    ):
        promote_checked("no-such-model", "1", reason="try")
    assert registry.aliases("no-such-model") == {}


def _no_fresh_process(*args, **kwargs):
    raise AssertionError("a check of the challenger's model was given: no fresh process starts")


def _release_checked(name, uri, run_id, toy_data, contract, checked):
    """Release `uri` as `name` through the gate (ROC AUC, a floor of 0.6) with `checked` as the check already run."""
    return release_challenger(
        Challenger(uri, run_id),
        name,
        toy_data["test"],
        contract,
        GateRules(metric="roc_auc", floors={"roc_auc": 0.6}, infra_rows=200),
        checked=checked,
    )


def test_a_failed_check_of_the_challengers_model_keeps_it_from_champion(
    store, toy_data, release_contract, fit_and_log, monkeypatch
):
    # the pipeline's check step ran beside evaluate and failed: the gate passes, the release does not
    monkeypatch.setattr(promotion, "start_infra_check", _no_fresh_process)
    name = "checked-failed"
    uri, run_id = fit_and_log(toy_data["train"])
    failed = InfraCheck(ok=False, model_uri=uri, error="exit 1: cannot load the skops file")
    release = _release_checked(name, uri, run_id, toy_data, release_contract, failed)
    assert not release.decision.promote and release.infra == failed
    assert release.decision.reasons[-1] == (
        "infrastructure check failed: exit 1: cannot load the skops file"
    )
    assert registry.aliases(name) == {"challenger": "1"}
    assert _tags(name, "1")["infra.ok"] == "false"


def test_a_passed_check_of_the_challengers_model_is_the_releases_check(
    store, toy_data, release_contract, fit_and_log, monkeypatch
):
    monkeypatch.setattr(promotion, "start_infra_check", _no_fresh_process)
    name = "checked-passed"
    uri, run_id = fit_and_log(toy_data["train"])
    passed = InfraCheck(ok=True, model_uri=uri, load_seconds=1.25, batch_rows=200)
    release = _release_checked(name, uri, run_id, toy_data, release_contract, passed)
    assert release.decision.promote and release.infra == passed
    assert registry.aliases(name) == {"champion": "1", "challenger": "1"}
    assert _tags(name, "1")["infra.load_seconds"] == "1.2500"


@pytest.mark.integration  # a fresh-process infrastructure check, loading a model: seconds
def test_a_check_of_another_model_is_not_taken_and_the_version_is_checked_here(
    store, toy_data, release_contract, fit_and_log
):
    name = "checked-other"
    uri, run_id = fit_and_log(toy_data["train"])
    # a check.json left by a build of another model says nothing of this one
    other = InfraCheck(ok=True, model_uri="models:/m-another", load_seconds=9.0)
    release = _release_checked(name, uri, run_id, toy_data, release_contract, other)
    assert release.decision.promote and release.infra.ok
    assert release.infra.model_uri == f"models:/{name}/1" and release.infra.batch_rows == 200


@pytest.mark.integration  # fresh-process infrastructure checks, each loading a model: seconds apiece
def test_with_approval_required_a_passing_challenger_waits_for_another_person(
    store, toy_data, release_contract, fit_and_log, monkeypatch
):
    name = "four-eyes"
    monkeypatch.setenv(
        "MLFLOW_TRACKING_USERNAME", "ada"
    )  # who trains: the run's lab2prod.trained_by
    uri, run_id = fit_and_log(toy_data["train"])
    waiting = release_challenger(
        Challenger(uri, run_id),
        name,
        toy_data["test"],
        release_contract,
        GateRules(
            metric="roc_auc", floors={"roc_auc": 0.6}, infra_rows=200, approval_required=True
        ),
    )
    assert (
        waiting.decision.promote and waiting.awaiting_approval and not waiting.summary()["promoted"]
    )
    assert registry.aliases(name) == {"challenger": "1"}
    assert _tags(name, "1")["release.trained_by"] == "ada"
    assert _tags(name, "1")["release.status"] == "awaiting-approval"
    assert "awaits approval" in mlflow.MlflowClient().get_model_version(name, "1").description
    # the trainer's own promote is refused before anything moves
    with pytest.raises(RegistryError, match="ada trained four-eyes v1 and approval is required"):
        promote_checked(name, "1", reason="mine")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "april")  # no team server: no role to check
    promote_checked(name, "1", reason="read the model card", infra_rows=200)
    assert registry.aliases(name) == {"challenger": "1", "champion": "1"}
    assert (
        _tags(name, "1")["release.by"] == "april"
        and _tags(name, "1")["release.action"] == "approve"
    )
    assert _tags(name, "1")["release.status"] == "approved"
    [change] = champion_history(name)
    assert (change.version, change.action, change.by, change.trained_by) == (
        "1",
        "approve",
        "april",
        "ada",
    )
    assert change.reason == "read the model card" and change.gate.startswith("promote")


@pytest.mark.integration  # four models registered and loaded from the store: seconds apiece
def test_a_challenger_better_in_roc_auc_but_worse_in_value_is_not_promoted_under_gate_metric_value(
    store, toy_data, release_contract, fit_and_log, credit_business
):
    name = "valued"
    # the champion never saw x2 (noise in its place): a weaker ranking, used at its run's threshold 0.5
    train = toy_data["train"]
    blind = train.assign(x2=np.random.default_rng(5).normal(size=len(train)))
    weak_uri, _ = fit_and_log(blind)
    registry.register(weak_uri, name)
    registry.promote_by_hand(name, "1", reason="the business's current rule")
    good_uri, good_run = fit_and_log(toy_data["train"])
    # a good ranking used with a careless threshold: nearly every case accepted, defaults and all
    release = release_challenger(
        Challenger(good_uri, good_run, threshold=0.95),
        name,
        toy_data["test"],
        release_contract,
        GateRules(metric="value", business=credit_business, infra_rows=200),
    )
    challenger, champion = release.decision.challenger_metrics, release.decision.champion_metrics
    assert challenger["roc_auc"] > champion["roc_auc"] + 0.03
    assert challenger["value"] < champion["value"]
    assert not release.decision.promote and registry.aliases(name)["champion"] == "1"
    description = mlflow.MlflowClient().get_model_version(name, release.version).description
    assert description.startswith("Not promoted by the release gate: value ")
    assert "less than champion v1" in description and "EUR" in description
    assert _tags(name, release.version)["gate.metric"] == "value"

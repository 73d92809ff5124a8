"""The release subcommands: help texts, one-line errors with exit code 2 when nothing can be done, and a
promotion then a rollback through the command line against a real SQLite registry."""

import pytest

from lab2prod.cli import main


@pytest.mark.parametrize(
    "command", ["promote", "rollback", "repro-check", "roles apply", "roles audit"]
)
def test_every_release_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and f"usage: lab2prod {command}" in out


def test_roles_apply_needs_the_team_server_and_audit_reads_a_local_store(
    store, capsys, monkeypatch
):
    # the store fixture points MLFLOW_TRACKING_URI at SQLite: a user alone has no roles to apply
    (store / "roles.yaml").write_text(
        "roles: {release: {grants: {experiment: EDIT}}, approver: {}}\n"
    )
    assert main(["roles", "apply", "--root", str(store)]) == 2
    assert (
        "roles live on the team server: export MLFLOW_TRACKING_URI=http://"
        in capsys.readouterr().err
    )
    assert main(["roles", "audit", "--model", "nothing-here", "--root", str(store)]) == 0
    assert capsys.readouterr().out.strip() == "nothing-here: no change of champion recorded"


def test_rollback_without_previous_and_promote_without_reason_fail_cleanly(store, capsys):
    assert (
        main(
            ["rollback", "--reason", "bad release", "--model", "nothing-here", "--root", str(store)]
        )
        == 2
    )
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "error: model 'nothing-here' has no version with alias 'previous': nothing to roll back to"
    )
    assert captured.out == ""  # no check announced that never starts
    with pytest.raises(SystemExit) as exc:
        main(["promote", "3", "--model", "m", "--root", str(store)])  # --reason is required
    assert exc.value.code == 2


def test_promote_refuses_a_version_that_is_no_number_or_does_not_exist_and_leaves_the_champion_be(
    store, fit_and_log, toy_data, capsys
):
    from mlflow import MlflowClient

    from lab2prod.release import registry

    name = "cli-promote-refusals"
    where = ["--model", name, "--root", str(store)]
    with pytest.raises(SystemExit) as exc:
        main(["promote", "v2", "--reason", "typo", *where])
    assert exc.value.code == 2
    assert "expected a version number such as 3, got 'v2'" in capsys.readouterr().err
    uri, _ = fit_and_log(toy_data["train"])
    registry.register(uri, name)
    registry.promote(name, "1")
    capsys.readouterr()  # MLflow's own lines of the registration
    # no such version: one line at once, no fresh process started
    assert main(["promote", "9", "--reason", "typo", *where]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"error: model '{name}' has no version 9: list them in the MLflow UI"
    )
    assert "infrastructure check" not in captured.out
    # the champion already: nothing moves and nothing is recorded
    assert main(["promote", "1", "--reason", "again", *where]) == 0
    assert capsys.readouterr().out.strip() == f"{name} v1 is already champion: nothing changed"
    assert registry.aliases(name) == {"champion": "1"}
    assert "release.reason" not in MlflowClient().get_model_version(name, "1").tags


@pytest.mark.integration  # two fresh-process infrastructure checks, each loading a model: tens of seconds
@pytest.mark.readiness("infra 7")
def test_promote_a_better_version_then_rollback_through_the_command_line(
    store, toy_data, release_contract, fit_and_log, capsys
):
    from mlflow import MlflowClient

    from lab2prod import model_edge
    from lab2prod.modeling.training import model_metrics
    from lab2prod.release import registry

    name = "cli-release"
    weak_uri, _ = fit_and_log(toy_data["train"], shuffle_labels=True)
    good_uri, _ = fit_and_log(toy_data["train"])
    registry.register(weak_uri, name)
    registry.register(good_uri, name)
    registry.promote(name, "1")  # the weak model is today's champion
    scores = [
        model_metrics(
            model_edge.load_sklearn_model(f"models:/{name}/{v}"),
            toy_data["test"],
            release_contract,
            0.5,
        )["roc_auc"]
        for v in ("1", "2")
    ]
    assert scores[1] > scores[0] + 0.1, scores  # version 2 is the better challenger

    assert (
        main(
            [
                "promote",
                "2",
                "--reason",
                "better on the holdout",
                "--model",
                name,
                "--root",
                str(store),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{name} v2 is champion; v1 keeps alias 'previous'" in out
    assert registry.aliases(name) == {"champion": "2", "previous": "1"}
    tags = MlflowClient().get_model_version(name, "2").tags
    assert (tags["release.action"], tags["release.reason"], tags["release.replaced"]) == (
        "promote",
        "better on the holdout",
        "1",
    )
    assert (
        MlflowClient().get_model_version(name, "1").tags["release.demoted_reason"]
        == "better on the holdout"
    )

    assert (
        main(
            [
                "rollback",
                "--reason",
                "complaints after release",
                "--model",
                name,
                "--root",
                str(store),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"infrastructure check of {name} v1 (previous) in a fresh process ..." in out
    assert f"{name} v1 is champion again; v2 now holds alias 'previous'" in out
    assert registry.aliases(name) == {"champion": "1", "previous": "2"}
    tags = MlflowClient().get_model_version(name, "1").tags
    assert (tags["release.action"], tags["release.reason"]) == (
        "rollback",
        "complaints after release",
    )
    assert MlflowClient().get_model_version_by_alias(name, "champion").source == weak_uri

"""The release subcommands: help texts, and one-line errors with exit code 2 when nothing can be done."""

import pytest

from lab2prod.cli import main


@pytest.mark.parametrize("command", ["promote", "rollback", "repro-check"])
def test_every_release_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and f"usage: lab2prod {command}" in out


def test_rollback_without_previous_and_promote_without_reason_fail_cleanly(store, capsys):
    assert main(["rollback", "--reason", "bad release", "--model", "nothing-here", "--root", str(store)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: model 'nothing-here' has no version with alias 'previous': nothing to roll back to")
    with pytest.raises(SystemExit) as exc:
        main(["promote", "3", "--model", "m", "--root", str(store)])  # --reason is required
    assert exc.value.code == 2

import argparse
import json
import subprocess
import sys

import pytest

from lab2prod.cli import build_parser, main


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        try:
            main([name, "--help"])
        except SystemExit as exc:
            assert exc.code == 0
        assert "usage: lab2prod" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_user_error_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "semi.csv"
    bad.write_text("a;b\n1;2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lab2prod.cli", "validate", "--input", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert "set the delimiter to ';'" in proc.stderr


def test_console_command_flushes_piped_output_and_keeps_the_exit_code(tmp_path):
    # `lab2prod` ends with os._exit (no module teardown): what it printed must still arrive through a pipe
    good = tmp_path / "ok.csv"
    good.write_text("size,kind\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(40)))
    command = [
        sys.executable,
        "-c",
        "import sys; from lab2prod.cli import run; sys.argv[0] = 'lab2prod'; run()",
    ]
    proc = subprocess.run(
        command + ["contract", "infer", "--input", str(good), "--target", "kind"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)  # the whole document arrived: it parses
    assert printed["target"]["name"] == "kind" and printed["target"]["labels"] == ["a", "b"]
    bad = subprocess.run(
        command + ["validate", "--input", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


def _option_defaults(parser, prefix=()):
    """Yield (command, option, default) of every option of every subcommand that has a default."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _option_defaults(sub, (*prefix, name))
        elif action.default not in (None, False, argparse.SUPPRESS) and action.dest != "help":
            yield " ".join(prefix), action.option_strings[0], action.default


def test_the_command_line_holds_no_default_of_the_package():
    # each default lives once, in a dataclass, a package function or an env file: an option left
    # unset is None and the package decides. What remains are choices of the command line itself.
    assert sorted(_option_defaults(build_parser())) == [
        ("export", "--output-dir", "exports"),  # where `make export` and CI look for the scripts
        ("score", "--engine", "local"),  # which engine the command calls
    ]


def test_an_unset_option_leaves_the_package_default_and_a_bad_one_is_one_line(tmp_path, capsys):
    from lab2prod.cli.options import with_project_defaults
    from lab2prod.errors import ConfigError

    (tmp_path / "env.yaml").write_text("model_name: my-model\nlake: my-lake\n")
    args = build_parser().parse_args(["retrain", "--root", str(tmp_path)])
    with pytest.raises(
        ConfigError, match=r"env.yaml: set 'contract' \(or pass it on the command line\)"
    ):
        with_project_defaults(args)  # no demo contract stands in for the project's
    (tmp_path / "env.yaml").write_text("model_name: my-model\nlake: my-lake\ncontract: c.yaml\n")
    args = build_parser().parse_args(["retrain", "--root", str(tmp_path)])
    with_project_defaults(args)
    assert (args.model_name, args.lake, args.reports) == ("my-model", "my-lake", "reports")
    assert args.contract == str(tmp_path / "c.yaml")
    assert args.window_rows is None and args.gate_tolerance is None  # RetrainConfig decides
    assert main(["repro-check", "--root", str(tmp_path), "--set", "seed"]) == 2
    assert "error: --set 'seed': expected KEY=VALUE" in capsys.readouterr().err


def test_each_group_adds_its_commands_and_those_on_the_tracking_server_check_it_first(
    monkeypatch, capsys
):
    from lab2prod import cli
    from lab2prod.errors import ConfigError

    commands = list(build_parser()._subparsers._group_actions[0].choices)
    groups = [
        ["validate", "contract"],
        ["monitor", "retrain", "simulate"],
        ["score", "export"],
        ["promote", "rollback", "roles", "readiness", "repro-check"],
    ]
    assert len(cli.COMMAND_GROUPS) >= len(groups)
    for names in groups:  # each group's commands together, in its order
        start = commands.index(names[0])
        assert commands[start : start + len(names)] == names

    def unreachable() -> None:
        raise ConfigError("tracking server http://127.0.0.1:9 does not answer")

    monkeypatch.setattr(cli, "_check_tracking_server", unreachable)
    assert main(["promote", "1", "--reason", "test"]) == 2
    assert "does not answer" in capsys.readouterr().err
    parsed = build_parser().parse_args(["validate", "--input", "x.csv"])
    assert not getattr(parsed, "tracking_server", False)  # reading a file needs no server
    for argv in (["score", "--input", "a", "--output", "b"], ["roles", "audit"]):
        assert build_parser().parse_args(argv).tracking_server


def test_the_shared_shapes_add_a_command_a_group_and_their_options(capsys):
    from lab2prod.cli.options import (
        add_command,
        add_group,
        input_option,
        registered_model_option,
    )

    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers(dest="command")
    p = add_command(
        sub,
        "run",
        lambda args: 0,
        help="h",
        description="one\n  two",
        as_written=True,
        tracking_server=True,
    )
    input_option(p, "the file")
    registered_model_option(p)
    actions = add_group(sub, "things", help="h", description="d")
    add_command(actions, "list", lambda args: 3, help="h")

    args = parser.parse_args(["run", "--input", "a.csv", "--model", "m"])
    assert args.tracking_server and args.func(args) == 0 and args.model == "m"
    listed = parser.parse_args(["things", "list"])
    assert listed.things_command == "list" and listed.func(listed) == 3
    assert not hasattr(listed, "tracking_server")
    p.print_help()
    assert "one\n  two" in capsys.readouterr().out  # as written
    with pytest.raises(SystemExit, match="2"):
        parser.parse_args(["run"])
    assert "the following arguments are required: --input" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):
        parser.parse_args(["things"])
    assert "the following arguments are required: ACTION" in capsys.readouterr().err

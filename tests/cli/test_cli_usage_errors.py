"""The console entry point (``layer_fusion.cli.main``) reports a command line it cannot parse
in one line on stderr, naming the command and the option or argument, with exit code 2;
help still works."""
import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def layer_fusion(*args):
    return subprocess.run([sys.executable, "-m", "layer_fusion.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=300)


@pytest.mark.parametrize("args,expected", [
    (["tag", "--bogus"], "layer-fusion tag: No such option: --bogus (see 'layer-fusion tag --help')"),
    (["cache", "build"], "layer-fusion cache build: Missing argument 'encoder'."),
    (["tag", "pipeline", "--format", "nope"], "layer-fusion tag: Invalid value for '--format'"),
    # Click raises these without their command: it was named "layer-fusion".
    (["tag", "pipeline", "x.txt", "--format"],
     "layer-fusion tag: Option '--format' requires an argument. (see 'layer-fusion tag --help')"),
    (["cache", "train", "x", "--layer"],
     "layer-fusion cache train: Option '--layer' requires an argument. (see 'layer-fusion cache train --help')"),
])
def test_a_usage_error_is_one_line(args, expected):
    result = layer_fusion(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_help_and_no_arguments_still_show_the_help():
    shown = layer_fusion("tag", "--help")
    assert shown.returncode == 0 and "--format" in shown.stdout
    bare = layer_fusion("cache")
    assert bare.returncode == 2 and "build" in bare.stdout + bare.stderr and "Error" not in bare.stderr


@pytest.fixture
def main_in_process(monkeypatch):
    """cli.main() run here: its process-wide signal handlers and warning printer are undone."""
    import signal
    import warnings

    import layer_fusion.cli as cli

    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    return cli


@pytest.mark.parametrize("raised, code", [(SystemExit(143), 143), (SystemExit(129), 129)])
def test_an_exit_or_error_from_a_command_passes_through_main(main_in_process, monkeypatch, raised, code):
    """`kill` while a command loads its pipeline raises SystemExit(143) in it; main() let no
    exception but click's through: it named a click class that Typer 0.29's copy of click lacks
    (Abort), so every other exception became an AttributeError traceback and exit 1."""
    cli = main_in_process

    def command(**kwargs):
        raise raised

    monkeypatch.setattr(cli, "app", command)
    monkeypatch.setattr(sys, "argv", ["layer-fusion", "evaluate"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == code


def test_an_unexpected_error_keeps_its_own_traceback(main_in_process, monkeypatch):
    cli = main_in_process

    def command(**kwargs):
        raise RuntimeError("the command's own error")

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(RuntimeError, match="the command's own error"):
        cli.main()


def test_eof_at_a_prompt_exits_1(main_in_process, monkeypatch):
    import typer

    cli = main_in_process

    def command(**kwargs):
        raise typer.Abort()

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 1

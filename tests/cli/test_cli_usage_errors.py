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

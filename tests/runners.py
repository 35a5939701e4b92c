"""Run the project's commands from tests: `layer-fusion tag` in-process, and scripts/NAME.py as a module."""
import importlib.util

from typer.testing import CliRunner

from conftest import REPO
from layer_fusion.cli import app


def run_tag(args, input=None):
    result = CliRunner().invoke(app, ["tag", *map(str, args)], input=input, catch_exceptions=False)
    return result


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

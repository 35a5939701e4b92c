"""scripts/build_tiny_encoder.py: the smoke encoder is built from the options given, also
over a folder built before with other options."""
import importlib.util
import json

from typer.testing import CliRunner
import typer

from conftest import REPO


def test_the_encoder_is_built_again_with_new_options(ud_dir, tmp_path):
    spec = importlib.util.spec_from_file_location("build_tiny_encoder", REPO / "scripts" / "build_tiny_encoder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = typer.Typer()
    app.command()(module.main)
    conllu = ud_dir / "UD_English-EWT" / "en_ewt-ud-dev.conllu"
    out = tmp_path / "encoder"
    for layers in (2, 3):
        result = CliRunner().invoke(app, [str(out), str(conllu), "--layers", str(layers), "--max-sentences", "300"])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == layers
    assert not list(tmp_path.glob(".*partial"))

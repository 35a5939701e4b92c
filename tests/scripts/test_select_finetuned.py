"""scripts/select_finetuned.py's bad inputs (its protocol: tests/project/test_leakage.py)."""
import json

from typer.testing import CliRunner

from runners import load_script


def test_selection_without_reference_dev_or_with_an_unwritable_output_fails_first(tmp_path):
    """One-line errors, and none of the three outputs written (they must agree)."""
    select = load_script("select_finetuned")
    grid = tmp_path / "grid.cfg"
    grid.write_text('[runs]\n\n[runs.a]\nfusion = "LastLayer"\nlayers = [-1]\nbottom_layers = 0\nsteps = 10\n'
                    'source = "english"\nsplit_words = true\nseed = 0\n')
    (tmp_path / "m" / "a").mkdir(parents=True)
    metrics = {"treebanks": {"en_ewt_dev": {"accuracy": 0.95}}}  # no reference-dev macro-average
    (tmp_path / "m" / "a" / "zero_shot.json").write_text(json.dumps(metrics))
    outs = ["--output", str(tmp_path / "sel.json"), "--config-out", str(tmp_path / "shipped.cfg"),
            "--meta-out", str(tmp_path / "meta.json")]
    args = ["--grid", str(grid), "--metrics-dir", str(tmp_path / "m"), *outs]
    result = CliRunner().invoke(select.app, args)
    assert result.exit_code == 1 and "has a reference-dev macro-average" in " ".join(result.output.split())
    metrics["macro_reference_dev"] = {"accuracy": 0.8}
    (tmp_path / "m" / "a" / "zero_shot.json").write_text(json.dumps(metrics))
    result = CliRunner().invoke(select.app, [*args, "--config-out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"cannot write --config-out {tmp_path}: it is a folder" in " ".join(result.output.split())
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".json", ".cfg") and p.name != "grid.cfg"]

"""scripts/evaluate_zero_shot.py: its settings are checked before the pipeline loads."""
from typer.testing import CliRunner
from ud_files import TARGETS_CFG, write_conllu

from runners import load_script


def _toy_ud(tmp_path):
    ud = tmp_path / "ud"
    for folder, name in (("UD_English-Toy", "en_toy-ud-dev.conllu"), ("UD_Toy-One", "one.conllu"),
                         ("UD_Toy-Two", "two.conllu")):
        write_conllu(ud / folder / name, [("1", [("a", "DET"), ("cat", "NOUN")])])
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS_CFG, encoding="utf-8")
    return ud, targets


def test_a_table_over_the_metrics_or_a_pipeline_that_does_not_load_is_one_line(tmp_path):
    script = load_script("evaluate_zero_shot")
    ud, targets = _toy_ud(tmp_path)
    out = tmp_path / "m.json"
    same = CliRunner().invoke(script.app, ["./never-loaded", str(ud), str(out), "--table", str(out),
                                           "--targets", str(targets)])
    assert same.exit_code == 1 and f"--table {out} is OUTPUT_JSON" in " ".join(same.output.split())
    missing = CliRunner().invoke(script.app, [str(tmp_path / "no-pipeline"), str(ud), str(out),
                                              "--targets", str(targets)])
    assert missing.exit_code == 1 and f"cannot load {tmp_path / 'no-pipeline'}:" in " ".join(missing.output.split())
    assert missing.exception is None or isinstance(missing.exception, SystemExit)
    assert not out.exists()


def test_a_malformed_test_file_is_one_line_before_the_pipeline_loads(tmp_path):
    """Each test file was read only when its turn came: a bad last one was reported after
    every set before it was tagged (minutes), in a message wrapped at 80 columns."""
    script = load_script("evaluate_zero_shot")
    ud, targets = _toy_ud(tmp_path)
    bad = ud / "UD_Toy-Two" / "two.conllu"
    bad.write_text(bad.read_text(encoding="utf-8").replace("\tNOUN\t", "\tNOUNN\t"), encoding="utf-8")
    result = CliRunner().invoke(script.app, ["./never-loaded", str(ud), str(tmp_path / "m.json"),
                                             "--targets", str(targets)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"✘ {bad}:3: UPOS 'NOUNN' is not one of the 17 UD tags"]
    assert not (tmp_path / "m.json").exists()

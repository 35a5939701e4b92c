"""scripts/index_evaluation_sets.py: the index that stands in for the evaluation files as a
weasel dep changes exactly when a listed file appears, disappears or changes."""
import hashlib
import json

from typer.testing import CliRunner

from runners import load_script

TARGETS = """[treebanks]

[treebanks.xx_a_test]
treebank = "UD_Xx-A"
language = "Xx"
iso = "xx"
group = "low_resource"
split = "test"
file = "xx_a-ud-test.conllu"

[treebanks.yy_b_test]
treebank = "UD_Yy-B"
language = "Yy"
iso = "yy"
group = "low_resource"
split = "test"
file = "yy_b-ud-test.conllu"
"""


def test_the_index_follows_the_files_and_is_not_rewritten_when_they_do_not_change(tmp_path):
    script = load_script("index_evaluation_sets")
    (tmp_path / "targets.cfg").write_text(TARGETS, encoding="utf-8")
    ud = tmp_path / "ud"
    (ud / "UD_Xx-A").mkdir(parents=True)
    present = ud / "UD_Xx-A" / "xx_a-ud-test.conllu"
    present.write_bytes(b"# text = a\n1\ta\t_\tX\t_\t_\t0\troot\t_\t_\n\n")
    out = tmp_path / "index.json"
    args = [str(ud), str(out), "--targets", str(tmp_path / "targets.cfg")]
    run = lambda: CliRunner().invoke(_app(script), args)
    result = run()
    assert result.exit_code == 0, result.output
    assert "absent (reported missing when evaluating): UD_Yy-B/yy_b-ud-test.conllu" in result.output
    index = json.loads(out.read_text())
    assert index["sets"] == {
        "xx_a_test": {"file": "UD_Xx-A/xx_a-ud-test.conllu", "sha256": hashlib.sha256(present.read_bytes()).hexdigest()},
        "yy_b_test": {"file": "UD_Yy-B/yy_b-ud-test.conllu", "sha256": None}}
    first, mtime = out.read_bytes(), out.stat().st_mtime_ns
    assert "unchanged" in run().output and out.stat().st_mtime_ns == mtime
    (ud / "UD_Yy-B").mkdir()
    (ud / "UD_Yy-B" / "yy_b-ud-test.conllu").write_bytes(present.read_bytes())  # the absent set appears
    run()
    assert json.loads(out.read_text())["sets"]["yy_b_test"]["sha256"] is not None
    present.write_bytes(present.read_bytes().replace(b"\tX\t", b"\tNOUN\t"))  # a corrected file
    run()
    changed = json.loads(out.read_text())["sets"]["xx_a_test"]["sha256"]
    assert changed == hashlib.sha256(present.read_bytes()).hexdigest() and out.read_bytes() != first


def test_an_unwritable_output_or_a_bad_targets_file_is_a_one_line_usage_error(tmp_path):
    script = load_script("index_evaluation_sets")
    (tmp_path / "targets.cfg").write_text(TARGETS, encoding="utf-8")
    (tmp_path / "ud").mkdir()
    result = CliRunner().invoke(_app(script), [str(tmp_path / "ud"), str(tmp_path), "--targets", str(tmp_path / "targets.cfg")],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 2 and f"Invalid value for OUTPUT: {tmp_path}: it is a folder" in result.output
    (tmp_path / "bad.cfg").write_text("[treebanks]\n\n[treebanks.x]\ntreebank = \"UD_X\"\n", encoding="utf-8")
    result = CliRunner().invoke(_app(script), [str(tmp_path / "ud"), str(tmp_path / "i.json"), "--targets", str(tmp_path / "bad.cfg")],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 2 and f"Invalid value for --targets: {tmp_path / 'bad.cfg'}" in result.output, result.output
    assert not (tmp_path / "i.json").exists()


def test_a_folder_without_any_listed_file_is_a_usage_error_and_writes_nothing(tmp_path):
    """A mistyped --vars.ud_dir that exists: every set absent wrote an index and exit 0, and
    the mistake showed only later."""
    script = load_script("index_evaluation_sets")
    (tmp_path / "targets.cfg").write_text(TARGETS, encoding="utf-8")
    (tmp_path / "not_ud").mkdir()
    result = CliRunner().invoke(_app(script), [str(tmp_path / "not_ud"), str(tmp_path / "i.json"), "--targets",
                                               str(tmp_path / "targets.cfg")], env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert (f"Invalid value for UD_DIR: {tmp_path / 'not_ud'} holds none of the 2 evaluation files of "
            f"{tmp_path / 'targets.cfg'}: is it the UD folder? (in the project: --vars.ud_dir)") in result.output
    assert not (tmp_path / "i.json").exists()


def _app(script):
    import typer

    app = typer.Typer(add_completion=False)
    app.command()(script.main)
    return app

"""scripts/tag_example.py on a tiny pipeline: its fp32 and int8 tags are those of the pipeline
loaded here and tagged line by line (fp32, and int8 with the default scheme), other CPUs' int8
runs are kept only for the same sentences, and a text the pipeline cuts into other words than
the annotation's is an error naming its line."""
import json
import warnings

import pytest
import spacy
import typer

from layer_fusion.quantization import DEFAULT_SCHEME, cpu_kernels, quantize_encoder
from layer_fusion.tagging import LineTagger
from pipelines import build_pipeline
from runners import load_script

warnings.filterwarnings("ignore", message=".*quantize_per_.*deprecated")
ANNOTATION = """# sent_id = 1
# lang = en
# text = the cat sat.
1\tthe\t_\tDET\t_\t_\t_\t_\t_\tGloss=the
2\tcat\t_\tNOUN\t_\t_\t_\t_\t_\tGloss=a_small_cat
3\tsat\t_\tVERB\t_\t_\t_\t_\t_\tSpaceAfter=No
4\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_

# sent_id = 2
# text = a dog ran
1\ta\t_\tDET\t_\t_\t_\t_\t_\t_
2\tdog\t_\tNOUN\t_\t_\t_\t_\t_\t_
3\tran\t_\tVERB\t_\t_\t_\t_\t_\t_

"""


@pytest.fixture(scope="module")
def pipeline(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("example") / "pipeline", tiny_xlmr, "DLFA", steps=8)


def test_tags_are_the_pipelines_in_fp32_and_int8(pipeline, tmp_path):
    script = load_script("tag_example")
    annotation, out = tmp_path / "example.conllu", tmp_path / "example.json"
    annotation.write_text(ANNOTATION, encoding="utf-8")
    script.main(str(pipeline), annotation, output=out)
    report = json.loads(out.read_text(encoding="utf-8"))
    texts = ["the cat sat.", "a dog ran"]
    fp32 = [r.tags for r in LineTagger(spacy.load(pipeline)).tag(texts)]
    nlp = spacy.load(pipeline)
    quantize_encoder(nlp, scheme=DEFAULT_SCHEME)
    int8 = [r.tags for r in LineTagger(nlp).tag(texts)]
    assert [s["fp32"] for s in report["sentences"]] == fp32
    assert report["int8_runs"] == {cpu_kernels(): int8}
    first = report["sentences"][0]
    assert first["words"] == ["the", "cat", "sat", "."] and first["upos"] == ["DET", "NOUN", "VERB", "PUNCT"]
    assert first["gloss"] == ["the", "a small cat", "", ""] and first["lang"] == "en"
    assert report["sentences"][1]["lang"] == "" and report["int8_scheme"] == DEFAULT_SCHEME

    # A run of another CPU in the earlier output is kept while the sentences and fp32 tags are
    # the same; with other sentences it is dropped.
    report["int8_runs"]["torch OTHER"] = int8
    out.write_text(json.dumps(report), encoding="utf-8")
    script.main(str(pipeline), annotation, output=out)
    assert json.loads(out.read_text(encoding="utf-8"))["int8_runs"] == {cpu_kernels(): int8, "torch OTHER": int8}
    annotation.write_text(ANNOTATION.replace("Gloss=a_small_cat", "Gloss=a_cat"), encoding="utf-8")
    script.main(str(pipeline), annotation, output=out)
    assert json.loads(out.read_text(encoding="utf-8"))["int8_runs"] == {cpu_kernels(): int8}


def test_other_words_than_the_annotations_are_an_error_naming_the_line(pipeline, tmp_path):
    script = load_script("tag_example")
    annotation, out = tmp_path / "example.conllu", tmp_path / "example.json"
    # "sat." as one word: the pipeline splits the full stop off
    annotation.write_text(ANNOTATION.replace("3\tsat\t_\tVERB\t_\t_\t_\t_\t_\tSpaceAfter=No\n4\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_\n",
                                             "3\tsat.\t_\tVERB\t_\t_\t_\t_\t_\t_\n"), encoding="utf-8")
    with pytest.raises(typer.BadParameter, match=r"example\.conllu:1: the pipeline's words \(fp32\)"):
        script.main(str(pipeline), annotation, output=out)
    assert not out.exists()


def test_an_earlier_output_that_is_no_report_is_an_error_before_tagging(pipeline, tmp_path, monkeypatch):
    script = load_script("tag_example")
    annotation, out = tmp_path / "example.conllu", tmp_path / "example.json"
    annotation.write_text(ANNOTATION, encoding="utf-8")
    monkeypatch.setattr(script, "tag_lines", lambda *a: pytest.fail("tagged before the output was checked"))
    for bad in ("{not json", "[1, 2]", '{"int8_runs": []}'):
        out.write_text(bad, encoding="utf-8")
        with pytest.raises(typer.BadParameter, match=r"example\.json: .*remove it or give another --output"):
            script.main(str(pipeline), annotation, output=out)
        assert out.read_text(encoding="utf-8") == bad


def test_earlier_runs_of_another_scheme_or_shape_are_left_out(capsys):
    script = load_script("tag_example")
    rows = [{"words": ["a", "b"]}, {"words": ["c"]}]
    earlier = {"sentences": rows, "int8_scheme": "s", "int8_runs": {
        "good": [["X", "Y"], ["Z"]], "short": [["X"], ["Z"]], "missing": [["X", "Y"]], "flat": ["X", "Y"]}}
    assert script.earlier_int8_runs(earlier, rows, "s") == {"good": [["X", "Y"], ["Z"]]}
    assert "the earlier int8 run of short is left out" in capsys.readouterr().err
    assert script.earlier_int8_runs(earlier, rows, "other") == {}
    assert script.earlier_int8_runs(earlier, rows[:1], "s") == {}


def test_a_pipeline_that_fails_is_a_one_line_error(tmp_path):
    script = load_script("tag_example")
    annotation = tmp_path / "example.conllu"
    annotation.write_text(ANNOTATION, encoding="utf-8")
    with pytest.raises(typer.BadParameter) as err:
        script.main(str(tmp_path / "no-pipeline"), annotation, output=tmp_path / "out.json")
    assert "layer-fusion tag --fp32 failed: " in str(err.value) and "no-pipeline" in str(err.value)
    assert "\n" not in str(err.value)

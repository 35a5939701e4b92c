"""scripts/bench_long_doc.py: both variants tag the same long text in fresh processes, and
the report says whether their tags agree."""
import json

from pipelines import build_pipeline
from runners import load_script
from typer.testing import CliRunner

SENTENCE = """# sent_id = {i}
# text = the big cat sat on a red mat near the house .
1	the	_	DET	_	_	0	_	_	_
2	big	_	ADJ	_	_	0	_	_	_
3	cat	_	NOUN	_	_	0	_	_	_
4	sat	_	VERB	_	_	0	_	_	_
5	on	_	ADP	_	_	0	_	_	_
6	a	_	DET	_	_	0	_	_	_
7	red	_	ADJ	_	_	0	_	_	_
8	mat	_	NOUN	_	_	0	_	_	_
9	near	_	ADP	_	_	0	_	_	_
10	the	_	DET	_	_	0	_	_	_
11	house	_	NOUN	_	_	0	_	_	_
12	.	_	PUNCT	_	_	0	_	_	_

"""


def test_both_variants_tag_one_long_text_alike(tiny_xlmr, tmp_path):
    bench = load_script("bench_long_doc")
    pipeline = build_pipeline(tmp_path / "pipeline", tiny_xlmr, "AIF", steps=2)
    conllu = tmp_path / "in.conllu"
    conllu.write_text("".join(SENTENCE.format(i=i) for i in range(40)), encoding="utf8")
    out = tmp_path / "long_doc.json"
    done = CliRunner().invoke(bench.app, [str(pipeline), str(conllu), "--sentences", "5,40", "--runs", "1",
                                          "--output", str(out), "--markdown", str(tmp_path / "long_doc.md")])
    assert done.exit_code == 0, done.output
    rows = json.loads(out.read_text())["rows"]
    assert [(r["sentences"], r["variant"]) for r in rows] == [
        (5, "in passes (shipped)"), (5, "one pass (bound lifted)"),
        (40, "in passes (shipped)"), (40, "one pass (bound lifted)")]
    assert all(r["same_tags"] and r["tokens"] == 12 * r["sentences"] and r["peak_mib"] > 0 for r in rows)
    assert "| 40 | 480 | one pass (bound lifted) |" in (tmp_path / "long_doc.md").read_text()


def test_a_bad_length_list_is_a_usage_error(tmp_path):
    bench = load_script("bench_long_doc")
    conllu = tmp_path / "in.conllu"
    conllu.write_text(SENTENCE.format(i=0), encoding="utf8")
    done = CliRunner().invoke(bench.app, [str(tmp_path), str(conllu), "--sentences", "5,many"])
    assert done.exit_code == 2 and "comma-separated whole numbers" in done.output

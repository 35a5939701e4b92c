"""The README's example lines (layer_fusion.research.example_summary) on a hand-made report:
the shell session, the words wrong against the annotation and, per CPU, the words int8 moves."""
from layer_fusion.research.example_summary import example_lines

REPORT = {"pipeline": "P", "sentences_file": "f.conllu", "sentences": [
    {"text": "a b.", "words": ["a", "b", "."], "upos": ["DET", "NOUN", "PUNCT"], "gloss": ["one", "bee", ""],
     "fp32": ["DET", "VERB", "PUNCT"]},
    {"text": "ok", "words": ["ok"], "upos": ["INTJ"], "gloss": [""], "fp32": ["INTJ"]},
], "int8_runs": {"torch AVX2, no VNNI": [["DET", "VERB", "SYM"], ["INTJ"]],
                 "torch AVX512, VNNI": [["DET", "VERB", "PUNCT"], ["INTJ"]]}}


def test_wrong_words_and_each_cpus_moved_words_are_named_with_their_glosses():
    assert example_lines(REPORT) == [
        "```text", "$ cat sentences.txt", "a b.", "ok",
        "$ layer-fusion tag P sentences.txt --format text --fp32", "a/DET b/VERB ./PUNCT", "ok/INTJ", "```", "",
        "Against our own annotation of these sentences (`f.conllu`, UD's guidelines), 3 of 4 words are tagged "
        "right; the others: `b` \"bee\" VERB (ours: NOUN). Without `--fp32` (int8, the default on the CPU) a tag "
        "can change, and which can depend on the CPU: int8 rounds activations, so the last-bit differences of two "
        "CPUs' kernels can move a value across a rounding step (\"Inference\" under Results). As measured "
        "(`reports/example_tags.json`, each run named by the kernels it ran on): on torch AVX2, no VNNI, `.` SYM "
        "(fp32: PUNCT), 2 of 4 right; on torch AVX512, VNNI, no word changed, 3 of 4 right. Per-language "
        "accuracies are under Results."]


def test_all_right():
    right = {**REPORT, "sentences": [{**s, "upos": s["fp32"]} for s in REPORT["sentences"]]}
    assert "4 of 4 words are tagged right. Without" in example_lines(right)[-1]


def test_no_int8_run_no_int8_sentence_and_a_run_of_another_shape_is_an_error():
    import pytest

    last = example_lines({**REPORT, "int8_runs": {}})[-1]
    assert last.endswith("VERB (ours: NOUN). Per-language accuracies are under Results.") and "int8" not in last
    short = {**REPORT, "int8_runs": {"torch X": [["DET", "VERB", "SYM"]]}}  # the second sentence's tags missing
    with pytest.raises(ValueError, match=r"reports/example_tags.json: the int8 run of torch X has not a tag per word"):
        example_lines(short)

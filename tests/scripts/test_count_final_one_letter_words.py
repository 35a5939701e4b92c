"""scripts/count_final_one_letter_words.py: the three kinds on a folder written for the test,
counted per script, and only for a sentence's last token."""
from runners import load_script


def conllu(text, tokens):
    """One sentence: ``tokens`` as (form, SpaceAfter) pairs."""
    rows = [f"# text = {text}"]
    for i, (form, space) in enumerate(tokens, 1):
        rows.append("\t".join([str(i), form, "_", "X", "_", "_", "0", "dep", "_", "_" if space else "SpaceAfter=No"]))
    return "\n".join(rows) + "\n\n"


def test_counts_two_one_and_neither_per_script_and_treebank(tmp_path):
    script = load_script("count_final_one_letter_words")
    (tmp_path / "UD_A").mkdir()
    (tmp_path / "UD_B").mkdir()
    (tmp_path / "UD_A" / "aa_one-ud-test.conllu").write_text(
        conllu("gen i.", [("gen", True), ("i", False), (".", False)])  # two
        + conllu("by Jane M.", [("by", True), ("Jane", True), ("M.", False)])  # one
        + conllu("in l/c.", [("in", True), ("l/c", False), (".", False)])  # neither: l/ c. predicted
        + conllu("J. Smith came", [("J.", True), ("Smith", True), ("came", False)])  # not last: not counted
        + conllu("у 1932 г.", [("у", True), ("1932", True), ("г.", False)]),  # one, Cyrillic
        encoding="utf-8")
    (tmp_path / "UD_B" / "bb_two-ud-train.conllu").write_text(
        conllu("Then X.", [("Then", True), ("X", False), (".", False)]), encoding="utf-8")
    counts = script.count(tmp_path)
    assert {s: {tb: dict(c) for tb, c in by_tb.items()} for s, by_tb in counts.items()} == {
        "LATIN": {"aa_one": {"two": 1, "one": 1, "neither": 1}, "bb_two": {"two": 1}},
        "CYRILLIC": {"aa_one": {"one": 1}},
    }
    report = {"files": 2, "counts": {"LATIN": {"aa_one": {"two": 1, "one": 1, "neither": 1},
                                               "bb_two": {"two": 1, "one": 0, "neither": 0}}}}
    assert "| LATIN | 2 | 1 | 1 | aa_one 1 / 1 / 1; bb_two 1 / 0 / 0 |" in script.render(report)

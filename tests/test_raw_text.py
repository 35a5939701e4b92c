"""End-to-end scoring on raw text: hand-computed span alignments (split, merged, shifted
tokens, multiword tokens), the text a sentence is scored on, the reader's surface tokens,
and the metrics that evaluate_targets and the table gain."""
import json
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc
from pipelines import noun_nlp

from layer_fusion.bootstrap import bootstrap_ci
from layer_fusion.conllu import Sentence, read_conllu
from layer_fusion.evaluation import evaluate_sentences, evaluate_targets
from layer_fusion.raw_text import (
    disagreement_kinds,
    evaluate_raw_text,
    gold_spans,
    mwt_unsplit_upos_f1,
    score_sentence,
    sentence_text,
    token_disagreements,
)
from layer_fusion.report_table import render_markdown
from layer_fusion.targets import load_targets


def sentence(text, tokens, words=None, upos=None, spaces=None):
    """A sentence whose surface tokens are ``tokens``; ``words`` maps a token to its words."""
    words = words or {}
    all_words, token_words = [], []
    for form in tokens:
        parts = words.get(form, [form])
        token_words.append((len(all_words), len(all_words) + len(parts)))
        all_words += parts
    upos = upos or ["NOUN"] * len(all_words)
    spaces = spaces or [True] * len(all_words)
    return Sentence(sent_id="s", text=text, words=all_words, spaces=spaces, upos=upos,
                    tokens=list(tokens), token_words=token_words)


def test_identical_segmentation_scores_one():
    s = sentence("a b.", ["a", "b", "."], upos=["DET", "NOUN", "PUNCT"])
    spans = gold_spans(s, s.text)
    assert spans == [(0, 1), (2, 3), (3, 4)]
    c = score_sentence(s, s.text, spans, spans, ["DET", "NOUN", "PUNCT"])
    assert (c.gold_tokens, c.predicted_tokens, c.matched_tokens, c.gold_words, c.correct_upos) == (3, 3, 3, 3, 3)


def test_split_merged_and_shifted_tokens():
    s = sentence("ab cd ef", ["ab", "cd", "ef"])
    spans = gold_spans(s, s.text)
    # "ab" split into a|b (0 of 2 match), "cd ef" merged (0 of 1): only nothing matches.
    c = score_sentence(s, s.text, spans, [(0, 1), (1, 2), (3, 8)], ["NOUN"] * 3)
    assert (c.gold_tokens, c.predicted_tokens, c.matched_tokens, c.correct_upos) == (3, 3, 0, 0)
    # Shifted boundary: "ab c" + "d" + "ef": only "ef" matches; a wrong tag there scores no UPOS.
    c = score_sentence(s, s.text, spans, [(0, 4), (4, 5), (6, 8)], ["NOUN", "NOUN", "VERB"])
    assert (c.predicted_tokens, c.matched_tokens, c.correct_upos) == (3, 1, 0)


def test_multiword_token_is_one_token_and_its_words_align_by_form():
    # "do" = de + o (Portuguese-style multiword token), left whole: no word of it aligns.
    s = sentence("vi do mar", ["vi", "do", "mar"], words={"do": ["de", "o"]},
                 upos=["VERB", "ADP", "DET", "NOUN"])
    spans = gold_spans(s, s.text)
    c = score_sentence(s, s.text, spans, spans, ["VERB", "ADP", "NOUN"])
    assert (c.gold_tokens, c.matched_tokens, c.gold_words, c.correct_upos) == (3, 3, 4, 2)
    # "Don't" = Do + n't, split by the tokenizer: one token matches none, both words align
    # (forms compared in lowercase), and each scores when its tag is right.
    s = sentence("Don't go", ["Don't", "go"], words={"Don't": ["do", "n't"]}, upos=["AUX", "PART", "VERB"])
    split = [(0, 2), (2, 5), (6, 8)]
    c = score_sentence(s, s.text, gold_spans(s, s.text), split, ["AUX", "PART", "VERB"])
    assert (c.gold_tokens, c.predicted_tokens, c.matched_tokens, c.gold_words, c.correct_upos) == (2, 3, 1, 3, 3)
    c = score_sentence(s, s.text, gold_spans(s, s.text), split, ["AUX", "ADV", "VERB"])
    assert c.correct_upos == 2
    # Split elsewhere ("Don" + "'t"): no form is shared, nothing in the token aligns.
    c = score_sentence(s, s.text, gold_spans(s, s.text), [(0, 3), (3, 5), (6, 8)], ["AUX", "PART", "VERB"])
    assert (c.matched_tokens, c.correct_upos) == (1, 1)


def test_words_of_a_multiword_token_align_by_longest_common_subsequence():
    # Gold "abc" = a + x + c; predicted a | b | c: the subsequence is (a, c), x stays unaligned.
    s = sentence("abc", ["abc"], words={"abc": ["a", "x", "c"]}, upos=["DET", "NOUN", "PUNCT"])
    c = score_sentence(s, s.text, [(0, 3)], [(0, 1), (1, 2), (2, 3)], ["DET", "NOUN", "PUNCT"])
    assert c.correct_upos == 2
    # A repeated form aligns in order: gold "aa" = a(DET) + a(NOUN); predicted a | a.
    s = sentence("aa", ["aa"], words={"aa": ["a", "a"]}, upos=["DET", "NOUN"])
    assert score_sentence(s, s.text, [(0, 2)], [(0, 1), (1, 2)], ["NOUN", "DET"]).correct_upos == 0
    assert score_sentence(s, s.text, [(0, 2)], [(0, 1), (1, 2)], ["DET", "NOUN"]).correct_upos == 2
    # A predicted token crossing the multiword token's end takes no part in it.
    s = sentence("ab c", ["ab", "c"], words={"ab": ["a", "b"]}, upos=["DET", "NOUN", "NOUN"])
    c = score_sentence(s, s.text, gold_spans(s, s.text), [(0, 1), (1, 4)], ["DET", "NOUN"])
    assert (c.matched_tokens, c.correct_upos) == (0, 1)


def test_what_multiword_tokens_alone_cost():
    # "do x" = de(ADP) o(DET) | x(NOUN); "y z" has no multiword token. Every tag is NOUN, so
    # the gold-word evaluation gets x, y, z right: c' = 1 and 2, w = 3 and 2, g = 2 and 2.
    mwt = sentence("do x", ["do", "x"], words={"do": ["de", "o"]}, upos=["ADP", "DET", "NOUN"])
    plain = sentence("y z", ["y", "z"])
    result = evaluate_sentences(noun_nlp(), [mwt, plain], n_resamples=50)
    assert result.sent_correct_outside_mwt.tolist() == [1, 2]
    assert result.sent_correct.tolist() == [1, 2]
    scored = mwt_unsplit_upos_f1([mwt, plain], result.sent_correct_outside_mwt, n_resamples=50)
    assert scored["upos_f1"] == pytest.approx(2 * 3 / (5 + 4))
    assert scored["correct_outside_multiword_tokens"] == 3
    lo, hi = scored["upos_f1_ci95"]
    assert lo <= scored["upos_f1"] <= hi
    # Without multiword tokens it is the gold-word accuracy.
    assert mwt_unsplit_upos_f1([plain], [2], n_resamples=50)["upos_f1"] == 1.0
    # A word tagged right inside a multiword token does not count.
    tagged_mwt = sentence("do", ["do"], words={"do": ["de", "o"]}, upos=["NOUN", "NOUN"])
    assert evaluate_sentences(noun_nlp(), [tagged_mwt], n_resamples=50).sent_correct_outside_mwt.tolist() == [0]


def test_text_line_used_when_it_matches_else_rebuilt():
    s = sentence("a  b", ["a", "b"])
    assert sentence_text(s) == ("a  b", True)
    assert gold_spans(s, "a  b") == [(0, 1), (3, 4)]
    wrong = sentence("a c", ["a", "b"], spaces=[False, True])
    assert sentence_text(wrong) == ("ab", False)
    none = sentence(None, ["x", "y"])
    assert sentence_text(none) == ("x y", False)


def test_a_sentence_built_by_hand_without_surface_tokens_has_one_per_word():
    """``Sentence`` allows ``tokens`` and ``token_words`` left empty (built by hand): its
    words are then its surface tokens, not an empty text."""
    s = Sentence(sent_id="1", text="The cat sat.", words=["The", "cat", "sat", "."],
                 spaces=[True, True, False, False], upos=["DET", "NOUN", "VERB", "PUNCT"])
    assert sentence_text(s) == ("The cat sat.", True)
    assert gold_spans(s, "The cat sat.") == [(0, 3), (4, 7), (8, 11), (11, 12)]
    no_line = Sentence(sent_id="2", text=None, words=s.words, spaces=s.spaces, upos=s.upos)
    assert sentence_text(no_line) == ("The cat sat.", False)
    result = evaluate_raw_text(noun_nlp(), [s], n_resamples=10)
    assert (result.gold_tokens.tolist(), result.matched_tokens.tolist(), result.correct_upos.tolist()) == \
        ([4], [4], [1])


def test_evaluate_raw_text_counts_and_f1_cis():
    nlp = noun_nlp()
    sents = [
        sentence("dogs bark.", ["dogs", "bark", "."], upos=["NOUN", "VERB", "PUNCT"]),
        sentence("cats-and-mice", ["cats", "-", "and", "-", "mice"], spaces=[False] * 5,
                 upos=["NOUN", "PUNCT", "CCONJ", "PUNCT", "NOUN"]),
    ]
    result = evaluate_raw_text(nlp, sents, n_resamples=100)
    # spaCy's xx rules (a blank pipeline) split the hyphens: every token matches.
    assert result.gold_tokens.tolist() == [3, 5]
    assert result.predicted_tokens.tolist() == [3, 5]
    assert result.matched_tokens.tolist() == [3, 5]
    assert result.correct_upos.tolist() == [1, 2]  # NOUN on dogs; cats and mice
    assert result.token_f1 == 1.0
    assert result.upos_f1 == pytest.approx(2 * 3 / (8 + 8))
    d = result.to_dict()
    assert d["upos_f1_ci95"] == pytest.approx(list(bootstrap_ci(np.array([2, 4]), np.array([6, 10]), 100, 0)))
    tokens_only = evaluate_raw_text(nlp, sents, tokenize_only=True).to_dict()
    assert "upos_f1" not in tokens_only and tokens_only["token_f1"] == 1.0


def test_token_disagreements_groups_stretches():
    nlp = spacy.blank("xx")
    s = [sentence("It is well-known.", ["It", "is", "well-known", "."])] * 2
    assert token_disagreements(nlp.tokenizer, s) == [("well-known => well | - | known", 2)]


def test_disagreement_kinds_count_gold_tokens_split_merged_and_crossed():
    """Hand-made tokens against hand-made gold: ``ab cd`` taken as one token (merged, two
    gold tokens), ``efgh`` cut in two (split, one), ``xy z`` against ``x yz`` (other, two);
    twice, the second time with every token right."""
    vocab = spacy.blank("xx").vocab
    predicted = {"abcdefgh xyz.": (["abcd", "ef", "gh", "x", "yz", "."], [False, False, True, False, False, False]),
                 "ab cd": (["ab", "cd"], [True, False])}
    tokenizer = lambda text: Doc(vocab, words=predicted[text][0], spaces=predicted[text][1])  # noqa: E731
    sents = [sentence("abcdefgh xyz.", ["ab", "cd", "efgh", "xy", "z", "."])] * 2 + [sentence("ab cd", ["ab", "cd"])]
    kinds = disagreement_kinds(tokenizer, sents)
    assert kinds["all_gold_tokens"] == 14
    assert kinds["merged"] == {"gold_tokens": 4, "stretches": 2, "top": [("ab | cd => abcd", 2)]}
    assert kinds["split"] == {"gold_tokens": 2, "stretches": 2, "top": [("efgh => ef | gh", 2)]}
    assert kinds["other"] == {"gold_tokens": 4, "stretches": 2, "top": [("xy | z => x | yz", 2)]}
    # Two gold tokens against three predicted that cross them: other, not split.
    predicted["abcd"] = (["a", "bc", "d"], [False, False, False])
    crossed = disagreement_kinds(tokenizer, [sentence("abcd", ["ab", "cd"])])
    assert crossed["other"]["gold_tokens"] == 2 and crossed["split"]["gold_tokens"] == 0
    # limit: the most frequent stretches of each kind only.
    sents.append(sentence("abcdefgh xyz.", ["abcdefgh", "xyz", "."]))
    limited = disagreement_kinds(tokenizer, sents, limit=1)["split"]
    assert limited["stretches"] == 4 and limited["top"] == [("efgh => ef | gh", 2)]


def test_reader_keeps_surface_tokens_and_reads_text_without_spaces(tmp_path):
    path = tmp_path / "t.conllu"
    path.write_text(
        "# sent_id = 1\n# text =Vi do mar.\n"
        "1\tVi\t_\tVERB\t_\t_\t_\t_\t_\t_\n"
        "2-3\tdo\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\tde\t_\tADP\t_\t_\t_\t_\t_\t_\n"
        "3\to\t_\tDET\t_\t_\t_\t_\t_\t_\n"
        "4\tmar\t_\tNOUN\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
        "5\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_\n\n",
        encoding="utf-8",
    )
    (s,) = list(read_conllu(path))
    assert s.text == "Vi do mar."
    assert s.tokens == ["Vi", "do", "mar", "."]
    assert s.token_words == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert s.words == ["Vi", "de", "o", "mar", "."]
    assert sentence_text(s) == ("Vi do mar.", True)


TARGETS = """
[treebanks]

[treebanks.aa_one]
treebank = "UD_Aa-One"
language = "Aa"
iso = "aa"
group = "low_resource"
file = "one.conllu"

[treebanks.th_two]
treebank = "UD_Thai-Two"
language = "Thai"
iso = "th"
group = "low_resource"
file = "two.conllu"
"""


def test_evaluate_targets_raw_text_metrics_and_table(tmp_path):
    ud = tmp_path / "ud"
    for folder, name, text, forms in (("UD_Aa-One", "one.conllu", "x y!!", ["x", "y", "!!"]),
                                     ("UD_Thai-Two", "two.conllu", "ฉันไป", ["ฉัน", "ไป"])):
        rows = [f"# sent_id = 1", f"# text = {text}"]
        for i, form in enumerate(forms, 1):
            misc = "SpaceAfter=No" if (text.find(form) + len(form) < len(text)
                                       and text[text.find(form) + len(form)] != " ") else "_"
            rows.append(f"{i}\t{form}\t_\tNOUN\t_\t_\t_\t_\t_\t{misc}")
        (ud / folder).mkdir(parents=True)
        (ud / folder / name).write_text("\n".join(rows) + "\n\n", encoding="utf-8")
    cfg = tmp_path / "targets.cfg"
    cfg.write_text(TARGETS, encoding="utf-8")
    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "layer_fusion.MultilingualTokenizer.v1"}}})
    nlp.add_pipe("test_all_noun")
    metrics = evaluate_targets(nlp, ud, load_targets(cfg), n_resamples=50, progress=False, raw_text=True)
    one, two = metrics["treebanks"]["aa_one"], metrics["treebanks"]["th_two"]
    assert one["raw_text"]["token_f1"] == 1.0 and one["raw_text"]["upos_f1"] == 1.0
    assert one["raw_text"]["gold_word_tags_mwt_unsplit"]["upos_f1"] == one["accuracy"] == 1.0
    assert "raw_text_segmenter" not in one
    assert two["raw_text"]["token_f1"] == 0.0  # one token for two Thai words
    assert two["raw_text_segmenter"]["segmenter"] == "th"
    assert two["raw_text_segmenter"]["token_f1"] == 1.0
    macro = metrics["macro_low_resource_raw_text"]
    assert macro["token_f1"]["accuracy"] == pytest.approx(0.5)
    assert macro["token_f1_spaced"]["treebanks"] == ["aa_one"]
    assert macro["upos_f1"]["accuracy"] == pytest.approx(0.5)
    json.dumps(metrics, allow_nan=False)
    table = render_markdown(metrics)
    assert "## Raw text in (end to end)" in table and "100.0 / 100.0" in table
    assert "gold-word tags, MWTs unsplit %" in table
    assert "token F1 **50.0**" in table


def test_upos_f1_recall_is_over_gold_words_when_a_token_holds_two(tmp_path):
    """Gold "del" is one token of two words (de + el). The unsplit prediction "del" spells
    neither word, so none of its words is aligned (CoNLL 2018: words inside a multiword
    token align by equal forms): 2 words tagged right, and UPOS F1 is
    2·2 / (4 gold words + 3 predicted tokens) = 4/7, per set and in the macro-average, while
    token F1 is 1. Recall over gold tokens would give 4/6."""
    ud = tmp_path / "ud" / "UD_Aa-One"
    ud.mkdir(parents=True)
    rows = ["# sent_id = 1", "# text = x del!!", "1\tx\t_\tNOUN\t_\t_\t_\t_\t_\t_",
            "2-3\tdel\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No", "2\tde\t_\tNOUN\t_\t_\t_\t_\t_\t_",
            "3\tel\t_\tNOUN\t_\t_\t_\t_\t_\t_", "4\t!!\t_\tNOUN\t_\t_\t_\t_\t_\t_"]
    (ud / "one.conllu").write_text("\n".join(rows) + "\n\n", encoding="utf-8")
    cfg = tmp_path / "targets.cfg"
    cfg.write_text(TARGETS[:TARGETS.index("[treebanks.th_two]")], encoding="utf-8")
    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "layer_fusion.MultilingualTokenizer.v1"}}})
    nlp.add_pipe("test_all_noun")
    metrics = evaluate_targets(nlp, tmp_path / "ud", load_targets(cfg), n_resamples=50, progress=False, raw_text=True)
    raw = metrics["treebanks"]["aa_one"]["raw_text"]
    assert raw["token_f1"] == 1.0
    assert raw["upos_f1"] == pytest.approx(4 / 7)
    assert metrics["macro_low_resource_raw_text"]["upos_f1"]["accuracy"] == pytest.approx(4 / 7)
    assert metrics["macro_low_resource_raw_text"]["token_f1"]["accuracy"] == 1.0


def test_whitespace_tokens_are_not_predictions():
    """spaCy makes a token of the extra spaces in "dogs  bark" and of a tab; neither is a
    word, and the gold tokens have no such token, so neither counts as predicted."""
    nlp = noun_nlp()
    sents = [sentence("dogs  bark .", ["dogs", "bark", "."]), sentence("cats\t\tmew", ["cats", "mew"])]
    assert [t.is_space for t in nlp("dogs  bark .")] == [False, True, False, False]
    result = evaluate_raw_text(nlp, sents, n_resamples=10)
    assert result.predicted_tokens.tolist() == result.gold_tokens.tolist() == [3, 2]
    assert result.token_f1 == 1.0


def test_a_segmenter_that_fails_is_recorded_not_fatal(monkeypatch):
    """A word segmenter (an optional extra) raising while it segments must not lose the
    evaluation's other results: its failure is recorded and said, and the rules come back."""
    from types import SimpleNamespace

    import layer_fusion.raw_text as raw_text
    import layer_fusion.segmenters as segmenters
    from layer_fusion.raw_text_evaluation import raw_text_scores

    calls = []

    def fake_evaluate(nlp, sentences, **kwargs):
        calls.append(nlp.tokenizer)
        if nlp.tokenizer == "segmenter":
            raise ValueError("input too long\nfor the model")
        return SimpleNamespace(to_dict=lambda: {"token_f1": 0.5})

    monkeypatch.setattr(raw_text, "evaluate_raw_text", fake_evaluate)
    monkeypatch.setattr(segmenters, "segmenting_tokenizer", lambda rules, iso: "segmenter")
    nlp = SimpleNamespace(tokenizer="rules")
    with pytest.warns(RuntimeWarning, match="th_pud: the th word segmenter failed"):
        out = raw_text_scores(nlp, [], SimpleNamespace(key="th_pud", iso="th"), 8, 10, 0)
    assert out == {"raw_text": {"token_f1": 0.5},
                   "raw_text_segmenter": {"segmenter": "th", "failed": "ValueError: input too long for the model"}}
    assert calls == ["rules", "segmenter"] and nlp.tokenizer == "rules"

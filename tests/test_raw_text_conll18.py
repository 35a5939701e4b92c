"""The raw-text scorer against the CoNLL 2018 shared task's own evaluation script.

``udtools.udeval`` is that script (conll18_ud_eval.py, as the UD project maintains it). On
real treebanks, with and without multiword tokens, predictions are made by two tokenizers
(this project's rules; plain whitespace splitting, which leaves punctuation attached) and
tagged so that some tags are right and some wrong; both are written as CoNLL-U and scored
by the script. ``layer_fusion.raw_text`` must give the same token and UPOS counts.
"""
import unicodedata

import numpy as np
import pytest
import spacy
import udtools.udeval as conll18

from layer_fusion.conllu import read_conllu
from layer_fusion.conll18_alignment import aligned_words
from layer_fusion.raw_text import RawTextResult, gold_spans, score_sentence, sentence_text
from layer_fusion.tokenizer import create_multilingual_tokenizer

# Treebanks rich in multiword tokens (English contractions, Breton, Welsh, Amharic, Wolof,
# Tagalog), and two with none or few (Maltese, Armenian).
TREEBANKS = [
    ("UD_English-EWT", "en_ewt-ud-test.conllu"),
    ("UD_Breton-KEB", "br_keb-ud-test.conllu"),
    ("UD_Welsh-CCG", "cy_ccg-ud-test.conllu"),
    ("UD_Amharic-ATT", "am_att-ud-test.conllu"),
    ("UD_Wolof-WTB", "wo_wtb-ud-test.conllu"),
    ("UD_Tagalog-Ugnayan", "tl_ugnayan-ud-test.conllu"),
    ("UD_Maltese-MUDT", "mt_mudt-ud-test.conllu"),
    ("UD_Armenian-ArmTDP", "hy_armtdp-ud-test.conllu"),
]


def predictions(rules, index, text):
    """Spans of one sentence's predicted tokens: the project's rules on even sentences,
    whitespace splitting on odd ones."""
    if index % 2 == 0:
        return [(t.idx, t.idx + len(t.text)) for t in rules(text) if not t.is_space]
    spans, pos = [], 0
    for piece in text.split():
        start = text.index(piece, pos)
        spans.append((start, start + len(piece)))
        pos = start + len(piece)
    return spans


def tags_for(sentence, forms, counter):
    """A word's UPOS for a token spelled like it (case-insensitively), NOUN otherwise; every
    fifth token gets X, so both right and wrong tags are scored."""
    upos_of = {}
    for word, upos in zip(sentence.words, sentence.upos):
        upos_of.setdefault(word.lower(), upos)
    tags = []
    for form in forms:
        counter[0] += 1
        tags.append("X" if counter[0] % 5 == 0 else upos_of.get(form.lower(), "NOUN"))
    return tags


def conllu_sentence(forms, tags):
    rows = [f"{i}\t{form}\t_\t{tag}\t_\t_\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_"
            for i, (form, tag) in enumerate(zip(forms, tags), 1)]
    return "\n".join(rows) + "\n\n"


@pytest.mark.parametrize("treebank,file", TREEBANKS, ids=[t for t, _ in TREEBANKS])
def test_counts_equal_the_shared_task_script(ud_dir, tmp_path, treebank, file):
    source = ud_dir / treebank / file
    # The scorer reads text in NFC (layer_fusion.conllu); so does the script, from this copy.
    gold_file = tmp_path / "gold.conllu"
    gold_file.write_text(unicodedata.normalize("NFC", source.read_text(encoding="utf-8")), encoding="utf-8")
    rules = create_multilingual_tokenizer()(spacy.blank("xx"))

    system, ours, counter = [], [0, 0, 0, 0, 0], [0]
    per_sentence = []
    aligned_in_mwt = 0
    for index, sentence in enumerate(read_conllu(gold_file)):
        text, _ = sentence_text(sentence)
        predicted = predictions(rules, index, text)
        forms = [text[a:b] for a, b in predicted]
        tags = tags_for(sentence, forms, counter)
        system.append(conllu_sentence(forms, tags))
        c = score_sentence(sentence, text, gold_spans(sentence, text), predicted, tags)
        for k, n in enumerate((c.gold_tokens, c.predicted_tokens, c.matched_tokens, c.gold_words, c.correct_upos)):
            ours[k] += n
        per_sentence.append(c)
        in_mwt = [e - b > 1 for b, e in sentence.token_words for _ in range(b, e)]
        word_spans = [span for span, (b, e) in zip(gold_spans(sentence, text), sentence.token_words)
                      for _ in range(b, e)]
        pairs = aligned_words(word_spans, in_mwt, sentence.words, predicted, forms)
        aligned_in_mwt += sum(in_mwt[w] for w, _ in pairs)
    system_file = tmp_path / "system.conllu"
    system_file.write_text("".join(system), encoding="utf-8")

    scores = conll18.evaluate(conll18.load_conllu_file(str(gold_file)), conll18.load_conllu_file(str(system_file)))
    tokens, upos = scores["Tokens"], scores["UPOS"]
    gold_tokens, predicted_tokens, matched, gold_words, correct = ours
    assert (gold_tokens, predicted_tokens, matched) == (tokens.gold_total, tokens.system_total, tokens.correct)
    assert (gold_words, predicted_tokens, correct) == (upos.gold_total, upos.system_total, upos.correct)
    # The F1s the metrics report, from the per-sentence counts, are the script's (with
    # multiword tokens, gold words and gold tokens differ: UPOS F1's recall is over words).
    result = RawTextResult(name=treebank, **{field: np.array([getattr(c, field) for c in per_sentence]) for field in
                                            ("gold_tokens", "predicted_tokens", "matched_tokens", "gold_words", "correct_upos")})
    assert result.token_f1 == pytest.approx(tokens.f1, abs=1e-12)
    assert result.upos_f1 == pytest.approx(upos.f1, abs=1e-12)
    # The comparison means something: tokens and tags both right and wrong, and the
    # multiword-token treebanks have words aligned inside them.
    assert 0 < matched <= gold_tokens and 0 < correct < gold_words
    if treebank in ("UD_English-EWT", "UD_Breton-KEB"):
        assert aligned_in_mwt > 50


@pytest.mark.parametrize("mwt,words,predicted_form", [
    ("B a", ("Ba", "x"), "B a"),  # a predicted token with a space, inside a multiword token
    ("Bb b", ("Bb b", "x"), "Bb b"),  # a gold word with a space inside one
])
def test_predicted_forms_with_spaces_inside_multiword_tokens_score_as_the_script(tmp_path, mwt, words, predicted_form):
    """The script strips space characters from system forms only (a segmenter such as
    Vietnamese's writes tokens with spaces): aligned inside a multiword token by their forms,
    they count as the script counts them."""
    gold = (f"# text = {mwt} c\n1-2\t{mwt}\t_\t_\t_\t_\t_\t_\t_\t_\n"
            f"1\t{words[0]}\t_\tNOUN\t_\t_\t0\troot\t_\t_\n"
            f"2\t{words[1]}\t_\tVERB\t_\t_\t1\tdep\t_\t_\n"
            "3\tc\t_\tNOUN\t_\t_\t1\tdep\t_\t_\n\n")
    gold_file = tmp_path / "gold.conllu"
    gold_file.write_text(gold, encoding="utf-8")
    (sentence,) = read_conllu(gold_file)
    text, _ = sentence_text(sentence)
    predicted = [(0, len(mwt)), (len(mwt) + 1, len(mwt) + 2)]
    tags = ["NOUN", "NOUN"]
    ours = score_sentence(sentence, text, gold_spans(sentence, text), predicted, tags)
    system_file = tmp_path / "system.conllu"
    system_file.write_text(conllu_sentence([predicted_form, "c"], tags), encoding="utf-8")
    upos = conll18.evaluate(conll18.load_conllu_file(str(gold_file)), conll18.load_conllu_file(str(system_file)))["UPOS"]
    assert ours.correct_upos == upos.correct

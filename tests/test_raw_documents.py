"""Raw text tagged a paragraph at a time (layer_fusion.raw_documents): texts cut at paragraphs,
documents and the sentence cap; each sentence scored on its own tokens, so a tagger that
ignores context scores exactly as sentence by sentence; hand-computed counts where the
tokens cross a sentence's end."""
import numpy as np
import pytest
import spacy
from spacy.tokens import Doc

from layer_fusion.raw_documents import SentenceStarts, evaluate_raw_documents, sentence_start_counts, text_units
from layer_fusion.raw_text import evaluate_raw_text
from pipelines import noun_nlp
from test_raw_text import sentence

FIELDS = ("gold_tokens", "predicted_tokens", "matched_tokens", "gold_words", "correct_upos")


def with_meta(s, **meta):
    s.meta.update({key.replace("_", " "): value for key, value in meta.items()})
    return s


def marked_sentences():
    """Document d1: a paragraph of two sentences, then one of one; document d2 (no
    paragraph marks): four sentences. The reader repeats ``newdoc id`` on every sentence."""
    return [with_meta(sentence(f"s{i} .", [f"s{i}", "."]), **meta) for i, meta in enumerate([
        {"newdoc_id": "d1", "newpar_id": "p1"}, {"newdoc_id": "d1"}, {"newdoc_id": "d1", "newpar": ""},
        {"newdoc_id": "d2"}, {"newdoc_id": "d2"}, {"newdoc_id": "d2"}, {"newdoc_id": "d2"}])]


def test_documents_marked_by_a_bare_newdoc_are_texts_of_their_own(tmp_path):
    """Two documents in a row, each opened by ``# newdoc`` without an id, and no paragraph
    marks: two texts, not one (the reader keeps a bare ``newdoc`` on its own sentence)."""
    from layer_fusion.conllu import read_conllu

    def conllu_sentence(i, form):
        return (f"# sent_id = {i}\n# text = {form} .\n1\t{form}\t_\tNOUN\t_\t_\t0\troot\t_\tSpaceAfter=No\n"
                "2\t.\t_\tPUNCT\t_\t_\t1\tpunct\t_\t_\n\n")
    path = tmp_path / "docs.conllu"
    path.write_text("# newdoc\n" + conllu_sentence(1, "Alpha") + conllu_sentence(2, "Beta")
                    + "# newdoc\n" + conllu_sentence(3, "Gamma") + conllu_sentence(4, "Delta"), encoding="utf-8")
    assert text_units(list(read_conllu(path))) == [[0, 1], [2, 3]]


def test_texts_are_cut_at_paragraphs_documents_and_the_cap():
    sents = marked_sentences()
    assert text_units(sents, max_sentences=10) == [[0, 1], [2], [3, 4, 5, 6]]
    assert text_units(sents, max_sentences=3) == [[0, 1], [2], [3, 4, 5], [6]]
    assert text_units(sents, max_sentences=1) == [[i] for i in range(7)]
    unmarked = [sentence("a .", ["a", "."]) for _ in range(5)]
    assert text_units(unmarked, max_sentences=2) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="max_sentences"):
        text_units(unmarked, max_sentences=0)


def test_a_tagger_that_ignores_context_scores_as_sentence_by_sentence():
    """Joining texts moves every token by its sentence's offset and nothing else: the counts
    of a context-free tagger (every token a NOUN) are those of the sentence-by-sentence run,
    with tokens the rules split, a multiword token and a rebuilt text among them."""
    sents = marked_sentences() + [
        sentence("dogs bark.", ["dogs", "bark", "."], upos=["NOUN", "VERB", "PUNCT"]),
        sentence("cats-and-mice", ["cats", "-", "and", "-", "mice"], spaces=[False] * 5),
        sentence("don't go", ["don't", "go"], words={"don't": ["do", "n't"]}, upos=["AUX", "PART", "VERB"]),
        sentence(None, ["no", "text", "line"]),
    ]
    nlp = noun_nlp()
    alone = evaluate_raw_text(nlp, sents)
    for cap in (1, 2, 10):
        together = evaluate_raw_documents(nlp, sents, max_sentences=cap)
        for field in FIELDS:
            assert getattr(together, field).tolist() == getattr(alone, field).tolist(), (cap, field)
        assert together.rebuilt_texts == alone.rebuilt_texts == 1
        assert together.words_in_multiword_tokens == alone.words_in_multiword_tokens == 2


class FixedTokens:
    """A pipeline stand-in that gives each text the tokens listed for it, all tagged NOUN."""

    def __init__(self, tokens_of):
        self.tokens_of = tokens_of
        self.vocab = spacy.blank("xx").vocab

    def pipe(self, texts, batch_size=64):
        for text in texts:
            words = self.tokens_of[text]
            assert "".join(words) == text  # every character in a token: no spaces between them
            yield Doc(self.vocab, words=words, spaces=[False] * len(words), pos=["NOUN"] * len(words))


def test_tokens_belong_to_the_sentence_they_start_in():
    """"ab." and "cd" are joined into "ab. cd". Tokens "ab", ". cd": the second starts in the
    first sentence and runs into the next, so it matches nothing there and the second sentence
    has no token. Tokens "ab.", " ", "cd": the whitespace token is no prediction."""
    sents = [sentence("ab.", ["ab", "."], spaces=[False, True]), sentence("cd", ["cd"])]
    crossing = evaluate_raw_documents(FixedTokens({"ab. cd": ["ab", ". cd"]}), sents)
    assert crossing.gold_tokens.tolist() == [2, 1]
    assert crossing.predicted_tokens.tolist() == [2, 0]
    assert crossing.matched_tokens.tolist() == [1, 0]
    assert crossing.correct_upos.tolist() == [1, 0]
    assert crossing.token_f1 == pytest.approx(2 * 1 / (3 + 2))
    merged = evaluate_raw_documents(FixedTokens({"ab. cd": ["ab.", " ", "cd"]}), sents)
    assert merged.predicted_tokens.tolist() == [1, 1]
    assert merged.matched_tokens.tolist() == [0, 1]
    assert merged.correct_upos.tolist() == [0, 1]


def test_progress_counts_every_sentence_once():
    seen = []
    evaluate_raw_documents(noun_nlp(), marked_sentences(), max_sentences=3, progress=seen.append)
    assert sorted(seen) == [1, 1, 2, 3] and np.sum(seen) == 7


def test_sentence_starts_found_by_a_sentencizer_hand_counted():
    """One text of three UD sentences: "Hello there. how are you Dr. Smith left." (the second
    ends without punctuation). The sentencizer starts sentences at "how" (gold) and
    "Smith" (not gold: the blank tokenizer splits "Dr." into "Dr" ".") and misses "Dr":
    gold 2, found 2, correct 1. The next document's text, one sentence, has none to find."""
    sents = [with_meta(sentence(text, text.split()), newdoc_id="d1")
             for text in ["Hello there.", "how are you", "Dr. Smith left."]]
    sents.append(with_meta(sentence("Alone here.", ["Alone", "here."]), newdoc_id="d2"))
    nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    assert sentence_start_counts(nlp, sents) == SentenceStarts(gold=2, found=2, correct=1)
    # One sentence a text: no gold start, and the false one at "Smith" is still found.
    assert sentence_start_counts(nlp, sents, max_sentences=1) == SentenceStarts(gold=0, found=1, correct=0)
    # Without a sentencizer no boundary is set: none found.
    assert sentence_start_counts(spacy.blank("xx"), sents) == SentenceStarts(gold=2, found=0, correct=0)

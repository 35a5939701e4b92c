"""layer_fusion.tagging.wordpiece_upper_bound: chunking skips tokenizing a line twice only
when no tokenizer could give it more wordpieces than the budget."""
import pytest
import spacy
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from layer_fusion.tagging import LineTagger, pretokenized_words, wordpiece_upper_bound
from pipelines import build_pipeline

# Written for this test: scripts, combining marks, compatibility characters that NFKC
# lengthens (U+FDFA, U+337F, ligatures), İ (two characters once lowercased), emoji sequences.
TEXTS = [
    "The cat sat on the mat.",
    "ﷺ ﷺﷺ and ㍿ or ﬁne ﬃ",
    "İstanbul'da İİİ ıi",
    "가나다라 마바사 한국어",
    "👨‍👩‍👧 🇳🇬 👍🏽!!",
    "ọmọ náà lọ sí ilé ìwé",
    "बच्चा घर गया। ॥",
    "ነው። ፣ ፤",
    "\u0301\u0301 a\u0301\u0300\u0302",
    "x" * 300,
    "日本語のテキスト、中文文本。",
    "http://example.com/a?b=c&d=e #tag @user",
]


def _byte_level_bpe():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.train_from_iterator(["the cat sat on the mat"] * 10, trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def _nfkc_characters():
    """WordPiece over single characters behind an NFKC normalizer: the case the
    normalized forms in the bound are for (U+FDFA becomes four words, 15 pieces)."""
    letters = sorted(set("صلى الله عليه وسلم株式会社fiİistanbul'dai̇ı".replace(" ", "")))
    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate(letters)}}
    vocab.update({"##" + c: len(vocab) + i for i, c in enumerate(letters)})
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def _e5_tokenizer():
    from layer_fusion.encoder.build import default_tokenizer_json_path

    return PreTrainedTokenizerFast(tokenizer_file=str(default_tokenizer_json_path()))


@pytest.fixture(scope="module")
def tokenizers_under_test(tiny_bert, tiny_xlmr):
    return {"wordpiece": AutoTokenizer.from_pretrained(str(tiny_bert)),
            "unigram": AutoTokenizer.from_pretrained(str(tiny_xlmr)),
            "multilingual-e5-small": _e5_tokenizer(),
            "byte-level BPE": _byte_level_bpe(),
            "NFKC characters": _nfkc_characters()}


@pytest.mark.parametrize("text", TEXTS)
def test_bound_is_never_below_the_real_count(tokenizers_under_test, text):
    doc = spacy.blank("xx")(text)
    bound = wordpiece_upper_bound(doc)
    for name, tokenizer in tokenizers_under_test.items():
        encoded = tokenizer([t.text for t in doc], add_special_tokens=False, verbose=False)
        assert sum(len(ids) for ids in encoded["input_ids"]) <= bound, name


def test_normalizers_that_lengthen_text_are_covered(tokenizers_under_test):
    doc = spacy.blank("xx")("ﷺ ﷺﷺ")
    encoded = tokenizers_under_test["NFKC characters"]([t.text for t in doc], add_special_tokens=False)
    real = sum(len(ids) for ids in encoded["input_ids"])
    assert real > len(doc.text.encode("utf-8")) + len(doc)  # the raw bytes alone would not bound it
    assert real <= wordpiece_upper_bound(doc)


def test_short_lines_skip_counting_and_long_ones_count(tiny_xlmr, tmp_path, monkeypatch):
    tagger = LineTagger(spacy.load(build_pipeline(tmp_path / "p", tiny_xlmr, "AIF", steps=1)))
    calls = []
    counts = tagger.wordpiece_counts
    monkeypatch.setattr(tagger, "wordpiece_counts", lambda doc: calls.append(len(doc)) or counts(doc))
    short = tagger.make_doc("the cat sat on the mat")
    assert tagger.chunk_bounds(short) == [(0, len(short))] and calls == []
    long = tagger.make_doc("the cat sat on the mat " * 40)  # bound over the budget
    assert wordpiece_upper_bound(long) > tagger.budget
    assert tagger.chunk_bounds(long) == [(0, len(long))] and calls == [len(long)]


def test_spaces_say_whether_whitespace_follows_each_word_pretokenized_or_not(tiny_xlmr, tmp_path):
    """``TaggedLine.spaces`` with ``pretokenized``: the last word of a line was said to be
    followed by whitespace (``Doc``'s default) where the text has none."""
    nlp = spacy.load(build_pipeline(tmp_path / "p", tiny_xlmr, "AIF", steps=1))
    lines = ["a b", "x ", "  c  d", ""]
    for pretokenized in (False, True):
        records = list(LineTagger(nlp, pretokenized=pretokenized).tag(lines))
        assert [r.spaces for r in records] == [[True, False], [True], [True, False], []], pretokenized


@pytest.mark.parametrize("text, words, space_at_end", [
    ("one two", ["one", "two"], False),
    ("  one\ttwo \u3000three\u2003", ["one", "two", "three"], True),  # tab, ideographic, em space
    ("10\u00a0000 francs", ["10\u00a0000", "francs"], False),  # no-break space: one word
    ("nhà\u202fnước\u2007x ", ["nhà\u202fnước\u2007x"], True),  # narrow and figure no-break spaces
    ("\u00a0", [], False),  # no word: a no-break space joins only inside a word
    ("\u00a0word\u00a0 x\u00a0", ["word", "x"], True),  # at a word's edge it is whitespace
    (" \u2028 ", [], False),
])
def test_pretokenized_words_split_on_whitespace_but_not_on_no_break_spaces(text, words, space_at_end):
    assert pretokenized_words(text) == (words, space_at_end)


@pytest.mark.parametrize("with_sentencizer", [True, False])
def test_windows_are_measured_as_the_pipeline_will_cut_them(tiny_xlmr, monkeypatch, with_sentencizer):
    """With a sentencizer before the transformer and sentence spans (window 4, stride 3), the
    text "a . b c d e f g . h" is cut into windows [0, 2), [2, 6), [5, 9), [9, 10); without
    it into [0, 4), [3, 7), [6, 10). Tokens 5 and 8 of 2 wordpieces each, the rest of none,
    and a budget of 3: only the sentence window [5, 9) is over it, so only the pipeline with
    the sentencizer needs its line cut into chunks."""
    from pipelines import make_nlp, synthetic_examples

    nlp = make_nlp(tiny_xlmr, window=4, stride=3, span_getter="layer_fusion.sentence_strided_spans.v1")
    if with_sentencizer:
        nlp.add_pipe("sentencizer", before="transformer")
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    tagger = LineTagger(nlp)
    monkeypatch.setattr(tagger, "wordpiece_counts", lambda doc: [0, 0, 0, 0, 0, 2, 0, 0, 2, 0])
    tagger.budget = 3
    doc = tagger.make_doc("a . b c d e f g . h")
    assert (tagger.chunk_bounds(doc) != [(0, 10)]) == with_sentencizer


def _sentence_window_pipeline(tiny_xlmr):
    """The shipped layout on the tiny encoder: a sentencizer, then windows inside sentences."""
    from layer_fusion.sentence_spans import configure_sentence_strided_spans
    from pipelines import trained_fusion_transformer

    nlp = trained_fusion_transformer(tiny_xlmr, "fusion_transformer")
    nlp.add_pipe("sentencizer", first=True)
    nlp.get_pipe("transformer").model.attrs["get_spans"] = configure_sentence_strided_spans(128, 96)
    return nlp


def test_a_line_of_many_sentences_is_cut_so_that_no_forward_pass_exceeds_the_bound(tiny_xlmr):
    """A line of 30 short sentences and a long one: one doc of 31 windows, each padded to the
    long one's width. FusionTransformer.pipe never splits a doc, so LineTagger cuts the line
    at sentence starts until each piece's (windows) x (widest + specials) fits max_batch_items;
    every word is tagged, and as it is when the line is tagged sentence by sentence (windows
    inside sentences: the cuts lose no context)."""
    nlp = _sentence_window_pipeline(tiny_xlmr)
    trf = nlp.get_pipe("transformer")
    long_sentence = " ".join(["the big red house near the old mill"] * 5) + " ."
    line = " ".join(["a cat sat ."] * 30 + [long_sentence])
    tok = trf.model.tokenizer
    sentences = list(nlp.get_pipe("sentencizer")(nlp.make_doc(line)).sents)
    assert len(sentences) == 31
    widths = [len(tok([t.text for t in s], is_split_into_words=True)["input_ids"]) for s in sentences]
    trf.cfg["max_batch_items"] = 8 * max(widths)  # 8 rows of the long sentence's width
    shapes = []
    hook = trf.model.layers[0].shims[0]._model.register_forward_hook(
        lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        [record] = LineTagger(nlp).tag([line])
    finally:
        hook.remove()
    assert sum(rows for rows, _ in shapes) == 31  # each sentence a window, once
    assert all(rows * width <= trf.cfg["max_batch_items"] for rows, width in shapes), shapes
    by_sentence = [tag for s in sentences for r in LineTagger(nlp).tag([s.text]) for tag in r.tags]
    assert record.words == line.split() and record.tags == by_sentence


def test_pieces_are_cut_at_sentence_starts_until_their_windows_fit(tiny_xlmr, monkeypatch):
    """Counted by hand: 'a . b . c d e f .' gives sentences [0, 2), [2, 4), [4, 9) with 1, 1 and
    5 wordpieces (one per token) plus 2 special tokens each: 3 rows x 7 = 21 positions. With a
    bound of 14 the line is cut once, at the sentence start nearest half its 9 wordpieces
    (token 4: 4 before it), into [0, 4) (2 rows x 3) and [4, 9) (1 row x 7); with 21 it is not cut."""
    nlp = _sentence_window_pipeline(tiny_xlmr)
    tagger = LineTagger(nlp)
    monkeypatch.setattr(tagger, "wordpiece_counts", lambda doc: [1] * len(doc))
    monkeypatch.setattr(tagger, "budget", 1)  # every doc over its upper bound: counted, not guessed
    assert tagger._specials == 2
    doc = tagger.make_doc("a . b . c d e f .")
    tagger.budget = 5
    tagger.max_items = 21
    assert tagger.chunk_bounds(doc) == [(0, 9)]
    tagger.max_items = 14
    assert tagger.chunk_bounds(doc) == [(0, 4), (4, 9)]
    # 6: [0, 4) is 2 x 4, cut at its sentence start; [4, 9) alone is 1 x 7, one sentence, cut at
    # the first token with at least half its 5 wordpieces before it (token 7: 3 before it).
    tagger.max_items = 6
    assert tagger.chunk_bounds(doc) == [(0, 2), (2, 4), (4, 7), (7, 9)]

"""`--lang en` (`segmenter = "en"`): spaCy's English tokenizer exceptions applied to the
multilingual rules' tokens (`layer_fusion.english_contractions`). Reference: spaCy's own
English tokenizer, on sentences written for these tests."""
import pytest
import spacy

from layer_fusion.english_contractions import apply_exceptions, english_exceptions
from layer_fusion.segmenters import make_segmenter, segmenting_tokenizer
from layer_fusion.tokenizer import multilingual_tokenizer


@pytest.fixture(scope="module")
def rules():
    return multilingual_tokenizer(spacy.blank("xx"))


@pytest.fixture(scope="module")
def english(rules):
    return make_segmenter(rules.vocab, "en", rules)


def _texts(tokenizer, text):
    return [t.text for t in tokenizer(text)]


@pytest.mark.parametrize("text", [
    "I don't know, I'm sure.",
    "She can't come and he won't wait; they cannot stay.",
    "We're gonna go, y'all, 'cause it's late.",
    "(I'm) \"don't\" and Don't!",
    "You shouldn't've said it at 5 o'clock.",
    "Mr. Brown met Dr. Lee in Jan. at 10 a.m.",
    "Lemme see: I'd've gone, wouldn't you?",
    "I  don't  know",  # runs of spaces: whitespace tokens of their own
    "its ill well were shed",  # words spaCy keeps whole however they look
    "dont im",  # spellings without the apostrophe, as spaCy splits them
    "`don't` <don't> $don't, don't😀 We won't.😊",  # symbols are affixes too
    "Apple Inc.'s profits and King Jr.'s speech",  # so is the possessive after an abbreviation
    "She said 'I'm goin' home'",  # goin' keeps its apostrophe; the quotation closes after home
])
def test_tokens_and_norms_are_spacy_englishs_where_their_affix_rules_agree(english, text):
    reference = spacy.blank("en").tokenizer
    assert [(t.text, t.norm_) for t in english(text)] == [(t.text, t.norm_) for t in reference(text)]
    assert english(text).text == text


def test_the_rules_cut_a_contraction_elsewhere_and_english_moves_the_cut(rules, english):
    text = "I don't know Dr. Lee"
    assert _texts(rules, text) == ["I", "don", "'t", "know", "Dr", ".", "Lee"]
    assert _texts(english, text) == ["I", "do", "n't", "know", "Dr.", "Lee"]


def test_an_exception_applies_to_a_whole_chunk_less_its_punctuation_only(english):
    """spaCy looks a chunk up after stripping its prefixes and suffixes: the `id` of
    `id/password` and the `im` of `x/im` are not chunks, the `id` of `(id)` is."""
    assert _texts(english, "id/password x/im") == ["id", "/", "password", "x", "/", "im"]
    assert _texts(english, "(id)") == ["(", "i", "d", ")"]
    assert _texts(english, "(id)") == _texts(spacy.blank("en").tokenizer, "(id)")


def test_norms_are_the_exceptions_and_other_tokens_keep_theirs(english):
    doc = english("I don't gotta go")
    assert [t.norm_ for t in doc] == ["i", "do", "not", "got", "to", "go"]


def test_a_doc_with_nothing_to_change_is_returned_as_is(rules):
    doc = rules("Nothing English here: il-kelb, ḿ̀ba.")
    assert apply_exceptions(doc, english_exceptions(), 12) is doc


def test_exceptions_are_englishs_less_the_multilingual_ones():
    exceptions = english_exceptions()
    assert exceptions["don't"] == [("do", "do"), ("n't", "not")]
    assert exceptions["Dr."] == [("Dr.", None)]
    assert ":)" not in exceptions  # an emoticon: the multilingual rules have it already
    assert "its" not in exceptions and "ill" not in exceptions


def test_the_whole_text_rules_run_on_the_tokens_the_exceptions_give(rules):
    """The rules' whole-text steps come last: a quotation opened by an apostrophe closes with
    one (`final_apostrophes`), counting the apostrophe of the exception `goin'` as a word's,
    and a text-final one-letter word gives its full stop back (where spaCy keeps `X.`)."""
    tokenizer = segmenting_tokenizer(rules, "en")
    assert _texts(tokenizer, "'I don't know' said X.") == \
        ["'", "I", "do", "n't", "know", "'", "said", "X", "."]
    assert _texts(rules, "She said 'I'm goin' home'")[-3:] == ["goin", "'", "home'"]
    assert _texts(tokenizer, "She said 'I'm goin' home'")[-3:] == ["goin'", "home", "'"]

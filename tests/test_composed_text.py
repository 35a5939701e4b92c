"""Word segmenters on decomposed text (NFD): the clusters that compose on their own, spans
carried back from the composed form, and the segmenters given the composed form."""
import random
import sys
import unicodedata

import pytest
import spacy

from layer_fusion.composed_text import ComposedText, composition_clusters
from layer_fusion.segmenter_wrappers import ComposedTextSegmenter
from layer_fusion.segmenters import WordSegmenter, make_segmenter, segmenting_tokenizer

NFD = lambda text: unicodedata.normalize("NFD", text)  # noqa: E731
NFC = lambda text: unicodedata.normalize("NFC", text)  # noqa: E731


@pytest.mark.parametrize("text,clusters", [
    ("", []),
    ("To\u0302i", ["T", "o\u0302", "i"]),
    # Marks in either order compose to one letter (canonical reordering), a mark with no
    # precomposed letter stays a cluster of two characters.
    ("a\u0301\u0323b", ["a\u0301\u0323", "b"]),
    ("q\u0301x", ["q\u0301", "x"]),
    # Hangul jamo are starters that compose with each other: 가 and 각 from jamo.
    ("\u1100\u1161\u1100\u1161\u11A8!", ["\u1100\u1161", "\u1100\u1161\u11A8", "!"]),
    # A text that starts with a mark, a mark on a space.
    ("\u0301a \u0301b", ["\u0301", "a", " \u0301", "b"]),
    # A compatibility ideograph composes to another character on its own.
    ("x\uF900x", ["x", "\uF900", "x"]),
    # Tibetan ཱི (U+0F73) has combining class 0 but decomposes to two marks, which reorder
    # with the mark before them: one cluster with its base.
    ("\u0928\u0F73\u093C", ["\u0928\u0F73\u093C"]),
])
def test_clusters_cover_the_text_and_compose_on_their_own(text, clusters):
    spans = composition_clusters(text)
    assert [text[a:b] for a, b in spans] == clusters
    assert "".join(NFC(text[a:b]) for a, b in spans) == NFC(text)


def test_every_decomposable_character_is_one_cluster_and_mixtures_compose():
    """Every character with a canonical decomposition that composes again (not Tibetan
    གྷ, excluded from composition), decomposed, is one cluster; random mixtures of them with
    plain letters, spaces and jamo compose cluster by cluster (the premise ComposedText
    checks)."""
    decomposable = [chr(c) for c in range(sys.maxunicode + 1)
                    if unicodedata.decomposition(chr(c)) and not unicodedata.decomposition(chr(c)).startswith("<")]
    assert len(decomposable) > 2000
    for char in decomposable:
        if len(NFC(NFD(char))) == 1:
            assert len(composition_clusters(NFD(char))) == 1, ascii(char)
    pool = [NFD(c) for c in decomposable] + decomposable + list("ab \u0301\u0323\u0302\u093C") \
        + ["\u1100", "\u1161", "\u11A8"]
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))
        ComposedText(text)  # raises when the clusters do not compose to NFC(text)


def test_spans_move_to_cluster_edges_and_merge_inside_one():
    text = "To\u0302i la\u0300 q\u0301"
    composed = ComposedText(text)
    assert composed.composed == "Tôi là q\u0301"
    # Words of the composed text; then the letter q cut from its mark (no precomposed q́).
    assert composed.spans_in_text([(0, 3), (4, 6)]) == [((0, 4), 0), ((5, 8), 1)]
    assert composed.spans_in_text([(7, 8), (8, 9)]) == [((9, 11), None)]
    assert composed.spans_in_text([(1, 2)]) == [((1, 3), 0)]  # ô alone is o + U+0302
    assert composed.spans_in_text([(3, 3)]) == []
    # A merge takes in the whole of the later span, not only the shared cluster.
    assert ComposedText("q\u0301xy").spans_in_text([(0, 1), (1, 4)]) == [((0, 4), None)]


class _Characters(WordSegmenter):
    """Cuts every character off (the worst case for decomposed marks), notes each text it
    gets and returns its Docs with ``user_data``."""

    def __init__(self, vocab):
        super().__init__(vocab, list)
        self.docs = []

    def __call__(self, text):
        doc = super().__call__(text)
        doc.user_data["pieces"] = len(doc)
        self.docs.append(doc)
        return doc


def test_marks_stay_with_their_letters_and_composed_text_is_passed_through():
    segmenter = ComposedTextSegmenter(_Characters(spacy.blank("xx").vocab))
    doc = segmenter(NFD("Tôi ạ́."))
    assert doc.text == NFD("Tôi ạ́.")
    assert segmenter.segmenter.docs[-1].text == "Tôi ạ́."  # the segmenter saw the composed form
    # ạ́ composes to ạ + U+0301 (no one character has both marks): the segmenter cut the
    # acute off, so two of its tokens were merged, and its user_data is not kept.
    assert [t.text for t in doc] == [NFD(c) for c in "Tôi"] + [NFD("ạ́"), "."]
    assert doc.user_data == {}
    same = segmenter(NFD("Tôi ạ."))  # one token per token: the Doc's user_data kept
    assert [t.text for t in same] == [NFD(c) for c in "Tôiạ."] and same.user_data == {"pieces": 5}
    # Composed text: the segmenter's own Doc, unchanged.
    assert segmenter("Tôi") is segmenter.segmenter.docs[-1]


def test_a_mark_written_after_a_space_stays_in_the_text():
    """A mark after a space composes with nothing: its cluster holds the space, which the
    word must not take."""
    segmenter = ComposedTextSegmenter(_Characters(spacy.blank("xx").vocab))
    doc = segmenter(NFD("x \u0301Tôi"))
    assert doc.text == NFD("x \u0301Tôi")
    assert [t.text for t in doc] == ["x", "\u0301", "T", NFD("ô"), "i"]


@pytest.mark.parametrize("lang", ["th", "vi", "zh", "ja"])
def test_each_segmenter_keeps_decomposed_marks_on_their_letters(lang):
    """Called on its own (no script runs), each segmenter keeps a decomposed letter whole:
    bare pyvi, jieba and DeepCut cut the marks off."""
    doc = make_segmenter(spacy.blank("xx").vocab, lang)(NFD("Tôi là ở đây"))
    assert doc.text == NFD("Tôi là ở đây")
    assert not any(unicodedata.combining(t.text[0]) for t in doc)


@pytest.mark.parametrize("lang,text", [
    ("vi", "Tôi là sinh viên trường đại học Bách khoa Hà Nội."),
    # Dakuten decompose; whitespace tokens, which SudachiPy tags, between the sentences.
    ("ja", "がぎぐげご。\n私はパンを食べます。\t\t終わり"),
    ("th", "ฉันไปโรงเรียน Zürich ทุกวัน"),
])
def test_decomposed_text_gets_the_words_of_composed_text(lang, text):
    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "layer_fusion.MultilingualTokenizer.v1"}}})
    tokenizer = segmenting_tokenizer(nlp.tokenizer, lang)
    composed, decomposed = tokenizer(text), tokenizer(NFD(text))
    assert NFD(text) != text and decomposed.text == NFD(text)
    assert [NFC(t.text) for t in decomposed] == [t.text for t in composed]
    assert [t.whitespace_ for t in decomposed] == [t.whitespace_ for t in composed]
    assert [t.lemma_ for t in decomposed] == [t.lemma_ for t in composed]
    assert [(t.tag_, t.pos_, str(t.morph), NFC(t.norm_)) for t in decomposed] == \
        [(t.tag_, t.pos_, str(t.morph), t.norm_) for t in composed]
    if lang == "ja":  # SudachiPy's annotations come along, whitespace tokens' too
        assert all(t.lemma_ and t.tag_ and t.pos_ for t in decomposed)
        assert any(t.is_space for t in decomposed)


def test_vietnamese_without_the_composed_form_shreds_marks():
    """Why the wrapper exists: pyvi alone cuts decomposed marks off their letters."""
    bare = make_segmenter(spacy.blank("xx").vocab, "vi").segmenter
    assert any(unicodedata.combining(t.text[0]) for t in bare(NFD("Tôi là sinh viên.")))

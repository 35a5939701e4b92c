"""Tokenizers around a word segmenter: what every segmenter of ``layer_fusion.segmenters``
needs besides its engine.

* ``TokenizerPipe``: spaCy's tokenizer interface (``pipe``) for a callable from text to ``Doc``.
* ``SegmenterWrapper``: a tokenizer around another, which it saves.
* ``RulesRefiner``: a tokenizer that refines the rule-based tokenizer's tokens.
* ``PiecewiseSegmenter``: an engine with a length limit (SudachiPy) given a long text in
  pieces (``text_pieces``) cut after sentence ends.
* ``ComposedTextSegmenter``: an engine that learned composed text (NFC) given decomposed
  text (NFD) in its composed form, its tokens carried back to the text's own characters.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from typing import List


# Where a piece of a long text ends (text_pieces): after a sentence end or a line break, else
# at a run of spaces.
_SENTENCE_ENDS = re.compile(r"\r\n|[。．！？!?\n]")
_SPACES = re.compile(r"\s+")


class TokenizerPipe:
    """spaCy's tokenizer interface for a callable from text to ``Doc``: ``pipe`` calls it."""

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)



class SegmenterWrapper(TokenizerPipe):
    """A tokenizer around another, ``segmenter``, which is what it saves (its settings, or
    the rules the Maltese and English splitters refine)."""

    def __init__(self, segmenter):
        self.segmenter = segmenter
        self.vocab = segmenter.vocab

    def to_bytes(self, **kwargs) -> bytes:
        return self.segmenter.to_bytes(**kwargs)

    def from_bytes(self, data: bytes, **kwargs):
        self.segmenter.from_bytes(data, **kwargs)
        return self

    def to_disk(self, path, **kwargs) -> None:
        self.segmenter.to_disk(path, **kwargs)

    def from_disk(self, path, **kwargs):
        self.segmenter.from_disk(path, **kwargs)
        return self


class RulesRefiner(SegmenterWrapper):
    """A tokenizer that runs ``rules`` (the rule-based tokenizer) and moves some of its
    token boundaries by one language's convention (the Maltese article, English
    contractions). It saves ``rules``: the refinement is code, not data."""

    @property
    def rules(self):
        return self.segmenter

    @rules.setter
    def rules(self, rules) -> None:
        self.segmenter = rules


class PiecewiseSegmenter(SegmenterWrapper):
    """``segmenter`` on pieces of the text of at most ``max_bytes`` UTF-8 bytes
    (``text_pieces``), for engines with a length limit; their Docs are joined (``Doc.from_docs``:
    the text and the tokens' attributes kept; no sentence starts at the joins). A text that
    fits is passed whole."""

    def __init__(self, segmenter, max_bytes: int):
        super().__init__(segmenter)
        self.max_bytes = max_bytes

    def __call__(self, text: str):
        if len(text.encode("utf-8")) <= self.max_bytes:
            return self.segmenter(text)
        from spacy.tokens import Doc

        doc = Doc.from_docs([self.segmenter(piece) for piece in text_pieces(text, self.max_bytes)],
                            ensure_whitespace=False, exclude=["tensor"])
        for token in doc[1:]:  # from_docs starts a sentence at each piece; a segmenter sets none
            token.is_sent_start = None
        return doc


class ComposedTextSegmenter(SegmenterWrapper):
    """``segmenter`` on the composed form (NFC) of a text that is not composed, its tokens
    carried back to the text's own characters (``composed_text``): the segmenters learned
    composed text, and pyvi, jieba and DeepCut cut decomposed marks off their letters. A
    composed text is passed as it is, and its Doc returned unchanged (a mark that has no
    precomposed letter with its base, rare and in no alphabet of these languages, is then
    the segmenter's to handle).

    On decomposed text the Doc is rebuilt: a token keeps the tags, lemma, norm and
    morphology the segmenter gave it (SudachiPy sets them), whitespace tokens too; tokens
    merged because an edge fell between a letter and its mark get none, and the Doc keeps
    the segmenter's ``user_data`` only when no tokens were merged."""

    def __call__(self, text: str):
        if unicodedata.is_normalized("NFC", text):
            return self.segmenter(text)
        from spacy.tokens import Doc
        from spacy.util import get_words_and_spaces

        from .composed_text import ComposedText

        composed = ComposedText(text)
        segmented = self.segmenter(composed.composed)
        tokens = [t for t in segmented if not t.is_space]
        mapped = composed.spans_in_text([(t.idx, t.idx + len(t)) for t in tokens])
        # A span may begin or end with whitespace that a mark composed onto (" " + U+0301).
        words, sources = [], []
        for (start, end), k in mapped:
            word = text[start:end].strip()
            if word:
                words.append(word)
                sources.append(None if k is None else tokens[k])
        words, spaces = get_words_and_spaces(words, text)
        doc = Doc(self.vocab, words=words, spaces=spaces)
        for token, source in zip((t for t in doc if not t.is_space), sources):
            if source is not None:
                _copy_annotations(source, token)
        # Whitespace tokens (SudachiPy tags them 空白): the same whitespace in both texts.
        blank_out, blank_in = [t for t in doc if t.is_space], [t for t in segmented if t.is_space]
        if [t.text for t in blank_out] == [t.text for t in blank_in]:
            for token, source in zip(blank_out, blank_in):
                _copy_annotations(source, token)
        # Token-aligned lists (SudachiPy's sub_tokens) hold only where the tokens are the same.
        if len(doc) == len(segmented) and all(source is not None for source in sources):
            doc.user_data = dict(segmented.user_data)
        return doc


def _copy_annotations(source, token) -> None:
    """What a segmenter may set on a token besides its text (SudachiPy: tag, coarse tag,
    lemma, norm, morphology). The norm always: it is the composed text's, which is what a
    norm is for."""
    if source.tag_:
        token.tag_ = source.tag_
    if source.pos:
        token.pos = source.pos
    if source.lemma_:
        token.lemma_ = source.lemma_
    token.norm_ = source.norm_
    if source.has_morph():
        token.set_morph(str(source.morph))


def text_pieces(text: str, max_bytes: int) -> List[str]:
    """``text`` cut into pieces of at most ``max_bytes`` UTF-8 bytes that join back into it.

    A piece is at most ``max_bytes // 4`` characters (4 bytes: the longest UTF-8 character).
    It ends after the last sentence end or line break (``\\r\\n`` kept whole) in its second
    half, else before or after the last run of spaces there, else where it is full, moved back before
    any combining mark, joiner or variation selector (a character keeps its marks) and
    before a ``\\r\\n``."""
    size = max(1, max_bytes // 4)
    pieces, start = [], 0
    while len(text) - start > size:
        full = start + size
        # After a sentence end that fits whole (\r\n is not cut in two), else before or
        # after a run of spaces, not inside it.
        ends = [m.end() for m in _SENTENCE_ENDS.finditer(text, start + size // 2, full + 1) if m.end() <= full]
        if not ends:
            runs = _SPACES.finditer(text, start + size // 2, len(text))
            ends = [cut for m in itertools.takewhile(lambda m: m.start() <= full, runs)
                    for cut in (m.start(), m.end()) if start < cut <= full]
        end = ends[-1] if ends else None
        if end is None:
            end = full
            while end > start + 1 and (unicodedata.category(text[end])[0] == "M" or text[end] in "\u200c\u200d"
                                       or text[end - 1 : end + 1] == "\r\n"):
                end -= 1
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces

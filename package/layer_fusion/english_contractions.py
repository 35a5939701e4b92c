"""English: contractions split into their words, and abbreviations kept whole, by spaCy's
English tokenizer exceptions.

Universal Dependencies English (EWT, GUM) writes a contraction as a multiword token of the
words it contracts: ``don't`` is ``do`` ``n't``, ``I'm`` is ``I`` ``'m``, ``gonna`` is
``gon`` ``na``. The language-agnostic rules cut at the apostrophe instead (``don`` ``'t``),
which gives neither the treebank's words nor words the tagger learned, and they cut the full
stop off ``Dr.``. Both are one language's conventions, so ``layer-fusion tag --lang en``
(``segmenter = "en"``) applies them to the rules' tokens: a stretch of tokens written without
whitespace between them whose text is one of spaCy's English tokenizer exceptions
(``spacy.lang.en``, those the ``xx`` rules do not have already: ``english_exceptions``)
becomes that exception's tokens, with the norms it sets (``n't`` -> ``not``).

The exceptions are spaCy's, unchanged: ``can't`` -> ``ca`` ``n't``, ``cannot`` -> ``can``
``not``, apostrophe-less spellings too (``dont`` -> ``do`` ``nt``, ``im`` -> ``i`` ``m``), and
words spaCy leaves out stay whole (``its``, ``ill``, ``well``). They apply where spaCy's
tokenizer looks them up, a chunk less its leading and trailing punctuation and symbols
(``apply_exceptions``); spaCy also matches exceptions that hold punctuation inside a chunk
(``Mr.Smith`` -> ``Mr.`` ``Smith``), which this does not.
"""
from __future__ import annotations

import unicodedata
from typing import Dict, List, Optional, Tuple

from .segmenter_wrappers import RulesRefiner
from .token_boundaries import doc_with_norms, exception_norm

# A piece of an exception: its text and the norm it sets (None: the lexeme's own).
Piece = Tuple[str, Optional[str]]

# Suffixes spaCy's English tokenizer strips that are not punctuation: the possessive.
POSSESSIVES = frozenset({"'s", "'S", "\u2019s", "\u2019S"})


def english_exceptions() -> Dict[str, List[Piece]]:
    """spaCy's English tokenizer exceptions that its multilingual (``xx``) ones lack, as
    text -> pieces. ``"don't"`` -> ``[("do", "do"), ("n't", "not")]``."""
    from spacy.attrs import NORM, ORTH
    from spacy.lang.en import English
    from spacy.lang.xx import MultiLanguage

    shared = MultiLanguage.Defaults.tokenizer_exceptions
    return {
        text: [(piece[ORTH], piece.get(NORM)) for piece in pieces]
        for text, pieces in English.Defaults.tokenizer_exceptions.items()
        if text not in shared
    }


class EnglishContractionSplitter(RulesRefiner):
    """A tokenizer: the regular-expression rules of ``rules`` (the rule-based tokenizer) on
    the text, then ``apply_exceptions`` with spaCy's English exceptions, then the rules'
    whole-text steps (``MultilingualTokenizer.whole_text_rules``), which must see the final
    tokens (``goin'`` is an exception: its apostrophe closes no quotation). A special case
    of ``rules`` itself wins over an English exception, as a special case added to a spaCy
    tokenizer does. ``to_disk`` etc. save ``rules``: the exceptions ship with spaCy."""

    def __init__(self, rules):
        super().__init__(rules)
        self.exceptions = english_exceptions()
        self.longest = max(map(len, self.exceptions))

    def __call__(self, text: str):
        own = getattr(self.rules, "rules", None) or {}
        exceptions = _Without(self.exceptions, own) if own else self.exceptions
        doc = apply_exceptions(getattr(self.rules, "split", self.rules)(text), exceptions, self.longest)
        whole_text_rules = getattr(self.rules, "whole_text_rules", None)
        return whole_text_rules(doc, text) if whole_text_rules is not None else doc


class _Without:
    """``exceptions`` less the keys of ``own``, for lookups (``get``) only."""

    def __init__(self, exceptions: Dict[str, List[Piece]], own) -> None:
        self.exceptions = exceptions
        self.own = own

    def get(self, text: str):
        return None if text in self.own else self.exceptions.get(text)


def apply_exceptions(doc, exceptions: Dict[str, List[Piece]], longest: int):
    """``doc`` with the exceptions applied where spaCy's tokenizer looks its special cases
    up: in each chunk of tokens written without whitespace between them, a stretch whose text
    is a key of ``exceptions`` and that leaves only affixes before and after it in its chunk
    (tokens of punctuation and symbols, ``_is_affix``, and after it the possessive ``'s``)
    is replaced by that key's pieces. So ``don`` ``'t`` becomes ``do`` ``n't``, ``(`` ``I'm``
    ``)`` becomes ``(`` ``I`` ``'m`` ``)``, ``Inc`` ``.`` ``'s`` becomes ``Inc.`` ``'s``,
    while the ``id`` of ``id/password`` stays whole, as in spaCy. The longest stretch (at
    most ``longest`` characters) wins, tried from the left. A token left as it was keeps a
    norm that an exception of the rules set. Returns ``doc`` itself when nothing changes.
    Time: linear in the doc's length."""
    text = doc.text
    words: List[str] = []
    spaces: List[bool] = []
    norms: List[Optional[str]] = []
    changed = False
    for first, stop in _chunks(doc):
        # The stretch must begin at or before the chunk's first word and end at or after its last.
        latest_start = next((k for k in range(first, stop) if not _is_affix(doc[k].text)), stop - 1)
        earliest_end = next((k + 1 for k in range(stop - 1, first - 1, -1)
                             if not (_is_affix(doc[k].text) or doc[k].text in POSSESSIVES)), first + 1)
        i = first
        while i < stop:
            match = _longest_exception(doc, i, stop, earliest_end, text, exceptions, longest) \
                if i <= latest_start else None
            if match is None:
                token = doc[i]
                words.append(token.text)
                spaces.append(bool(token.whitespace_))
                norms.append(exception_norm(token))
                i += 1
                continue
            end, pieces = match
            changed = True
            for piece, norm in pieces:
                words.append(piece)
                spaces.append(False)
                norms.append(norm)
            spaces[-1] = bool(doc[end - 1].whitespace_)
            i = end
    return doc_with_norms(doc.vocab, words, spaces, norms) if changed else doc


def _is_affix(token_text: str) -> bool:
    """Whether a token is made of punctuation and symbols only (general categories P and
    S: quotes, brackets, `` `` ``, ``$``, emoji), what spaCy strips off a chunk."""
    return all(unicodedata.category(c)[0] in "PS" for c in token_text)


def _chunks(doc):
    """(first, stop) token indices of each run of tokens with no whitespace between them; a
    whitespace token (from a run of several spaces) is a run of its own."""
    first = 0
    for token in doc:
        if token.is_space:
            if first < token.i:
                yield first, token.i
            yield token.i, token.i + 1
            first = token.i + 1
        elif token.whitespace_ or token.i == len(doc) - 1:
            yield first, token.i + 1
            first = token.i + 1


def _longest_exception(doc, i: int, stop: int, earliest_end: int, text: str, exceptions, longest: int):
    """(end, pieces) of the longest stretch ``doc[i:end]``, ``earliest_end <= end <= stop``,
    whose text is a key of ``exceptions``; None when there is none."""
    start = doc[i].idx
    found = None
    for end in range(i + 1, stop + 1):
        last = doc[end - 1]
        if last.idx + len(last) - start > longest:
            break
        pieces = exceptions.get(text[start:last.idx + len(last)]) if end >= earliest_end else None
        if pieces is not None:
            found = (end, pieces)
    return found

"""Maltese: the definite article, and the prepositions fused with it, split from their word.

Maltese writes the article joined to the next word by a hyphen (``il-kelb`` "the dog"), and
Universal Dependencies (Maltese-MUDT) makes the article a word of its own: ``il-`` ``kelb``.
The language-agnostic rules keep a hyphen between letters inside the word (``Suid-Afrika``),
so ``layer-fusion tag --lang mt`` (``segmenter = "mt"``) splits the article off their tokens.

The forms come from Maltese grammar (the article and its assimilation), not from a treebank:

* ``il-`` and ``l-`` (after a vowel, and before one: ``l-ajru``), before a letter or a digit
  (``fl-2010``);
* before the "sun letters" ċ d n r s t x ż z the ``l`` becomes the next word's first consonant,
  written on both sides of the hyphen: ``id-dar``, ``ix-xemx``, ``iż-żiemel`` (``d-dar``
  after a vowel). The doubled consonant is required, which keeps ``t-shirt`` whole. Before a
  number written in digits it is the spoken number's first consonant (``fis-16`` "on the
  16th", ``it-2``); there a vowel or preposition must come first, which keeps ``T-90`` whole;
* fused with a preposition: ``fil-``/``fl-`` (fi "in"), ``bil-``/``bl-`` (bi "with"), ``mal-``
  (ma), ``tal-`` (ta' "of"), ``sal-`` (sa "until"), ``ġol-`` (ġo "inside"), ``lill-`` (lil
  "to"), ``għall-`` (għal "for"), ``mill-`` (minn "from"), ``bħall-`` (bħal "like"), and the
  same with a sun letter: ``fid-dinja``, ``tat-tifel``, ``lit-tifel``, ``għat-tfal``, ``mit-triq``.

The article token keeps its hyphen (``tal-``), as in UD. Lower or upper case alike, composed
or decomposed (``z`` + U+0307 for ``ż``), with a hyphen-minus or a Unicode hyphen (U+2010,
U+2011). Left whole: the demonstrative fused with the article (``dal-lejl``, ``dis-sena``),
and ``'l-`` after an apostrophe within a token. Words of other languages that happen to have
an article's form are split (``Mid-day``, ``L-shaped``): rare in Maltese text.
"""
from __future__ import annotations

import re
import unicodedata

from .segmenter_wrappers import RulesRefiner
from .token_boundaries import doc_with_norms, exception_norm


def _letter(composed: str) -> str:
    """A Maltese letter with a dot above, composed or decomposed (NFD)."""
    return {"ċ": "(?:ċ|c\u0307)", "ġ": "(?:ġ|g\u0307)", "ż": "(?:ż|z\u0307)"}.get(composed, composed)


_HYPHEN = "[-\u2010\u2011]"
_SUN = "(?:" + "|".join(_letter(c) for c in "ċdnrstxżz") + ")"
_GO = _letter("ġ") + "o"
# The preposition before the article's l: "lil", "għal", "mil" (minn) and "bħal" end in l
# already, and with the article's l give lill-, għall-, mill-, bħall-.
_BEFORE_L = f"(?:i|fi|f|bi|b|ma|ta|sa|{_GO}|lil|għal|mil|bħal)"
# The preposition (or the article's own i) before an assimilated article: lit-, għat-, mit-, bħat-.
_BEFORE_SUN = f"(?:i|fi|bi|ma|ta|sa|{_GO}|li|għa|mi|bħa)"
ARTICLE = re.compile(
    rf"{_BEFORE_L}?l{_HYPHEN}(?=[^\W_])"                   # il-kelb, l-ajru, tal-, fl-2010
    f"|{_BEFORE_SUN}?(?P<sun>{_SUN}){_HYPHEN}(?=(?P=sun))"  # id-dar, ix-xemx, d-dar, tat-tifel
    rf"|{_BEFORE_SUN}{_SUN}{_HYPHEN}(?=\d)",                # fis-16, it-2 (not T-90)
    re.IGNORECASE,
)


def article_end(text: str, start: int) -> int:
    """Where a Maltese article written at ``start`` (with its preposition and hyphen) ends in
    ``text``, or 0 when none is: ``article_end("mar tal-Kunsill", 4) == 8``. The article must
    start a word (no letter, mark, digit or hyphen before it) and a letter or digit must follow it
    (``il-`` alone is not split)."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "-\u2010\u2011"
                      or unicodedata.category(text[start - 1])[0] == "M"):
        return 0
    match = ARTICLE.match(text, start)
    return match.end() if match else 0


class MalteseArticleSplitter(RulesRefiner):
    """A tokenizer: ``rules`` (the rule-based tokenizer) on the text, then each article found
    at the start of a token (``article_end``) made a token of its own (``split_articles``):
    cut from its word where the rules kept the word whole (``il-kelb``, the multilingual
    rules), joined to its hyphen where they split it off (``il`` ``-`` ``kelb``, spaCy's
    ``xx`` rules). ``to_disk`` etc. save ``rules``, the wrapped tokenizer: the splitting is
    code, not data."""

    def __call__(self, text: str):
        return split_articles(self.rules(text))


def split_articles(doc):
    """``doc`` with each article at a token's start a token of its own, in one pass
    (``token_boundaries``); ``doc`` itself when it has none. The tokens the article
    covers are replaced by it, and a token it ends inside keeps its rest. A token whose
    text is unchanged keeps a norm that a tokenizer exception set."""
    text = doc.text
    ends = {token.i: end for token in doc if (end := article_end(text, token.idx))}
    if not ends:
        return doc
    words, spaces, norms = [], [], []
    covered = 0  # the end of the last article: characters before it are in its token
    for token in doc:
        start, stop = token.idx, token.idx + len(token)
        if token.i in ends:
            covered = ends[token.i]
            words.append(text[start:covered])
            spaces.append(False)
            norms.append(None)
        if stop <= covered:  # inside the article (no whitespace: a letter or digit follows it)
            continue
        words.append(text[max(start, covered):stop])
        spaces.append(bool(token.whitespace_))
        norms.append(exception_norm(token) if start >= covered else None)
    return doc_with_norms(doc.vocab, words, spaces, norms)

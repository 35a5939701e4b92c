"""A one-letter word that ends the text gives its full stop back: Welsh ``gen i.``, Yoruba
``sí i.``, English ``because of X.`` end ``i`` ``.`` and ``X`` ``.``, not ``i.`` and ``X.``.

Why. spaCy's exceptions keep a Latin letter and its full stop as one token (``a.``-``z.``),
and its suffix rules do not split a full stop after one upper-case letter, so that initials
and abbreviations (``J. Smith``, ``p. m.``) keep theirs. At the end of a text such a token is
more often a word and a full stop: over every ``# text`` line of UD's treebanks here, it is two
gold tokens 75 times and one 5 times (``Artículo V.``, ``T. K.``;
``reports/bench/final_one_letter_words.md``). Inside a text nothing tells a word ending a
sentence from an initial, so only the end of the text is changed.

Latin letters only: a Cyrillic letter's full stop is kept (``tokenizer_rules``:
``CYRILLIC_LETTER_ABBREVIATION``), as Belarusian-HSE keeps ``1932 г.`` whole at a text's end
where Russian-GSD splits it; a Greek capital keeps it too (``τον Α.``: no Greek treebank here to
measure); a lower-case Greek letter and the letters of other scripts lose it to the rules already.
``tokenizer.MultilingualTokenizer`` applies this after its regular-expression rules, since it
needs to know where the text ends.
"""
from __future__ import annotations

import unicodedata
from typing import Optional

from .token_boundaries import doc_with_norms, exception_norm


def final_one_letter_word(doc) -> Optional[int]:
    """The index of ``doc``'s last token that is not whitespace when it is one Latin letter
    (with any combining marks: decomposed text) and a full stop; None otherwise."""
    for token in reversed(doc):
        if not token.is_space:
            return token.i if _latin_letter_and_full_stop(token.text) else None
    return None


def full_stop_split_off(doc, i: int):
    """A new ``Doc`` of ``doc``'s text in which token ``i`` (``final_one_letter_word``) is
    split into its letter and its full stop, in one pass (``token_boundaries``). Norms that a
    tokenizer exception set are kept on the other tokens; the two new ones have their
    lexemes' norms."""
    words, spaces, norms = [], [], []
    for token in doc:
        if token.i == i:
            words += [token.text[:-1], "."]
            spaces += [False, bool(token.whitespace_)]
            norms += [None, None]
        else:
            words.append(token.text)
            spaces.append(bool(token.whitespace_))
            norms.append(exception_norm(token))
    return doc_with_norms(doc.vocab, words, spaces, norms)


def _latin_letter_and_full_stop(text: str) -> bool:
    return (
        len(text) >= 2
        and text[-1] == "."
        and unicodedata.category(text[0])[0] == "L"
        and unicodedata.name(text[0], "").startswith("LATIN ")
        and all(unicodedata.category(c)[0] == "M" for c in text[1:-1])
    )

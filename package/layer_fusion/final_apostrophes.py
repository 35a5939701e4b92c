"""Word-final apostrophes: which apostrophe tokens belong to the word before them (Maltese
``ta'``, Irish ``a'``, English ``students'``) rather than closing a quotation, and joining
them to it. ``tokenizer.MultilingualTokenizer`` applies this after its regular-expression
rules, since it needs the whole text."""
from __future__ import annotations

import unicodedata

from .token_boundaries import doc_with_norms, exception_norm

APOSTROPHES = ("'", "\u2019")  # ' and ’
OPENING_QUOTE = "\u2018"  # ‘


def word_final_apostrophes(doc):
    """Indices of apostrophe tokens to merge into the word before them: written right after
    a letter and before a space, punctuation or the end, while no quotation is open.

    A quotation opens at ``‘`` or at an apostrophe token written before a word, after
    whitespace (a space, a line break, a second space), an opening bracket, a quotation
    mark (``"'Hello'``, German ``»'Hallo'``: between a quote and a word an apostrophe
    opens), or at the start; the next apostrophe in closing position (right after a token,
    not before a letter or digit) closes it and stays a token of its own.
    """
    merges, open_quote = [], False
    for i, token in enumerate(doc):
        if token.text == OPENING_QUOTE:
            open_quote = True
            continue
        if token.text not in APOSTROPHES:
            continue
        next_is_word = (
            not token.whitespace_ and i + 1 < len(doc) and doc[i + 1].text[:1].isalnum()
        )
        attached = i > 0 and not doc[i - 1].whitespace_ and not _opens(doc[i - 1].text, next_is_word)
        if attached and not next_is_word:
            if open_quote:
                open_quote = False
            elif _ends_with_letter(doc[i - 1].text):
                merges.append(i)
        elif not attached and next_is_word:
            open_quote = True
    return merges


def joined_to_previous(doc, indices):
    """A new ``Doc`` of ``doc``'s text in which each token ``i`` of ``indices`` is joined to
    token ``i - 1``, in one pass (``token_boundaries``). Norms that a tokenizer exception set
    are kept on the tokens that are not joined; a joined token has its lexeme's norm."""
    joined = set(indices)
    words, spaces, norms = [], [], []
    for token in doc:
        if token.i in joined:
            words[-1] += token.text
            spaces[-1] = bool(token.whitespace_)
            norms[-1] = None
        else:
            words.append(token.text)
            spaces.append(bool(token.whitespace_))
            norms.append(exception_norm(token))
    return doc_with_norms(doc.vocab, words, spaces, norms)


def _opens(text: str, before_word: bool) -> bool:
    """Whether a token is whitespace (spaCy's token for a line break or a second space) or
    ends in an opening bracket or quote (``(``, ``[``, ``«``, ``“``): what may stand before a
    quotation. Before a word, also any quotation mark: ``"`` and the closing marks ``»``
    and ``”`` open quotations in German, Danish, Swedish and Finnish, and a closing quote
    is not followed by an apostrophe and a word."""
    category = unicodedata.category(text[-1])
    if text.isspace() or category in ("Ps", "Pi"):
        return True
    return before_word and (category == "Pf" or text[-1] == '"')


def _ends_with_letter(text: str) -> bool:
    return bool(text) and unicodedata.category(text[-1])[0] in "LM"

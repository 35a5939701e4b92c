"""A tokenizer's ``Doc`` rebuilt with other token boundaries, in one pass.

``Doc.retokenize`` merges and splits take time quadratic in the doc's length (a
500,000-character line with 18,000 merges took 3 s), and ``layer-fusion tag`` tokenizes each
line whole, so the steps that move boundaries after the rules (``final_apostrophes``,
``maltese_articles``, ``english_contractions``) build a new ``Doc`` from the words instead. What a tokenizer exception
set on a token beyond its text, its norm, is carried over (``exception_norm``)."""
from __future__ import annotations

from typing import List, Optional


def exception_norm(token) -> Optional[str]:
    """``token``'s norm when a tokenizer exception set one other than its lexeme's, else None."""
    return token.norm_ if token.norm != token.lex.norm else None


def doc_with_norms(vocab, words: List[str], spaces: List[bool], norms: List[Optional[str]]):
    """``Doc(vocab, words, spaces)`` with ``norms[i]`` set on token ``i`` where it is not None."""
    from spacy.tokens import Doc

    doc = Doc(vocab, words=words, spaces=spaces)
    for token, norm in zip(doc, norms):
        if norm is not None:
            token.norm_ = norm
    return doc

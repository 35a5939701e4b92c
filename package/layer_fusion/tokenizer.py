"""A language-agnostic tokenizer for raw text in many scripts.

``layer_fusion.MultilingualTokenizer.v1`` is spaCy's rule-based ``Tokenizer`` built from
the rules of ``layer_fusion.tokenizer_rules`` (what each changes in spaCy's ``xx`` rules, and
why), plus the two rules that need the whole text (``MultilingualTokenizer``: a word-final
apostrophe stays with its word unless it closes a quotation; a one-letter word that ends the
text gives its full stop back).

Languages without spaces between words need a dictionary or a model: the registered
tokenizer's ``segmenter`` setting (``th``, ``vi``, ``zh``, ``ja``) swaps in one of
``layer_fusion.segmenters.SEGMENTERS``. So do Maltese (``mt``), whose article is one
language's convention (``layer_fusion.maltese_articles`` splits it from the rules' tokens),
and English (``en``), whose contractions are (``layer_fusion.english_contractions``).
"""
from __future__ import annotations

from typing import Callable, Optional

from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex, registry

from .final_apostrophes import APOSTROPHES, joined_to_previous, word_final_apostrophes
from .final_one_letter_words import final_one_letter_word, full_stop_split_off
from .segmenters import SEGMENTERS, segmenting_tokenizer
from .tokenizer_rules import (
    RULES,
    multilingual_exceptions,
    multilingual_infixes,
    multilingual_prefixes,
    multilingual_suffixes,
    multilingual_token_match,
)


def multilingual_tokenizer(nlp, without=()) -> Tokenizer:
    """The tokenizer of ``tokenizer_rules`` and ``MultilingualTokenizer``, on ``nlp.vocab``.

    without: names from ``RULES`` to leave out (for measuring each rule).
    """
    unknown = set(without) - set(RULES)
    if unknown:
        raise ValueError(f"unknown tokenizer rule(s) {sorted(unknown)}; known: {', '.join(RULES)}")
    return MultilingualTokenizer(
        nlp.vocab,
        final_apostrophes="final_apostrophes" not in without,
        final_one_letter_words="final_one_letter_words" not in without,
        rules=multilingual_exceptions(nlp.Defaults.tokenizer_exceptions, without),
        prefix_search=compile_prefix_regex(multilingual_prefixes(without)).search,
        suffix_search=compile_suffix_regex(multilingual_suffixes(without)).search,
        infix_finditer=compile_infix_regex(multilingual_infixes(without)).finditer,
        token_match=multilingual_token_match(without),
        url_match=nlp.Defaults.url_match,
    )


class MultilingualTokenizer(Tokenizer):
    """spaCy's ``Tokenizer`` plus two rules a regular expression cannot express, since they
    need the whole text. **A word-final apostrophe stays with its word** (Maltese ``ta'``,
    Irish ``a'``, English ``students'``) **unless it closes a quotation** opened earlier in
    the text (``'Jail-Deliverer'``, ``‘Ráákà’``).

    The regular-expression rules split a final apostrophe off as a suffix, as spaCy does;
    ``__call__`` then joins it back where no quotation is open (``joined_to_previous``, in
    time linear in the text's length). A quotation opens at ``‘``,
    or at an apostrophe written before a word (whitespace, an opening bracket or quote, any
    quotation mark, or the start of the text before it: ``final_apostrophes``). **A
    one-letter word that ends the text gives its full stop back** (Welsh ``gen i.`` ends
    ``i`` ``.``, where spaCy's exceptions keep ``i.``, as for an initial: Latin letters only,
    ``final_one_letter_words``).

    final_apostrophes, final_one_letter_words: apply each rule. Both are saved with the
    pipeline; a pipeline saved before a rule existed loads with it off, so its tokens do not
    change.
    """

    SETTINGS = ("final_apostrophes", "final_one_letter_words")

    def __init__(self, *args, final_apostrophes: bool = True, final_one_letter_words: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.final_apostrophes = final_apostrophes
        self.final_one_letter_words = final_one_letter_words

    def __call__(self, text):
        return self.whole_text_rules(self.split(text), text)

    def whole_text_rules(self, doc, text: str):
        """``doc`` (the tokens of ``text``, however split) with the rules that need the
        whole text applied, those that are on: word-final apostrophes joined
        (``join_final_apostrophes``), then a text-final one-letter word's full stop split
        off."""
        doc = self.join_final_apostrophes(doc, text)
        if self.final_one_letter_words:
            i = final_one_letter_word(doc)
            if i is not None:
                return full_stop_split_off(doc, i)
        return doc

    def split(self, text):
        """``text`` split by the regular-expression rules alone (spaCy's ``Tokenizer``)."""
        return super().__call__(text)

    def join_final_apostrophes(self, doc, text: str):
        """``doc`` (the tokens of ``text``, however split: ``SegmentingTokenizer`` joins the
        rules' and a segmenter's, and a quotation may open in one and close in the other)
        with its word-final apostrophes joined to their words, when the rule is on. ``text``
        is given, not read from ``doc.text``, which joins every token again."""
        if self.final_apostrophes and any(a in text for a in APOSTROPHES):
            merges = word_final_apostrophes(doc)
            if merges:
                return joined_to_previous(doc, merges)
        return doc

    def __reduce__(self):
        cls, args, _, _ = super().__reduce__()
        return (cls, args, {name: getattr(self, name) for name in self.SETTINGS})

    def __setstate__(self, state):
        for name in self.SETTINGS:
            setattr(self, name, state.get(name, False))  # pickled before the rule: off

    def to_bytes(self, *, exclude=tuple()):
        import srsly

        data = srsly.msgpack_loads(super().to_bytes(exclude=exclude))
        for name in self.SETTINGS:
            data[name] = getattr(self, name)
        return srsly.msgpack_dumps(data)

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        import srsly

        super().from_bytes(bytes_data, exclude=exclude)
        data = srsly.msgpack_loads(bytes_data)
        for name in self.SETTINGS:
            setattr(self, name, bool(data.get(name, False)))
        return self


@registry.tokenizers("layer_fusion.MultilingualTokenizer.v1")
def create_multilingual_tokenizer(segmenter: Optional[str] = None) -> Callable:
    """Config: ``[nlp.tokenizer] @tokenizers = "layer_fusion.MultilingualTokenizer.v1"``.

    segmenter: null (the language-agnostic rules) or one of ``SEGMENTERS``, which then
        splits the text (``segmenters.SegmentingTokenizer``; the rules are still saved).
    """
    if segmenter is not None and segmenter not in SEGMENTERS:
        raise ValueError(
            f"[nlp.tokenizer] segmenter = {segmenter!r}: expected null or one of {', '.join(sorted(SEGMENTERS))}"
        )

    def make(nlp):
        rules = multilingual_tokenizer(nlp)
        if segmenter is not None:
            return segmenting_tokenizer(rules, segmenter)
        return rules

    return make

"""Encoder windows that stay inside sentences: a paragraph tagged as a whole is tagged as
its sentences would be, one at a time.

The shipped tagger is trained on one sentence per Doc, so every encoder window it saw held
one sentence. spacy-transformers' ``strided_spans`` cuts a Doc into windows of ``window``
tokens every ``stride`` tokens wherever its sentences end, so a paragraph given as one text
puts parts of several sentences in one window, contexts the tagger never saw in training.
That costs UPOS F1 on raw text (``reports/bench/documents.md``), so the shipped config
(``configs/finetune.cfg``) puts a sentencizer before its transformer and uses this getter.

``layer_fusion.sentence_strided_spans.v1(window, stride)`` gives, for a Doc whose sentence
boundaries are set (a ``sentencizer`` or ``senter`` before the transformer, or
``sent_starts`` given to ``Doc``), the strided spans of each sentence in turn:

    spans(doc) = strided(s_1) + strided(s_2) + ...,   s_k the k-th sentence (a Span)
    strided(s) = s[0:window], s[stride:stride + window], ... until a span reaches the
                 end of s (spacy-transformers' ``get_strided_spans``, applied to s)

and for a Doc without sentence boundaries, ``strided(doc)``: exactly what
``strided_spans`` gives. A Doc of one sentence gets the same spans from both, so training
on one sentence per Doc is the same with either getter.

``as_one_sentence(doc)`` marks a Doc as one sentence, so that a sentencizer after it splits
nothing: the evaluations give the pipeline one UD sentence per Doc, boundaries given.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, Iterable, List

if TYPE_CHECKING:  # spacy-transformers imports torch: not when only as_one_sentence is used
    from spacy.tokens import Doc, Span


def get_sentence_strided_spans(docs: Iterable["Doc"], window: int, stride: int) -> List[List["Span"]]:
    """For each Doc, the strided spans of each of its sentences (module docstring)."""
    from spacy_transformers.span_getters import get_strided_spans

    spans: List[List["Span"]] = []
    for doc in docs:
        if not doc.has_annotation("SENT_START"):
            spans.append(get_strided_spans([doc], window, stride)[0])
            continue
        # get_strided_spans slices what it is given; a sentence Span sliced gives Spans of the Doc.
        spans.append([span for sentence in doc.sents for span in get_strided_spans([sentence], window, stride)[0]])
    return spans


def configure_sentence_strided_spans(window: int, stride: int) -> Callable[[Iterable["Doc"]], List[List["Span"]]]:
    """Registered as ``layer_fusion.sentence_strided_spans.v1`` (``span_getters``); the same
    settings as ``spacy-transformers.strided_spans.v1``."""
    return partial(get_sentence_strided_spans, window=window, stride=stride)


def as_one_sentence(doc: "Doc") -> "Doc":
    """``doc`` marked as one sentence: its first token starts it and no other does. A
    ``sentencizer`` keeps boundaries already set, so it splits nothing after this; the
    evaluations, whose texts are one UD sentence each, use it (sentence boundaries given)."""
    for token in doc:
        token.is_sent_start = token.i == 0
    return doc

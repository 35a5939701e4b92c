"""Raw text in, several sentences at a time: what a user who tags paragraphs gets.

``raw_text.evaluate_raw_text`` gives the pipeline one sentence's text at a time. Users tag
paragraphs and documents. Here consecutive sentences are joined into one text, tagged as
one Doc, and each sentence is scored on its own share of the predicted tokens with
``raw_text.score_sentence`` (CoNLL 2018 span alignment), so the two evaluations compare
sentence by sentence and their counts have the same shape.

Texts (``text_units``): the sentences of one paragraph (``# newpar``) of one document
(``# newdoc``), at most ``max_sentences`` of them; a set without paragraph marks is cut
every ``max_sentences`` sentences. A unit's sentence texts x_1..x_n are joined with one
space:

    text = x_1 + " " + x_2 + ... + " " + x_n,   offset_k = sum_{j<k} (len(x_j) + 1)

A predicted token belongs to the sentence in which it starts and is scored there with the
span (start - offset_k, end - offset_k); one that runs on past its sentence's end (a
tokenizer that joined across the space) matches no gold token and counts as predicted.

``sentence_start_counts`` counts how many of UD's sentence starts inside those texts the
pipeline's own sentence boundaries find: a sentencizer's, which keep the encoder's windows
inside sentences (``sentence_spans.py``).
"""
from __future__ import annotations

import time
from bisect import bisect_right
from typing import Callable, List, NamedTuple, Optional, Sequence

import numpy as np

from .conllu import Sentence
from .raw_text import RawTextResult, SentenceCounts, gold_spans, score_sentence, sentence_texts

# Sentences per text when a set marks no paragraphs: about a paragraph.
DEFAULT_MAX_SENTENCES = 10


def starts_paragraph(sentence: Sentence, previous: Optional[Sentence]) -> bool:
    """Whether ``sentence`` begins a paragraph: a ``# newpar`` line, a ``# newdoc`` line
    without an id (``conllu`` keeps it on its own sentence), or another document than the sentence
    before (``# newdoc id`` is inherited until the next ``# newdoc``)."""
    if previous is None:
        return True
    return any(key in ("newpar", "newdoc") or key.startswith("newpar ") for key in sentence.meta) \
        or sentence.doc_id != previous.doc_id


def text_units(sentences: Sequence[Sentence], max_sentences: int = DEFAULT_MAX_SENTENCES) -> List[List[int]]:
    """Consecutive sentence indices, one list per text (module docstring)."""
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1, not {max_sentences}")
    units: List[List[int]] = []
    for i, sentence in enumerate(sentences):
        if not units or len(units[-1]) >= max_sentences or starts_paragraph(sentence, sentences[i - 1] if i else None):
            units.append([])
        units[-1].append(i)
    return units


class JoinedUnits(NamedTuple):
    units: List[List[int]]  # sentence indices of each text
    texts: List[str]  # each unit's sentence texts joined by one space
    offsets: List[List[int]]  # offset_k of each sentence in its text (module docstring)


def joined_units(texts: Sequence[str], units: List[List[int]]) -> JoinedUnits:
    """The texts of ``units`` (from ``text_units``) built from the sentence ``texts``, and
    where each sentence starts in its text."""
    joined = [" ".join(texts[i] for i in unit) for unit in units]
    offsets = [np.cumsum([0] + [len(texts[i]) + 1 for i in unit[:-1]]).tolist() for unit in units]
    return JoinedUnits(units, joined, offsets)


class SentenceStarts(NamedTuple):
    """Sentence starts inside the texts of ``text_units`` (each text's first is given):
    ``gold`` the UD sentences' (x_2..x_n of each text), ``found`` the pipeline's, ``correct``
    both, matched by character offset. precision = correct / found, recall = correct / gold."""
    gold: int
    found: int
    correct: int


def sentence_start_counts(nlp, sentences: Sequence[Sentence], max_sentences: int = DEFAULT_MAX_SENTENCES,
                          batch_size: int = 64) -> SentenceStarts:
    """How well the sentence boundaries ``nlp`` sets (``doc.sents``; a ``sentencizer``, say)
    find the UD sentence starts of the texts ``evaluate_raw_documents`` tags. A gold start is
    its sentence's first non-space character; a found one, the first character of a predicted
    sentence after the first. A Doc without boundaries finds none."""
    sentences = list(sentences)
    texts, _ = sentence_texts(sentences)
    units, joined, unit_offsets = joined_units(texts, text_units(sentences, max_sentences))
    gold = found = correct = 0
    for doc, unit, offsets in zip(nlp.pipe(joined, batch_size=batch_size), units, unit_offsets):
        starts = {offsets[k] + len(texts[i]) - len(texts[i].lstrip()) for k, i in enumerate(unit) if k > 0}
        predicted = {sent.start_char for sent in list(doc.sents)[1:]} if doc.has_annotation("SENT_START") else set()
        gold, found, correct = gold + len(starts), found + len(predicted), correct + len(starts & predicted)
    return SentenceStarts(gold, found, correct)


def evaluate_raw_documents(
    nlp,
    sentences: Sequence[Sentence],
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    batch_size: int = 64,
    n_resamples: int = 1000,
    seed: int = 0,
    name: str = "",
    progress: Optional[Callable[[int], None]] = None,
) -> RawTextResult:
    """Tag each unit of ``text_units`` as one text with ``nlp`` and score every sentence
    (module docstring). Texts go through ``nlp.pipe`` shortest first (less padding).
    ``progress`` is called with the number of sentences of each text as it is scored.
    ``seconds`` covers tokenizing and tagging only."""
    sentences = list(sentences)
    texts, rebuilt = sentence_texts(sentences)
    units, joined, unit_offsets = joined_units(texts, text_units(sentences, max_sentences))
    counts: List[Optional[SentenceCounts]] = [None] * len(sentences)
    order = sorted(range(len(units)), key=lambda u: len(joined[u]))
    start, scoring = time.perf_counter(), 0.0
    for u, doc in zip(order, nlp.pipe((joined[u] for u in order), batch_size=batch_size)):
        scored = time.perf_counter()
        unit, offsets = units[u], unit_offsets[u]
        spans: List[list] = [[] for _ in unit]
        tags: List[list] = [[] for _ in unit]
        for token in doc:
            if token.is_space:
                continue
            k = bisect_right(offsets, token.idx) - 1
            spans[k].append((token.idx - offsets[k], token.idx - offsets[k] + len(token.text)))
            tags[k].append(token.pos_)
        for k, i in enumerate(unit):
            counts[i] = score_sentence(sentences[i], texts[i], gold_spans(sentences[i], texts[i]), spans[k], tags[k])
        if progress is not None:
            progress(len(unit))
        scoring += time.perf_counter() - scored
    seconds = time.perf_counter() - start - scoring
    return RawTextResult.from_counts(name, sentences, counts, rebuilt_texts=rebuilt, seconds=seconds,
                                     n_resamples=n_resamples, seed=seed)

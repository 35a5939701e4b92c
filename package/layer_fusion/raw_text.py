"""End-to-end evaluation on raw text: what a user who tags plain text gets.

The gold-word evaluation (``evaluation.py``) hands the pipeline UD's own words. Here the
pipeline gets each sentence's ``# text`` and tokenizes it itself; predictions are aligned
to the gold by character spans, as in the CoNLL 2018 shared task (Zeman et al. 2018),
one gold sentence at a time (sentence boundaries are given, not predicted).

Spans: sentence text x; gold surface token k covers x[s_k:e_k]; a predicted token t
covers x[t.idx : t.idx + len(t.text)] (whitespace tokens are not predictions). Per
sentence i:

    g_i = #gold surface tokens,  p_i = #predicted tokens,
    m_i = #predicted spans equal to some gold surface token's span,
    w_i = #gold syntactic words,
    c_i = #gold words aligned to a predicted token (below) whose UPOS equals the word's.

    token F1 = 2 sum m / (sum g + sum p)
    UPOS F1  = 2 sum c / (sum w + sum p)

Word alignment (``conll18_alignment``), as in the shared task's evaluation script: a word
outside multiword tokens is aligned to the predicted token with the same span. Multiword
tokens (``n-m`` lines: Portuguese "do" = de + o, Welsh, Breton, English "don't" = do + n't)
count as one surface token in token F1; inside one, the token's words share its span, so
they are aligned to the predicted tokens that fall in it by the longest common subsequence
of their lowercased forms. A pipeline that leaves "don't" whole aligns nothing there; one
that splits it into "do" and "n't" aligns both words. ``words_in_multiword_tokens`` says how
many words are in multiword tokens. ``tests/test_raw_text_conll18.py`` checks these counts
against the script itself (``udtools.udeval``) on real treebanks.

What multiword tokens alone cost (``mwt_unsplit_upos_f1``): the gold-word evaluation's
tags scored as if the pipeline had found every surface token but split none,

    UPOS F1 (gold-word tags, MWTs unsplit) = 2 sum c'_i / (sum w_i + sum g_i),

c'_i = #words outside multiword tokens tagged correctly on gold words. It is the raw-text
UPOS F1 of a perfect tokenizer that leaves multiword tokens whole, if the tagger tagged
the other words as it does on gold words and no multiword token were spelled like one of
its words; with no multiword tokens it is the gold-word accuracy.

F1 = 2m / (g + p) is a ratio of per-sentence sums, so the sentence bootstrap of
``bootstrap.py`` gives its CI unchanged (c_i -> 2 m_i, w_i -> g_i + p_i).
"""
from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .bootstrap import _finite, bootstrap_ci
from .conllu import Sentence
from .conll18_alignment import aligned_words
from .sentence_spans import as_one_sentence

Span = Tuple[int, int]

# Languages written without spaces between words (Thai), or with spaces between
# syllables rather than words (Vietnamese): a language-agnostic tokenizer cannot find
# their words, so their token F1 is reported apart from the others'.
LANGUAGES_WITHOUT_WORD_SPACES = frozenset({"th", "vi", "zh", "ja", "lo", "km", "my"})


def sentence_text(sentence: Sentence) -> Tuple[str, bool]:
    """The sentence's raw text and whether it is the ``# text`` line.

    The ``# text`` line (NFC) is used when every surface token is found in it, in order,
    with only whitespace between them; otherwise (no line, or one that disagrees with the
    tokens) the text is rebuilt from the tokens (NFC each) and their ``SpaceAfter``. Two
    tokens written together whose characters compose across the boundary (Tamil ``கெ`` +
    ``ா``) are not found in their ``# text`` line's NFC form, and the rebuilt text keeps
    them as they are: not NFC there, so that each token is still found in it.
    """
    tokens, token_words = sentence.surface_tokens()
    if sentence.text:
        text = unicodedata.normalize("NFC", sentence.text)
        if _locate(text, tokens) is not None:
            return text, True
    pieces = []
    for form, (_, end) in zip(tokens, token_words):
        pieces.append(form + (" " if sentence.spaces[end - 1] else ""))
    return "".join(pieces).rstrip(" "), False


def sentence_texts(sentences: Sequence[Sentence]) -> Tuple[List[str], int]:
    """Each sentence's ``sentence_text``, and how many of them were rebuilt from tokens."""
    texts, rebuilt = [], 0
    for sentence in sentences:
        text, from_line = sentence_text(sentence)
        texts.append(text)
        rebuilt += not from_line
    return texts, rebuilt


def gold_spans(sentence: Sentence, text: str) -> List[Span]:
    """Character spans of the sentence's surface tokens in ``text`` (see ``sentence_text``)."""
    spans = _locate(text, sentence.surface_tokens()[0])
    if spans is None:
        raise ValueError(f"sentence {sentence.sent_id or sentence.line}: tokens not found in its text")
    return spans


def _locate(text: str, tokens: Sequence[str]) -> Optional[List[Span]]:
    spans: List[Span] = []
    pos = 0
    for form in tokens:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith(form, pos):
            return None
        spans.append((pos, pos + len(form)))
        pos += len(form)
    if text[pos:].strip():
        return None
    return spans


def predicted_spans(doc) -> List[Span]:
    """Character spans of a Doc's tokens, whitespace tokens left out."""
    return [(t.idx, t.idx + len(t.text)) for t in doc if not t.is_space]


@dataclass
class SentenceCounts:
    gold_tokens: int
    predicted_tokens: int
    matched_tokens: int
    gold_words: int
    correct_upos: int


def score_sentence(
    sentence: Sentence,
    text: str,
    spans: Sequence[Span],
    predicted: Sequence[Span],
    predicted_upos: Sequence[str] = (),
) -> SentenceCounts:
    """Counts of one sentence (module docstring). ``spans`` are the gold token spans in
    ``text``, ``predicted`` the predicted tokens' spans in it, in order.

    ``predicted_upos`` is parallel to ``predicted``; leave it empty to score tokens only.
    """
    gold_token = set(spans)
    matched = sum(span in gold_token for span in predicted)
    correct = 0
    if predicted_upos:
        word_spans: List[Span] = []
        in_mwt: List[bool] = []
        for span, (start, end) in zip(spans, sentence.surface_tokens()[1]):
            word_spans += [span] * (end - start)
            in_mwt += [end - start > 1] * (end - start)
        # The script removes space characters (Zs) from system forms, not from the gold words
        # of a multiword token: a segmenter's "B a" is compared as "Ba".
        forms = ["".join(c for c in text[a:b] if unicodedata.category(c) != "Zs") for a, b in predicted]
        pairs = aligned_words(word_spans, in_mwt, sentence.words, predicted, forms)
        correct = sum(sentence.upos[w] == predicted_upos[t] for w, t in pairs)
    return SentenceCounts(len(spans), len(predicted), matched, len(sentence.words), correct)


@dataclass
class RawTextResult:
    """Per-sentence counts of one evaluation set (arrays of shape (n_sentences,))."""

    name: str
    gold_tokens: np.ndarray
    predicted_tokens: np.ndarray
    matched_tokens: np.ndarray
    gold_words: np.ndarray
    correct_upos: np.ndarray
    words_in_multiword_tokens: int = 0
    rebuilt_texts: int = 0
    tagged: bool = True
    seconds: float = 0.0
    n_resamples: int = 1000
    seed: int = 0

    @classmethod
    def from_counts(cls, name: str, sentences: Sequence[Sentence], counts: Sequence[SentenceCounts],
                    **settings) -> "RawTextResult":
        """The result of ``counts`` (one per sentence of ``sentences``, in order); ``settings``
        are the other fields (``rebuilt_texts``, ``seconds``, ...)."""
        def column(field: str) -> np.ndarray:
            return np.fromiter((getattr(c, field) for c in counts), dtype=np.int64, count=len(counts))

        return cls(
            name=name,
            gold_tokens=column("gold_tokens"),
            predicted_tokens=column("predicted_tokens"),
            matched_tokens=column("matched_tokens"),
            gold_words=column("gold_words"),
            correct_upos=column("correct_upos"),
            words_in_multiword_tokens=sum(e - b for s in sentences for b, e in s.token_words if e - b > 1),
            **settings,
        )

    @property
    def token_f1(self) -> float:
        return _f1(self.matched_tokens, self.gold_tokens, self.predicted_tokens)

    @property
    def upos_f1(self) -> float:
        return _f1(self.correct_upos, self.gold_words, self.predicted_tokens)

    def token_f1_counts(self) -> Tuple[np.ndarray, np.ndarray]:
        """(2 m_i, g_i + p_i): the ratio-of-sums form the bootstrap resamples."""
        return 2 * self.matched_tokens, self.gold_tokens + self.predicted_tokens

    def upos_f1_counts(self) -> Tuple[np.ndarray, np.ndarray]:
        """(2 c_i, w_i + p_i)."""
        return 2 * self.correct_upos, self.gold_words + self.predicted_tokens

    def to_dict(self) -> Dict[str, Any]:
        token_ci = bootstrap_ci(*self.token_f1_counts(), self.n_resamples, self.seed)
        data: Dict[str, Any] = {
            "token_f1": _finite(self.token_f1),
            "token_f1_ci95": [_finite(x) for x in token_ci],
            "gold_tokens": int(self.gold_tokens.sum()),
            "predicted_tokens": int(self.predicted_tokens.sum()),
            "matched_tokens": int(self.matched_tokens.sum()),
            "gold_words": int(self.gold_words.sum()),
            "words_in_multiword_tokens": self.words_in_multiword_tokens,
            "rebuilt_texts": self.rebuilt_texts,
        }
        if self.tagged:
            upos_ci = bootstrap_ci(*self.upos_f1_counts(), self.n_resamples, self.seed)
            data.update(
                upos_f1=_finite(self.upos_f1),
                upos_f1_ci95=[_finite(x) for x in upos_ci],
                correct_upos=int(self.correct_upos.sum()),
            )
        data["seconds"] = round(self.seconds, 4)
        data["per_sentence"] = {
            "gold_tokens": self.gold_tokens.tolist(),
            "predicted_tokens": self.predicted_tokens.tolist(),
            "matched_tokens": self.matched_tokens.tolist(),
            "gold_words": self.gold_words.tolist(),
        }
        if self.tagged:
            data["per_sentence"]["correct_upos"] = self.correct_upos.tolist()
        return data


def mwt_unsplit_upos_f1(
    sentences: Sequence[Sentence], correct_outside_mwt: np.ndarray, n_resamples: int = 1000, seed: int = 0
) -> Dict[str, Any]:
    """UPOS F1 of the gold-word tags with multiword tokens left unsplit (module docstring).

    correct_outside_mwt[i] = c'_i, the gold-word evaluation's correct tags of sentence i
    outside multiword tokens (``TreebankResult.sent_correct_outside_mwt``).
    """
    hits = 2 * np.asarray(correct_outside_mwt, dtype=np.int64)
    total = np.fromiter((len(s) + (len(s.tokens) or len(s)) for s in sentences), dtype=np.int64,
                        count=len(sentences))
    f1 = int(hits.sum()) / int(total.sum()) if total.sum() else float("nan")
    return {
        "upos_f1": _finite(f1),
        "upos_f1_ci95": [_finite(x) for x in bootstrap_ci(hits, total, n_resamples, seed)],
        "correct_outside_multiword_tokens": int(np.sum(correct_outside_mwt)),
    }


def _f1(hits: np.ndarray, gold: np.ndarray, predicted: np.ndarray) -> float:
    total = int(gold.sum() + predicted.sum())
    return 2 * int(hits.sum()) / total if total else float("nan")


def evaluate_raw_text(
    nlp,
    sentences: Iterable[Sentence],
    batch_size: int = 64,
    n_resamples: int = 1000,
    seed: int = 0,
    name: str = "",
    tokenize_only: bool = False,
    progress: Optional[Callable[[int], None]] = None,
) -> RawTextResult:
    """Run ``nlp`` (or only ``nlp.tokenizer``) on each sentence's raw text and score it.

    Sentences go through ``nlp.pipe`` in order of text length (less padding); results go
    back to their sentence by index. ``seconds`` covers tokenizing and tagging only.
    ``progress`` is called with 1 as each sentence is scored (e.g. a tqdm bar's ``update``).
    """
    sentences = [s for s in sentences]
    texts, rebuilt = sentence_texts(sentences)
    n = len(sentences)
    counts: List[Optional[SentenceCounts]] = [None] * n
    order = sorted(range(n), key=lambda i: len(texts[i]))
    start, scoring = time.perf_counter(), 0.0
    if tokenize_only:
        docs = (nlp.tokenizer(texts[i]) for i in order)
    else:
        # One UD sentence per text, its boundary given: a sentencizer in the pipeline splits nothing.
        docs = nlp.pipe((as_one_sentence(nlp.make_doc(texts[i])) for i in order), batch_size=batch_size)
    for i, doc in zip(order, docs):
        scored = time.perf_counter()
        pred = predicted_spans(doc)
        tags = [] if tokenize_only else [t.pos_ for t in doc if not t.is_space]
        counts[i] = score_sentence(sentences[i], texts[i], gold_spans(sentences[i], texts[i]), pred, tags)
        if progress is not None:
            progress(1)
        scoring += time.perf_counter() - scored
    seconds = time.perf_counter() - start - scoring
    return RawTextResult.from_counts(name, sentences, counts, rebuilt_texts=rebuilt, tagged=not tokenize_only,
                                     seconds=seconds, n_resamples=n_resamples, seed=seed)


def token_disagreements(
    tokenizer, sentences: Iterable[Sentence], limit: int = 10
) -> List[Tuple[str, int]]:
    """The most frequent tokenization errors of ``tokenizer`` on ``sentences``.

    An error is a maximal stretch of text where gold and predicted token boundaries
    disagree, written ``gold tokens => predicted tokens`` (tokens joined by ``|``);
    returns the ``limit`` most frequent with their counts.
    """
    from collections import Counter

    errors: Counter = Counter()
    for s in sentences:
        text, _ = sentence_text(s)
        gold = gold_spans(s, text)
        pred = predicted_spans(tokenizer(text))
        for g, p in _disagreeing_stretches(gold, pred):
            errors[" | ".join(text[a:b] for a, b in g) + " => " + " | ".join(text[a:b] for a, b in p)] += 1
    return errors.most_common(limit)


def disagreement_kinds(tokenizer, sentences: Iterable[Sentence], limit: int = 10) -> Dict[str, Dict]:
    """The tokenization errors of ``tokenizer`` on ``sentences``, by kind: in a stretch of
    disagreement (as ``token_disagreements``), one gold token cut into several predicted
    ones is ``split``, several gold tokens taken as one is ``merged``, the rest
    (boundaries that cross, or tokens on one side only at a sentence's end) ``other``. A
    convention gap shows here: a segmenter that follows finer conventions than the
    treebank splits, a coarser one merges.

    Returns, per kind, ``gold_tokens`` (the gold tokens in its stretches), ``stretches``
    and ``top``: the ``limit`` most frequent stretches, written as ``token_disagreements``
    writes them, with their counts; and ``all_gold_tokens``, the sentences' gold tokens."""
    from collections import Counter

    kinds = {kind: {"gold_tokens": 0, "stretches": 0, "top": Counter()} for kind in ("split", "merged", "other")}
    total = 0
    for s in sentences:
        text, _ = sentence_text(s)
        gold = gold_spans(s, text)
        total += len(gold)
        for g, p in _disagreeing_stretches(gold, predicted_spans(tokenizer(text))):
            kind = kinds["split" if len(g) == 1 < len(p) else "merged" if len(p) == 1 < len(g) else "other"]
            kind["gold_tokens"] += len(g)
            kind["stretches"] += 1
            kind["top"][" | ".join(text[a:b] for a, b in g) + " => " + " | ".join(text[a:b] for a, b in p)] += 1
    for kind in kinds.values():
        kind["top"] = kind["top"].most_common(limit)
    return {**kinds, "all_gold_tokens": total}


def _disagreeing_stretches(gold: Sequence[Span], pred: Sequence[Span]):
    """Group gold and predicted spans into minimal stretches that cover the same text;
    yield the stretches where the two segmentations differ."""
    i = j = 0
    while i < len(gold) and j < len(pred):
        if gold[i] == pred[j]:
            i += 1
            j += 1
            continue
        gi, pj = [gold[i]], [pred[j]]
        end = max(gold[i][1], pred[j][1])
        i += 1
        j += 1
        while True:
            grew = False
            while i < len(gold) and gold[i][0] < end:
                gi.append(gold[i])
                end = max(end, gold[i][1])
                i += 1
                grew = True
            while j < len(pred) and pred[j][0] < end:
                pj.append(pred[j])
                end = max(end, pred[j][1])
                j += 1
                grew = True
            if not grew:
                break
        yield gi, pj
    if i < len(gold) or j < len(pred):
        yield list(gold[i:]), list(pred[j:])

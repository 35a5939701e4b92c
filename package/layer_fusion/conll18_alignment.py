"""Word alignment of the CoNLL 2018 shared task (Zeman et al. 2018; its evaluation script,
``conll18_ud_eval.py``), between gold syntactic words and predicted tokens of one text.

Spans are character offsets into the same text. Outside multiword tokens a word and a token
align when their spans are equal. A multiword token's words all carry the token's span;
there, words and the predicted tokens that fall in it align by the longest common
subsequence of their lowercased forms. ``tests/test_raw_text_conll18.py`` checks the
counts built on it against the script itself.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

Span = Tuple[int, int]


def aligned_words(
    word_spans: Sequence[Span],
    in_mwt: Sequence[bool],
    word_forms: Sequence[str],
    predicted: Sequence[Span],
    predicted_forms: Sequence[str],
) -> List[Tuple[int, int]]:
    """(gold word, predicted token) index pairs aligned as in the CoNLL 2018 shared task.

    word_spans[i] is word i's span (a multiword token's span for each of its words, with
    in_mwt[i] true); forms are compared in lowercase, and only inside multiword tokens.
    Outside them a word and a token align when their spans are equal. At a multiword token ending
    at character e, the region is its words and the predicted tokens that follow (after
    passing over one token that starts before the multiword token, as the script does) up
    to the first ending after e; the region's words and tokens align by the longest common
    subsequence of their forms.
    """
    pairs: List[Tuple[int, int]] = []
    n_words, n_tokens = len(word_spans), len(predicted)
    w = t = 0
    while w < n_words and t < n_tokens:
        if not in_mwt[w]:
            if word_spans[w] == predicted[t]:
                pairs.append((w, t))
                w, t = w + 1, t + 1
            elif word_spans[w][0] <= predicted[t][0]:
                w += 1
            else:
                t += 1
            continue
        region_start, region_end = word_spans[w]
        if predicted[t][0] < region_start:
            t += 1
        w0, t0 = w, t

        def word_inside(i: int) -> bool:
            start, end = word_spans[i]
            return start < region_end if in_mwt[i] else end <= region_end

        # Walk both sides in order of start, as long as either is still inside the region.
        while (w < n_words and word_inside(w)) or (t < n_tokens and predicted[t][1] <= region_end):
            if w < n_words and (t >= n_tokens or word_spans[w][0] <= predicted[t][0]):
                w += 1
            else:
                t += 1
        pairs += [(w0 + i, t0 + j) for i, j in _lcs_pairs([f.lower() for f in word_forms[w0:w]],
                                                          [f.lower() for f in predicted_forms[t0:t]])]
    return pairs


def _lcs_pairs(a: Sequence[str], b: Sequence[str]) -> List[Tuple[int, int]]:
    """Index pairs of a longest common subsequence of ``a`` and ``b``: equal items pair up
    as soon as they meet; otherwise skip in ``a`` when that loses nothing."""
    # best[i][j] = LCS length of a[i:] and b[j:]
    best = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in reversed(range(len(a))):
        for j in reversed(range(len(b))):
            best[i][j] = best[i + 1][j + 1] + 1 if a[i] == b[j] else max(best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs

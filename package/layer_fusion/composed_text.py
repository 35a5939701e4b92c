"""Token spans found on the composed form of a text (NFC), carried back to the text itself.

The word segmenters (pyvi, jieba, SudachiPy, DeepCut) learned composed text. Given
decomposed text (NFD, as macOS file names and some web pages write it), where Vietnamese
``ệ`` is ``e`` + U+0323 + U+0302, pyvi, jieba and DeepCut cut the marks off their letters
(``Tôi`` became ``To ̂ i``); SudachiPy normalizes its input itself. So every segmenter is
given the NFC form, and its tokens' spans are mapped back onto the input's characters, so
that a ``Doc``'s text is still the input's.

The map works on *clusters*: the shortest pieces of the text that compose on their own, a
starter with the combining marks after it, or a run of starters that compose with each
other (Hangul jamo ``ᄀ`` + ``ᅡ`` -> ``가``). The text's NFC form is its clusters' NFC forms
joined, so a cluster edge has an offset in both texts. A token edge inside a cluster (a
letter cut from its mark) moves to the cluster's edges: the token keeps its marks.
"""
from __future__ import annotations

import bisect
import unicodedata
from typing import List, Optional, Sequence, Tuple

Span = Tuple[int, int]


def composition_clusters(text: str) -> List[Span]:
    """``text`` cut into clusters, as ``(start, end)`` offsets that cover it in order.

    A character starts a cluster when its decomposition starts with a character of canonical
    combining class 0 and it does not compose with the cluster before it:
    ``NFC(cluster + c) == NFC(cluster) + NFC(c)``. (Tibetan ཱི U+0F73 has class 0 but
    decomposes to two marks, which reorder with the marks before them.)"""
    clusters: List[Span] = []
    start = 0
    for i in range(1, len(text)):
        char = text[i]
        if unicodedata.combining(unicodedata.normalize("NFD", char)[0]):
            continue
        cluster = text[start:i]
        composed = unicodedata.normalize("NFC", cluster)
        if unicodedata.normalize("NFC", cluster + char) == composed + unicodedata.normalize("NFC", char):
            clusters.append((start, i))
            start = i
    if text:
        clusters.append((start, len(text)))
    return clusters


class ComposedText:
    """The NFC form of ``text`` (``composed``), with ``spans_in_text`` to map spans of it back.

    Edges: ``composed_edges[k]`` in ``composed`` is ``text_edges[k]`` in ``text``, for each
    cluster edge k (both lists start at 0 and end at the texts' lengths)."""

    def __init__(self, text: str):
        self.text = text
        clusters = composition_clusters(text)
        pieces = [unicodedata.normalize("NFC", text[a:b]) for a, b in clusters]
        self.composed = "".join(pieces)
        if self.composed != unicodedata.normalize("NFC", text):  # the clusters' premise
            raise AssertionError(f"clusters of {text!r} do not compose to its NFC form")
        self.text_edges = [0] + [b for _, b in clusters]
        self.composed_edges = [0]
        for piece in pieces:
            self.composed_edges.append(self.composed_edges[-1] + len(piece))

    def spans_in_text(self, spans: Sequence[Span]) -> List[Tuple[Span, Optional[int]]]:
        """Each span of ``composed`` (in order, not overlapping) as a span of ``text``:
        ``((start, end), k)``, where k is the index of the span it came from, or None when
        spans were merged because their edges fell inside one cluster. A span that is empty
        once moved to cluster edges drops out; one inside a cluster becomes the cluster."""
        out: List[Tuple[Span, Optional[int]]] = []
        for k, (start, end) in enumerate(spans):
            # A start inside a cluster moves back to the cluster's start, an end forward to its end.
            first = bisect.bisect_right(self.composed_edges, start) - 1
            last = bisect.bisect_left(self.composed_edges, end)
            span = (self.text_edges[first], self.text_edges[last])
            if out and span[0] < out[-1][0][1]:  # shares a cluster with the span before
                out[-1] = ((out[-1][0][0], max(span[1], out[-1][0][1])), None)
            elif span[0] < span[1]:
                out.append((span, k))
        return out

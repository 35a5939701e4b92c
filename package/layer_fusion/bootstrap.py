"""Sentence-bootstrap statistics of one system's tagging results.

Notation: treebank t has sentences i = 1..n_t with w_i words of which c_i are tagged
correctly. Accuracy is word-level (micro within a treebank):

    acc_t = sum_i c_i / sum_i w_i

A bootstrap replicate b draws n_t sentence indices uniformly with replacement,
I_b = (i_1..i_n), and computes acc_t^(b) = sum_{i in I_b} c_i / sum_{i in I_b} w_i.
The 95% percentile interval is [q_{alpha/2}, q_{1-alpha/2}] of {acc_t^(b)}_{b=1..B}
(numpy ``quantile``, linear interpolation), with alpha = 0.05 and B = 1000 by default.
Draws come from ``numpy.random.default_rng(seed)``, so results are reproducible.

Comparisons of several systems over several training seeds (paired differences,
seeds resampled, Holm adjustment) are in ``layer_fusion.research.statistics``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    from .evaluation import TreebankResult

# Upper bound on the number of int64 indices drawn at once (~16 MB).
_MAX_DRAW = 2_000_000

def bootstrap_accuracies(
    correct: np.ndarray, totals: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """B bootstrap replicates of sum(c) / sum(w) over sentences resampled with replacement.

    correct, totals: shape (n,), per-sentence counts. Returns shape (B,).
    Replicate b uses the b-th row of ``rng.integers(0, n, size=(B, n))``; rows are drawn in
    chunks, which consumes the generator exactly as one (B, n) draw would.
    """
    correct = np.asarray(correct, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.int64)
    if correct.ndim != 1 or correct.shape != totals.shape:
        raise ValueError(f"correct and totals must be two 1-d arrays of one length, not shapes "
                         f"{correct.shape} and {totals.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples} must be >= 1")
    bad = np.flatnonzero((correct < 0) | (correct > totals))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"sentence {i}: {correct[i]} correct of {totals[i]} words (need 0 <= correct <= words)")
    n = correct.shape[0]
    if n == 0:
        return np.full(n_resamples, np.nan)
    out = np.empty(n_resamples, dtype=np.float64)
    rows = max(1, _MAX_DRAW // n)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        c = correct[idx].sum(axis=1)
        w = totals[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop] = c / w
    return out


def _percentile_interval(samples: np.ndarray, alpha: float) -> Tuple[float, float]:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha}: expected 0 < alpha < 1 (0.05 for a 95% interval)")
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_ci(
    correct: np.ndarray,
    totals: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Tuple[float, float]:
    """Percentile bootstrap CI of the word accuracy sum(c)/sum(w), resampling sentences.

    correct[i] = c_i, totals[i] = w_i. Returns (q_{alpha/2}, q_{1-alpha/2}) of the B replicate
    accuracies (see the module docstring); (nan, nan) for an empty input.
    """
    rng = np.random.default_rng(seed)
    return _percentile_interval(bootstrap_accuracies(correct, totals, n_resamples, rng), alpha)


def macro_average(
    results: Sequence[TreebankResult], n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> Dict[str, Any]:
    """Unweighted mean of treebank accuracies, with a stratified sentence-bootstrap CI.

        macro = (1/T) sum_t acc_t

    CI: in replicate b, the sentences of every treebank t are resampled with replacement,
    independently and within t (strata = treebanks), giving acc_t^(b); then
    macro^(b) = (1/T) sum_t acc_t^(b), and the interval is the alpha/2, 1-alpha/2 percentiles of
    {macro^(b)}. The set of treebanks is held fixed: the interval reflects sampling of sentences
    within the listed test sets, not the choice of languages. One generator
    ``default_rng(seed)`` is used for all treebanks in the given order.
    """
    results = [r for r in results if r.sentences]
    if not results:
        return {"treebanks": [], "n_treebanks": 0, "accuracy": None, "ci95": [None, None]}
    rng = np.random.default_rng(seed)
    reps = np.stack(
        [bootstrap_accuracies(r.sent_correct, r.sent_words, n_resamples, rng) for r in results]
    )
    lo, hi = _percentile_interval(reps.mean(axis=0), alpha)
    return {
        "treebanks": [r.name for r in results],
        "n_treebanks": len(results),
        "accuracy": _finite(float(np.mean([r.accuracy for r in results]))),
        "ci95": [_finite(lo), _finite(hi)],
        "method": "unweighted mean over treebanks; CI: percentile bootstrap, sentences resampled "
        "within each treebank jointly per replicate",
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "unit": "sentence, stratified by treebank"},
    }


def genre_breakdown(
    result: TreebankResult, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> Dict[str, Dict[str, Any]]:
    """Accuracy per genre g (``# meta::genre``, else from ``GUM_<genre>_...`` sent_ids).

        acc_g = sum_{i: genre_i = g} c_i / sum_{i: genre_i = g} w_i

    with a sentence-bootstrap CI within the genre. Sentences without a genre are grouped
    under ``"unknown"``. Returns {} when the treebank records no genre.
    """
    if result.sent_genres is None:
        return {}
    genres = np.array([g if g is not None else "unknown" for g in result.sent_genres], dtype=object)
    out: Dict[str, Dict[str, Any]] = {}
    for genre in sorted(set(genres.tolist())):
        mask = genres == genre
        c, w = result.sent_correct[mask], result.sent_words[mask]
        lo, hi = bootstrap_ci(c, w, n_resamples, seed, alpha)
        out[genre] = {
            "sentences": int(mask.sum()),
            "words": int(w.sum()),
            "accuracy": _finite(float(c.sum() / w.sum()) if w.sum() else float("nan")),
            "ci95": [_finite(lo), _finite(hi)],
        }
    return out


def domain_pair(
    a: TreebankResult,
    b: TreebankResult,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Dict[str, Any]:
    """Two treebanks of one language: both accuracies and the gap acc_a - acc_b.

    The two test sets share no sentences, so the bootstrap is unpaired: replicate b resamples
    the sentences of a and of b independently, gap^(b) = acc_a^(b) - acc_b^(b), and the CI is
    the alpha/2, 1-alpha/2 percentiles of {gap^(b)}. A CI excluding 0 indicates a domain gap
    beyond sentence-sampling noise.
    """
    rng = np.random.default_rng(seed)
    rep_a = bootstrap_accuracies(a.sent_correct, a.sent_words, n_resamples, rng)
    rep_b = bootstrap_accuracies(b.sent_correct, b.sent_words, n_resamples, rng)
    lo, hi = _percentile_interval(rep_a - rep_b, alpha)
    return {
        "a": a.name,
        "b": b.name,
        "accuracy_a": _finite(a.accuracy),
        "ci95_a": [_finite(x) for x in a.ci95],
        "accuracy_b": _finite(b.accuracy),
        "ci95_b": [_finite(x) for x in b.ci95],
        "gap": _finite(a.accuracy - b.accuracy),
        "gap_ci95": [_finite(lo), _finite(hi)],
    }


def _finite(x: float) -> Optional[float]:
    """JSON has no NaN: map NaN/inf to None."""
    x = float(x)
    return x if np.isfinite(x) else None

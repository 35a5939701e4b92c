"""Hierarchical bootstrap over seeds and sentences, for macro-averaged accuracies.

A system is evaluated with S seeds on treebanks t = 1..T. For treebank t, sentence i
has w_ti words, and seed s tags c_sti of them correctly. The system's macro accuracy is

    macro = (1/T) sum_t (1/S) sum_s acc_st,     acc_st = sum_i c_sti / sum_i w_ti.

One bootstrap replicate resamples both sources of variance:

* seeds: S seeds drawn with replacement, independently for each system (the seeds of
  two variants are unrelated runs);
* sentences: within every treebank, n_t sentences drawn with replacement, the same
  draw for both systems of a paired comparison (they tagged the same sentences).

``macro_ci`` gives the percentile interval of one system's macro; ``paired_difference``
the interval of macro(A) - macro(B) and a two-sided bootstrap p-value,

    p = min(1, 2 * min(#{d_b <= 0} + 1, #{d_b >= 0} + 1) / (B + 1)),

which can never be below 2 / (B + 1): a smaller p is reported as "< 2/(B+1)".
``holm`` adjusts a family of p-values (Holm-Bonferroni). ``contrast_ci`` is the interval of
one system's weighted sum of treebank accuracies (one treebank, or the gap between two), seeds
and sentences resampled. ``pooled_seeds_ci`` is the simpler per-treebank interval: seeds
pooled, sentences resampled.

Inputs are ``Runs``: for each treebank key, an int array of words per sentence (W, n_t)
and an int array of correct words per seed and sentence (C, S x n_t).
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

Runs = Dict[str, Tuple[np.ndarray, np.ndarray]]  # key -> (words (n,), correct (S, n))


def runs_from_metrics(metrics: Sequence[dict], keys: Sequence[str]) -> Runs:
    """Stack the per-sentence counts of several seeds' metrics JSONs (same sets)."""
    out: Runs = {}
    for key in keys:
        words = np.asarray(metrics[0]["treebanks"][key]["per_sentence"]["words"], dtype=np.int64)
        correct = []
        for m in metrics:
            per = m["treebanks"][key]["per_sentence"]
            if not np.array_equal(np.asarray(per["words"]), words):
                raise ValueError(f"{key}: runs were evaluated on different sentences")
            correct.append(np.asarray(per["correct"], dtype=np.int64))
        out[key] = (words, np.stack(correct))
    return out


def macro(runs: Runs) -> float:
    """(1/T) sum_t mean over seeds of acc_st."""
    return float(np.mean([(c.sum(axis=1) / w.sum()).mean() for w, c in runs.values()]))


def _sentence_weights(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """(B, n) counts: how often each sentence is drawn in each replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples)


def _seed_weights(rng: np.random.Generator, n_seeds: int, n_resamples: int) -> np.ndarray:
    """(B, S) fractions: how often each seed is drawn, divided by S."""
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_resamples) / n_seeds


def _replicates(systems: Sequence[Runs], n_resamples: int, seed: int) -> np.ndarray:
    """(n_systems, B) bootstrap replicates of each system's macro, with shared sentence draws."""
    rng = np.random.default_rng(seed)
    keys = list(systems[0])
    for runs in systems[1:]:
        if list(runs) != keys:
            raise ValueError(f"systems cover different treebanks: {keys} vs {list(runs)}")
    seed_w = [_seed_weights(rng, runs[keys[0]][1].shape[0], n_resamples) for runs in systems]
    total = np.zeros((len(systems), n_resamples))
    for key in keys:
        words = systems[0][key][0]
        if any(len(runs[key][0]) != len(words) for runs in systems[1:]):
            raise ValueError(f"{key}: systems were scored on different numbers of sentences")
        sent_w = _sentence_weights(rng, len(words), n_resamples)  # shared by all systems
        for j, runs in enumerate(systems):
            # Each system's own denominators (raw-text F1: predicted tokens differ); the same
            # sentences drawn for all.
            correct = sent_w @ runs[key][1].T  # (B, S)
            total[j] += (seed_w[j] * correct).sum(axis=1) / (sent_w @ runs[key][0])
    return total / len(keys)


def _interval(samples: np.ndarray, alpha: float) -> Tuple[float, float]:
    lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def macro_ci(runs: Runs, n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05) -> Tuple[float, float]:
    return _interval(_replicates([runs], n_resamples, seed)[0], alpha)


def contrast(runs: Runs, coefficients: Dict[str, float]) -> float:
    """sum_t a_t * (1/S) sum_s acc_st over the treebanks t of ``coefficients`` (t -> a_t):
    one treebank's accuracy ({t: 1}), a gap between two ({a: 1, b: -1}), a macro (1/T each)."""
    return float(sum(a * (runs[key][1].sum(axis=1) / runs[key][0].sum()).mean() for key, a in coefficients.items()))


def contrast_ci(runs: Runs, coefficients: Dict[str, float], n_resamples: int = 2000, seed: int = 0,
                alpha: float = 0.05) -> Tuple[float, float]:
    """Percentile interval of ``contrast`` for one system, seeds and sentences resampled.

    The S seeds are drawn once per replicate for every treebank (a seed is one trained model,
    which tagged them all); sentences are drawn within each treebank. With a_t = 1/T over all
    treebanks this is ``macro_ci`` (the same draws)."""
    rng = np.random.default_rng(seed)
    keys = list(coefficients)
    seed_w = _seed_weights(rng, runs[keys[0]][1].shape[0], n_resamples)
    total = np.zeros(n_resamples)
    for key in keys:
        words, correct = runs[key]
        if correct.shape[0] != seed_w.shape[1]:
            raise ValueError(f"{key}: {correct.shape[0]} seeds, {keys[0]}: {seed_w.shape[1]}")
        sent_w = _sentence_weights(rng, len(words), n_resamples)
        total += coefficients[key] * (seed_w * (sent_w @ correct.T)).sum(axis=1) / (sent_w @ words)
    return _interval(total, alpha)


def pooled_seeds_ci(words: np.ndarray, correct: np.ndarray, n_resamples: int,
                    rng: np.random.Generator) -> Tuple[float, np.ndarray]:
    """One treebank's accuracy with its S seeds pooled, and a 95% percentile CI over sentences.

    words (n,), correct (S, n). acc = sum_s sum_i c_si / (S sum_i w_i); each replicate
    draws n sentences with replacement (seeds are pooled, not resampled). Returns
    (acc, array([lo, hi]))."""
    pooled = correct.sum(0)
    idx = rng.integers(0, len(words), size=(n_resamples, len(words)))
    acc = pooled[idx].sum(1) / (words[idx].sum(1) * correct.shape[0])
    return float(pooled.sum() / (words.sum() * correct.shape[0])), np.percentile(acc, [2.5, 97.5])


@dataclass
class Difference:
    difference: float
    ci95: Tuple[float, float]
    p: float
    n_resamples: int

    @property
    def p_floor(self) -> float:
        return 2.0 / (self.n_resamples + 1)


def paired_difference(a: Runs, b: Runs, n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05) -> Difference:
    """macro(a) - macro(b) with a hierarchical paired bootstrap (module docstring)."""
    reps = _replicates([a, b], n_resamples, seed)
    d = reps[0] - reps[1]
    return Difference(macro(a) - macro(b), _interval(d, alpha), _two_sided_p(d), n_resamples)


def _two_sided_p(replicates: np.ndarray) -> float:
    """Bootstrap p of "the difference is 0": p = min(1, 2 (min(#{d <= 0}, #{d >= 0}) + 1) / (B + 1)),
    replicates (B,). The +1s keep p away from 0: the smallest reportable p is 2/(B+1)."""
    below, above = int((replicates <= 0).sum()), int((replicates >= 0).sum())
    return min(1.0, 2 * (min(below, above) + 1) / (len(replicates) + 1))


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


@dataclass
class GroupExtremes:
    """Worst group accuracy and spread (best minus worst) of systems a and b, and of a - b."""

    worst_a: float
    worst_b: float
    spread_a: float
    spread_b: float
    worst_difference_ci95: Tuple[float, float]
    spread_difference_ci95: Tuple[float, float]
    worst_difference_p: float  # two-sided bootstrap p of worst_a - worst_b = 0, as paired_difference's
    n_resamples: int

    @property
    def p_floor(self) -> float:
        return 2.0 / (self.n_resamples + 1)


def _group_accuracies(words: np.ndarray, correct: np.ndarray, groups: np.ndarray, labels) -> np.ndarray:
    """(..., G) accuracy per group; words and correct (..., n) sentence counts."""
    return np.stack([correct[..., groups == g].sum(-1) / words[..., groups == g].sum(-1) for g in labels], axis=-1)


def paired_group_extremes(
    words: np.ndarray, correct_a: np.ndarray, correct_b: np.ndarray, groups: Sequence[str],
    n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05,
) -> GroupExtremes:
    """Domain robustness of two systems on one test set whose sentences carry a group
    (GUM's genres): worst = min_g acc_g, spread = max_g acc_g - min_g acc_g, seed means.

    words (n,), correct_a (S_a, n), correct_b (S_b, n). Replicates resample seeds per
    system and sentences within each group (the same draw for both systems), as
    ``paired_difference`` does for treebanks; ``worst_difference_p`` is its two-sided p.
    """
    groups = np.asarray(groups)
    labels = sorted(set(groups.tolist()))
    rng = np.random.default_rng(seed)

    def extremes(acc: np.ndarray):  # acc (..., G)
        return acc.min(-1), acc.max(-1) - acc.min(-1)

    point = [extremes(_group_accuracies(words, c.mean(0), groups, labels)) for c in (correct_a, correct_b)]
    seed_w = [_seed_weights(rng, c.shape[0], n_resamples) for c in (correct_a, correct_b)]
    drawn_correct = [np.zeros((n_resamples, len(labels))) for _ in range(2)]
    drawn_words = np.zeros((n_resamples, len(labels)))
    for j, g in enumerate(labels):
        idx = np.flatnonzero(groups == g)
        sent_w = _sentence_weights(rng, len(idx), n_resamples)  # (B, n_g), shared
        drawn_words[:, j] = sent_w @ words[idx]
        for s, c in enumerate((correct_a, correct_b)):
            drawn_correct[s][:, j] = (seed_w[s] * (sent_w @ c[:, idx].T)).sum(axis=1)
    reps = [extremes(dc / drawn_words) for dc in drawn_correct]
    return GroupExtremes(
        worst_a=float(point[0][0]), worst_b=float(point[1][0]),
        spread_a=float(point[0][1]), spread_b=float(point[1][1]),
        worst_difference_ci95=_interval(reps[0][0] - reps[1][0], alpha),
        spread_difference_ci95=_interval(reps[0][1] - reps[1][1], alpha),
        worst_difference_p=_two_sided_p(reps[0][0] - reps[1][0]),
        n_resamples=n_resamples,
    )

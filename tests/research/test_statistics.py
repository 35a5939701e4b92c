"""The hierarchical bootstrap (seeds and sentences) against a slow reference and known answers."""
import numpy as np
import pytest

from layer_fusion.research.statistics import (
    holm, macro, macro_ci, paired_difference, runs_from_metrics, _replicates,
)


def _random_runs(rng, n_seeds, sizes, p=0.7):
    runs = {}
    for t, n in enumerate(sizes):
        words = rng.integers(1, 30, size=n)
        correct = np.stack([rng.binomial(words, p) for _ in range(n_seeds)])
        runs[f"tb{t}"] = (words, correct)
    return runs


def _slow_replicates(systems, n_resamples, seed):
    """Loop-by-loop version of _replicates: same draws, explicit resampling."""
    rng = np.random.default_rng(seed)
    keys = list(systems[0])
    seed_counts = [rng.multinomial(r[keys[0]][1].shape[0], np.full(r[keys[0]][1].shape[0], 1 / r[keys[0]][1].shape[0]),
                                   size=n_resamples) for r in systems]
    sent_counts = {}
    for key in keys:
        n = len(systems[0][key][0])
        sent_counts[key] = rng.multinomial(n, np.full(n, 1 / n), size=n_resamples)
    out = np.zeros((len(systems), n_resamples))
    for j, runs in enumerate(systems):
        for b in range(n_resamples):
            seeds = np.repeat(np.arange(len(seed_counts[j][b])), seed_counts[j][b])
            accs = []
            for key in keys:
                words, correct = runs[key]
                idx = np.repeat(np.arange(len(words)), sent_counts[key][b])
                accs.append(np.mean([correct[s, idx].sum() / words[idx].sum() for s in seeds]))
            out[j, b] = np.mean(accs)
    return out


def test_replicates_match_the_slow_reference():
    rng = np.random.default_rng(1)
    a = _random_runs(rng, 3, [7, 12, 5])
    b = {k: (w, np.stack([rng.binomial(w, 0.6) for _ in range(2)])) for k, (w, _) in a.items()}
    np.testing.assert_allclose(_replicates([a, b], 50, 7), _slow_replicates([a, b], 50, 7), rtol=1e-12)


def test_replicates_use_each_systems_own_denominators():
    """Raw-text F1 of two tokenizations: the same sentences, other denominators (P + G)."""
    rng = np.random.default_rng(3)
    a = _random_runs(rng, 3, [7, 12, 5])
    b = {k: (w + rng.integers(0, 3, size=len(w)), np.stack([rng.binomial(w, 0.6) for _ in range(2)]))
         for k, (w, _) in a.items()}
    np.testing.assert_allclose(_replicates([a, b], 50, 7), _slow_replicates([a, b], 50, 7), rtol=1e-12)
    with pytest.raises(ValueError, match="different numbers of sentences"):
        _replicates([a, {k: (w[1:], c[:, 1:]) for k, (w, c) in b.items()}], 10, 0)


def test_identical_systems_differ_by_zero_with_p_one():
    a = _random_runs(np.random.default_rng(2), 1, [20, 30])
    result = paired_difference(a, a, n_resamples=500)
    assert result.difference == 0 and result.ci95 == (0.0, 0.0) and result.p == 1.0


def test_a_constant_shift_is_recovered_exactly():
    words = np.full(40, 10)
    b = {"t": (words, np.stack([np.full(40, 6)]))}
    a = {"t": (words, np.stack([np.full(40, 7)]))}
    result = paired_difference(a, b, n_resamples=999)
    assert result.difference == pytest.approx(0.1)
    assert result.ci95 == pytest.approx((0.1, 0.1))
    assert result.p == pytest.approx(2 / 1000) == pytest.approx(result.p_floor)


def test_seed_variance_widens_the_interval():
    """Two seeds that disagree by a lot: resampling seeds must widen the macro CI
    compared with the same counts averaged into one seed."""
    rng = np.random.default_rng(3)
    words = rng.integers(5, 20, size=200)
    good, bad = rng.binomial(words, 0.9), rng.binomial(words, 0.5)
    two_seeds = {"t": (words, np.stack([good, bad]))}
    lo2, hi2 = macro_ci(two_seeds, n_resamples=1000)
    one = {"t": (words, np.stack([good]))}
    lo1, hi1 = macro_ci(one, n_resamples=1000)
    assert hi2 - lo2 > 3 * (hi1 - lo1)
    assert lo2 < macro(two_seeds) < hi2


def test_runs_from_metrics_stacks_seeds_and_refuses_different_sentences():
    def metrics(correct, words=(3, 4)):
        return {"treebanks": {"t": {"per_sentence": {"words": list(words), "correct": list(correct)}}}}

    runs = runs_from_metrics([metrics([1, 2]), metrics([3, 4])], ["t"])
    assert runs["t"][1].tolist() == [[1, 2], [3, 4]]
    assert macro(runs) == pytest.approx(((3 / 7) + 1) / 2)
    with pytest.raises(ValueError, match="different sentences"):
        runs_from_metrics([metrics([1, 2]), metrics([1, 2], words=(3, 5))], ["t"])


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


def test_group_extremes_point_values_and_intervals():
    from layer_fusion.research.statistics import paired_group_extremes

    # two genres; a: x 3/4 (two sentences of 2 words), y 1/2; b: x 4/4, y 2/2 on seed 0, y 0/2 on seed 1
    words = np.array([2, 2, 1, 1])
    groups = ["x", "x", "y", "y"]
    a = np.array([[2, 1, 1, 0]])
    b = np.array([[2, 2, 1, 1], [2, 2, 0, 0]])
    r = paired_group_extremes(words, a, b, groups, n_resamples=500)
    assert r.worst_a == pytest.approx(0.5) and r.spread_a == pytest.approx(0.25)
    # b, seed mean: x 1.0, y 0.5
    assert r.worst_b == pytest.approx(0.5) and r.spread_b == pytest.approx(0.5)
    lo, hi = r.worst_difference_ci95
    assert lo < 0 < hi  # seeds and sentences resampled: b's y ranges over 0..1
    same = paired_group_extremes(words, a, a, groups, n_resamples=200)
    assert same.worst_difference_ci95 == (0.0, 0.0) and same.spread_difference_ci95 == (0.0, 0.0)
    assert same.worst_difference_p == 1.0  # every replicate is 0: on both sides
    shifted = paired_group_extremes(words, np.array([[2, 2, 1, 1]]), np.array([[1, 1, 0, 0]]), groups, n_resamples=200)
    assert shifted.worst_difference_ci95[0] > 0  # a is perfect, b's worst genre is 0
    assert shifted.worst_difference_p == pytest.approx(shifted.p_floor) == pytest.approx(2 / 201)
    # b is better on its first seed (y 2/2 against a's 1/2) and worse on its second: the
    # seed draws put replicates on both sides of 0, so p is far from the floor.
    assert r.worst_difference_p > 0.2


def test_contrast_ci_with_equal_weights_is_macro_ci():
    """Same draws in the same order: the macro is the contrast with a_t = 1/T."""
    from layer_fusion.research.statistics import contrast, contrast_ci

    runs = _random_runs(np.random.default_rng(3), 3, [40, 25, 60])
    weights = {key: 1 / 3 for key in runs}
    assert contrast(runs, weights) == pytest.approx(macro(runs))
    assert contrast_ci(runs, weights, n_resamples=500, seed=7) == pytest.approx(macro_ci(runs, 500, seed=7))


def test_a_gap_resamples_one_seed_draw_for_both_treebanks():
    """Two treebanks tagged by the same models: a seed that is better on both moves both, so
    their gap keeps no seed variance. Drawing seeds apart for each treebank would keep it."""
    from layer_fusion.research.statistics import contrast, contrast_ci

    words = np.full(400, 10)
    # seed s tags 5 + s words of 10 right in every sentence of both treebanks
    correct = np.stack([np.full(400, 5 + s) for s in range(3)])
    runs = {"a": (words, correct), "b": (words, correct.copy())}
    assert contrast(runs, {"a": 1, "b": -1}) == 0
    assert contrast_ci(runs, {"a": 1, "b": -1}, n_resamples=300) == (0.0, 0.0)
    lo, hi = contrast_ci(runs, {"a": 1}, n_resamples=300)
    assert lo < 0.6 < hi and hi - lo > 0.05  # one treebank alone: the seeds' spread (0.5 to 0.7)
    with pytest.raises(ValueError, match="b: 2 seeds, a: 3"):
        contrast_ci({"a": (words, correct), "b": (words, correct[:2])}, {"a": 1, "b": -1}, n_resamples=10)

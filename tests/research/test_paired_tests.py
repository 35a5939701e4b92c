"""A report's paired-test family (placeholders, Holm fill) and the pooled-seed interval,
against hand-computed cases."""
import numpy as np
import pytest

from layer_fusion.research.paired_tests import PairedTestFamily
from layer_fusion.research.statistics import pooled_seeds_ci


def _metrics(per_treebank):
    """A metrics JSON as evaluation writes it: key -> (words per sentence, correct per sentence)."""
    return {"treebanks": {k: {"per_sentence": {"words": w, "correct": c}} for k, (w, c) in per_treebank.items()}}


WORDS = [4, 6, 5, 5, 10, 2, 8, 3]
GOOD = _metrics({"x": (WORDS, WORDS), "y": (WORDS[:4], WORDS[:4])})  # every word right
BAD = _metrics({"x": (WORDS, [0] * 8), "y": (WORDS[:4], [1, 0, 0, 1])})  # 2 of 20 right on y


def test_a_family_numbers_its_tests_and_fills_p_and_holm_p():
    family = PairedTestFamily(n_resamples=199)  # p floor 2 / 200 = 0.01
    rng = np.random.default_rng(0)
    clear = family.test([GOOD], [BAD], ["x", "y"], rng)
    same = family.test([GOOD, GOOD], [GOOD], ["x", "y"], rng)
    assert len(family) == 2 and (clear["id"], same["id"]) == (0, 1)
    # macro(a) - macro(b) = mean(1 - 0, 1 - 2/20)
    assert clear["diff"] == pytest.approx((1 + 18 / 20) / 2)
    assert clear["p"] == pytest.approx(0.01) and clear["ci95"][0] > 0
    assert same["diff"] == 0 and same["p"] == 1.0
    text = f"a {family.placeholder(clear)}; b {family.placeholder(same)}."
    # Holm: the smallest p times 2 (an upper bound, as its p is at the floor), then max(1 * 1.0, 0.02).
    assert family.fill(text) == "a < 0.0100 (Holm ≤ 0.0200); b 1.0000 (Holm 1.0000)."
    assert (clear["p_holm"], same["p_holm"]) == (pytest.approx(0.02), 1.0)


def test_families_are_independent():
    first, second = PairedTestFamily(99), PairedTestFamily(99)
    first.test([GOOD], [BAD], ["x"], np.random.default_rng(0))
    assert len(second) == 0 and second.fill("no tests") == "no tests"
    assert first.p_floor == pytest.approx(0.02)


def test_pooled_seeds_ci_pools_seeds_and_resamples_sentences():
    words = np.array([2, 3])
    correct = np.array([[1, 3], [2, 1]])  # pooled over the two seeds: 3 of 4, 4 of 6
    acc, (lo, hi) = pooled_seeds_ci(words, correct, 500, np.random.default_rng(0))
    assert acc == pytest.approx(7 / 10)
    # every replicate is some mix of the two sentences: between 4/6 and 3/4
    assert 4 / 6 - 1e-12 <= lo <= acc <= hi <= 3 / 4 + 1e-12 and lo < hi
    one = pooled_seeds_ci(words[:1], correct[:, :1], 50, np.random.default_rng(0))
    assert one[0] == pytest.approx(0.75) and np.allclose(one[1], 0.75)


def test_pooled_seeds_ci_is_the_sentence_bootstrap_of_the_pooled_counts():
    """Pooling S seeds is one treebank whose sentence i has S·w_i words and sum_s c_si right:
    the interval is bootstrap_ci's on those counts, with the same draws (seed 3)."""
    from layer_fusion.bootstrap import bootstrap_ci

    rng = np.random.default_rng(1)
    words = rng.integers(3, 20, size=80)
    correct = rng.binomial(np.tile(words, (3, 1)), [[0.5], [0.6], [0.7]])
    acc, ci = pooled_seeds_ci(words, correct, 400, np.random.default_rng(3))
    assert acc == pytest.approx(correct.sum() / (3 * words.sum()))
    assert ci == pytest.approx(list(bootstrap_ci(correct.sum(0), 3 * words, 400, seed=3)), abs=1e-12)

"""A report's paired tests, Holm-adjusted as one family.

A report states each test's p where it discusses the comparison, but the Holm-Bonferroni
adjustment needs the p-values of every test in the report. So the text first holds a
placeholder per test (``placeholder``), and ``fill`` writes ``p (Holm p_holm)`` into it
once the report is complete.

Each test is ``statistics.paired_difference`` on two lists of metrics files (one per seed):
the difference of low-resource macro-averages a - b, with seeds resampled per system and
sentences resampled within each treebank, shared by the two systems.
"""
from typing import Dict, List, Sequence

import numpy as np

from . import statistics as stats


def p_text(p: float, floor: float) -> str:
    """A bootstrap p as reported: "< floor" at the smallest reportable value 2 / (B + 1)."""
    return f"< {floor:.4f}" if p <= floor else f"{p:.4f}"


def holm_text(p: float, p_holm: float, floor: float) -> str:
    """A Holm-adjusted p as reported. When p is at the floor it is an upper bound, and so is
    the adjusted value derived from it: "≤ p_holm"."""
    return f"≤ {p_holm:.4f}" if p <= floor else p_text(p_holm, floor)


def seed_from(rng: np.random.Generator) -> int:
    """A bootstrap seed drawn from a report's random stream (one stream, many analyses)."""
    return int(rng.integers(2**31))


class PairedTestFamily:
    """Every paired test of one report, in the order made."""

    def __init__(self, n_resamples: int = 2000):
        self.n_resamples = n_resamples
        self.tests: List[Dict] = []

    def __len__(self) -> int:
        return len(self.tests)

    @property
    def p_floor(self) -> float:
        """The smallest reportable p of a two-sided bootstrap test: 2 / (B + 1)."""
        return 2 / (self.n_resamples + 1)

    def test(self, runs_a: Sequence[dict], runs_b: Sequence[dict], keys: Sequence[str],
             rng: np.random.Generator) -> Dict:
        """Macro-average difference a - b over the treebanks ``keys``; joins the family.

        Returns ``{"diff", "ci95": [lo, hi], "p", "id"}``; ``p_holm`` is added by ``fill``."""
        d = stats.paired_difference(stats.runs_from_metrics(runs_a, keys), stats.runs_from_metrics(runs_b, keys),
                                    self.n_resamples, seed_from(rng))
        test = {"diff": d.difference, "ci95": list(d.ci95), "p": d.p, "id": len(self.tests)}
        self.tests.append(test)
        return test

    @staticmethod
    def placeholder(test: Dict) -> str:
        """Where the test's p and Holm-adjusted p go in the text."""
        return f"@@P{test['id']}@@"

    def fill(self, text: str) -> str:
        """Adjust every test's p (Holm-Bonferroni over the family) and write both into the text."""
        for test, p_holm in zip(self.tests, stats.holm([t["p"] for t in self.tests])):
            test["p_holm"] = p_holm
            text = text.replace(self.placeholder(test), f"{p_text(test['p'], self.p_floor)} "
                                f"(Holm {holm_text(test['p'], p_holm, self.p_floor)})")
        return text

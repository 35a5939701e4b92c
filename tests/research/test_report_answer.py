"""The report's answer, worded from the numbers (layer_fusion.research.report_answer), on
summaries built by hand: each verdict follows the sign of its paired CI."""
from layer_fusion.research.experiment_runs import FROZEN
from layer_fusion.research.report_answer import answer, regime_answer


def run(seed, dev):
    return {"settings": {"seed": seed}, "english_dev": dev}


SUMMARY = {
    "LastLayer [-1]": {"dev": 0.90, "macro": 0.50},
    "DLFA [4, -1]": {"dev": 0.92, "macro": 0.60, "test": {"id": 0, "diff": 0.10, "ci95": [0.05, 0.15]}},
    "AIF [4, -1]": {"dev": 0.91, "macro": 0.49, "test": {"id": 1, "diff": -0.01, "ci95": [-0.03, 0.01]}},
    "ScalarMix (all 13)": {"dev": 0.89, "macro": 0.45, "test": {"id": 2, "diff": -0.05, "ci95": [-0.07, -0.02]}},
}
RUNS = {v: [run(0, s["dev"] - 0.001), run(1, s["dev"] + 0.001)] for v, s in SUMMARY.items()}


def test_each_fusion_gets_the_verdict_its_interval_gives():
    text = "\n".join(regime_answer(SUMMARY, RUNS))
    assert ("- DLFA [4, -1]: low-resource macro 60.0 vs 50.0 for LastLayer [-1], a difference of +10.00 points "
            "(95% CI [+5.00, +15.00], p @@P0@@): better than the baseline; English dev 92.0 vs 90.0.") in text
    assert "AIF [4, -1]: low-resource macro 49.0" in text and "not distinguishable from the baseline" in text
    assert "(95% CI [-7.00, -2.00], p @@P2@@): worse than the baseline" in text
    # English dev ranks DLFA first, ahead of AIF by 1 point; the seeds differ by 0.1 points.
    assert "Best on English dev: **DLFA [4, -1]**; its margin over AIF [4, -1] is +1.00 points, against a seed " \
           "standard deviation of 0.10." in text
    assert "does not transfer" not in text  # DLFA is also highest on the targets


def test_a_dev_choice_that_is_not_the_best_on_targets_is_said_so():
    summary = {**SUMMARY, "AIF [4, -1]": {**SUMMARY["AIF [4, -1]"], "dev": 0.95}}
    text = "\n".join(regime_answer(summary, RUNS))
    assert "Best on English dev: **AIF [4, -1]**" in text
    assert "on the low-resource macro-average DLFA [4, -1] is highest (60.00 vs 49.00)" in text


def test_the_short_answer_counts_the_verdicts():
    text = "\n".join(answer({FROZEN: SUMMARY}, {FROZEN: RUNS}, [], [], family=None))
    assert (f"- {FROZEN}: of 3 fusions, 1 beat LastLayer [-1] on the low-resource macro-average, 1 are worse "
            "and 1 are not distinguishable from it (paired bootstrap, 95%).") in text
    assert "Best frozen variant on English dev: **DLFA [4, -1]**" in text

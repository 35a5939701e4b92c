"""The "Answer" and "Limits" sections of reports/zero_shot_pos.md, worded from the numbers
(nothing typed by hand): each regime's fusions against LastLayer, the English-dev ranking and
whether it transfers, robustness across GUM genres, the layer probe, and the regimes compared."""
from pathlib import Path
from typing import Dict, List

import numpy

from ..report_table import pct
from ..targets import load_targets
from .experiment_runs import FINETUNED, FROZEN, same_seed
from .paired_tests import PairedTestFamily
from .report_plots import genre_means


def p_text(test: Dict) -> str:
    """Where a paired test's p goes in the text (filled in, Holm-adjusted, by PairedTestFamily.fill)."""
    return "p " + PairedTestFamily.placeholder(test)


def budget_limit(finetuned: Dict[str, List[Dict]], budget: Dict[str, List[Dict]]) -> str:
    """One sentence on what doubling regime b's budget changed (from the budget check's runs)."""
    pairs = [(same_seed(finetuned[v], runs[0]), runs[0]) for v, runs in budget.items() if v in finetuned]
    pairs = [(short, long_) for short, long_ in pairs if short]
    if not pairs:
        return "A longer budget was not tried. "
    d_dev = [100 * (b["english_dev"] - a["english_dev"]) for a, b in pairs]
    d_macro = [100 * (b["macro_low_resource"]["accuracy"] - a["macro_low_resource"]["accuracy"]) for a, b in pairs]
    steps = pairs[0][1]["settings"]["steps"]
    baseline = next(v for v in budget if v.startswith("LastLayer"))
    macro = {v: runs[0]["macro_low_resource"]["accuracy"] for v, runs in budget.items()}
    ahead = [v for v in macro if v != baseline and macro[v] > macro[baseline]]
    return (f"With {steps:,} steps (seed 0, step budget check above), English dev rises by "
            f"{min(d_dev):.1f} to {max(d_dev):.1f} points and the macro-average by {min(d_macro):+.1f} to "
            f"{max(d_macro):+.1f}; " + (f"{', '.join(ahead)} then lead(s) {baseline} on the macro-average. "
                                          if ahead else f"no fusion overtakes {baseline} on the macro-average. "))


def limits(regimes: Dict[str, Dict[str, List[Dict]]], budget: Dict[str, List[Dict]], targets: Path) -> List[str]:
    """The report's limits, worded from the runs; ``targets``: configs/targets.cfg, for sets listed
    there that the runs lack."""
    out = ["- The encoder is multilingual-e5-small (12 layers, 384 wide) rebuilt from 4-bit (Q4_0) weights, "
           "not mBERT: the paper's figures are not directly comparable."]
    ft = [r for runs in regimes.get(FINETUNED, {}).values() for r in runs]
    if ft:
        st = ft[0]["settings"]
        at_end = sum(r["history"]["best_step"] == r["settings"]["steps"] for r in ft)
        pack = ft[0].get("pack", {})
        long_ = sum(v["longer_than_window"] for v in pack.get("sets", {}).values())
        total = sum(v["sentences"] for v in pack.get("sets", {}).values())
        out.append(
            f"- Regime b has one budget ({st['steps']:,} steps of {st['batch_sentences']} sentences, encoder "
            f"rate {st['encoder_learn_rate']:g}, head rate {st['head_learn_rate']:g}) and no search over its "
            f"settings; {at_end} of {len(ft)} runs had their best English dev at the last step. "
            + budget_limit(regimes[FINETUNED], budget) +
            f"It ran on {ft[0].get('device', 'an accelerator')} from a pack "
            "(scripts/finetune_encoder.py, plain torch), not in spaCy: the pack's weights are the built "
            "encoder's, bit for bit, and its pooled hidden states equal the spaCy path's up to fp16 rounding "
            f"(`run_experiments.py check-pack`). Sentences over the pipeline's {pack.get('window', 128)}-word "
            f"window ({long_} of {total:,}) are encoded whole there rather than in strided spans.")
        frozen = regimes.get(FROZEN, {})
        for f in ("DLFA", "AIF"):
            ft_v = [v for v in regimes[FINETUNED] if v.split(" ")[0] == f]
            fr_v = [v for v in frozen if v.split(" ")[0] == f]
            if ft_v and fr_v and ft_v[0] != fr_v[0]:
                out.append(f"- Regime b's {f} reads the layers of an earlier sweep ({ft_v[0]}); the current "
                           f"sweep chooses {fr_v[0]}. Regime b was not rerun (it needs an accelerator).")
    else:
        out.append("- Only the frozen-encoder regime was run (heads on cached fp16 hidden states).")
    runs = [r for v in regimes.values() for rs in v.values() for r in rs]
    if runs:
        tb = runs[0]["treebanks"]
        small = sorted((k for k in tb if tb[k]["group"] == "low_resource"), key=lambda k: tb[k]["sentences"])[:3]
        out.append("- Some test sets are tiny (" + ", ".join(f"{tb[k]['language']} {k} {tb[k]['sentences']} sentences"
                                                         for k in small) + "): read their CIs.")
        listed = load_targets(targets).treebanks
        missing = [f"{key} ({t.treebank})" for key, t in listed.items() if key not in tb]
        if missing:
            out.append(f"- Listed in configs/targets.cfg but not in these runs' metrics (no file when the sets were "
                       f"cached): {', '.join(missing)}.")
    out.append("- Published zero-shot UPOS figures for XLM-R base (de Vries et al. 2022) come from a larger, "
               "fine-tuned encoder and UD 2.8; they are a sanity range only.")
    return out


def regime_answer(summary: Dict, runs_v: Dict[str, List[Dict]]) -> List[str]:
    """Bullets for one regime: each fusion against the baseline, the English-dev ranking, robustness."""
    out = []
    baseline = next(v for v in summary if v.startswith("LastLayer"))
    b = summary[baseline]
    for v in summary:
        if v == baseline:
            continue
        t = summary[v]["test"]
        lo, hi = t["ci95"]
        verdict = ("better than" if lo > 0 else "worse than" if hi < 0 else "not distinguishable from")
        out.append(f"- {v}: low-resource macro {pct(summary[v]['macro'])} vs {pct(b['macro'])} for "
                   f"{baseline}, a difference of {100 * t['diff']:+.2f} points "
                   f"(95% CI [{100 * lo:+.2f}, {100 * hi:+.2f}], {p_text(t)}): {verdict} the baseline; "
                   f"English dev {pct(summary[v]['dev'])} vs {pct(b['dev'])}.")
    ranked = sorted(summary, key=lambda v: summary[v]["dev"], reverse=True)
    margin = summary[ranked[0]]["dev"] - summary[ranked[1]]["dev"]
    spread = max(numpy.std([r["english_dev"] for r in runs_v[ranked[0]]]),
                 numpy.std([r["english_dev"] for r in runs_v[ranked[1]]]))
    out.append(f"- Best on English dev: **{ranked[0]}**; its margin over {ranked[1]} is {100 * margin:+.2f} "
               f"points, against a seed standard deviation of {100 * spread:.2f}.")
    best_target = max(summary, key=lambda v: summary[v]["macro"])
    if best_target != ranked[0]:
        # The paired test against the baseline, when one of the two is the baseline.
        other = ranked[0] if best_target == baseline else best_target if ranked[0] == baseline else None
        test = summary[other].get("test") if other else None
        tested = ""
        if test:
            lo, hi = test["ci95"]
            tested = (f"; {other} − {baseline} {100 * test['diff']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}], "
                      + ("not distinguishable" if lo <= 0 <= hi else "distinguishable"))
        out.append(f"- The English-dev choice does not transfer perfectly: on the low-resource "
                   f"macro-average {best_target} is highest ({100 * summary[best_target]['macro']:.2f} vs "
                   f"{100 * summary[ranked[0]]['macro']:.2f}{tested}). We report it, but may not choose by it.")
    worst = {v: min(genre_means(runs).values()) for v, runs in runs_v.items() if genre_means(runs)}
    if worst:
        spread_g = {v: max(genre_means(runs_v[v]).values()) - worst[v] for v in worst}
        most = max(worst, key=worst.get)
        out.append(f"- Robustness (worst GUM genre, seed mean): {most} is highest ({pct(worst[most])}), "
                   f"{baseline} {pct(worst[baseline])}; the spread across genres ranges from "
                   f"{pct(min(spread_g.values()))} to {pct(max(spread_g.values()))} points over variants.")
    return out


def probe_answer(frozen: Dict, main_v: Dict[str, List[Dict]], probe: List[Dict], keys: List[str],
                 family: PairedTestFamily) -> List[str]:
    """Frozen regime: fusions against the best single layer, and the layer probe's peaks."""
    out = []
    if probe and frozen:
        best_layer = max(probe, key=lambda r: r["english_dev"])
        k = best_layer["settings"]["layers"][0]
        rng = numpy.random.default_rng(1)
        for v in frozen:
            if v.startswith("LastLayer"):
                continue
            seed0 = [r for r in main_v[v] if r["settings"]["seed"] == 0]
            t = family.test(seed0, [best_layer], keys, rng)
            dev = seed0[0]["english_dev"] - best_layer["english_dev"]
            out.append(f"- Frozen, against the best single layer on English dev (hidden state {k}, seed 0 vs "
                       f"seed 0): {v} is {100 * dev:+.2f} points on English dev and {100 * t['diff']:+.2f} "
                       f"[{100 * t['ci95'][0]:+.2f}, {100 * t['ci95'][1]:+.2f}] ({p_text(t)}) on the "
                       f"low-resource macro-average.")
    if probe:
        by_dev = max(probe, key=lambda r: r["english_dev"])
        by_target = max(probe, key=lambda r: r["macro_low_resource"]["accuracy"])
        last = max(probe, key=lambda r: r["settings"]["layers"][0])
        out.append(f"- Layer probe: English dev peaks at hidden state {by_dev['settings']['layers'][0]} "
                   f"({pct(by_dev['english_dev'])}); the low-resource macro-average peaks at hidden state "
                   f"{by_target['settings']['layers'][0]} ({pct(by_target['macro_low_resource']['accuracy'])}), "
                   f"against {pct(last['macro_low_resource']['accuracy'])} for the last layer.")
    return out


def answer(summary: Dict, regimes: Dict[str, Dict[str, List[Dict]]], probe: List[Dict], keys: List[str],
           family: PairedTestFamily) -> List[str]:
    """The plain answer, worded from the numbers (nothing typed by hand)."""
    out = ["In short:", ""]
    for title, sm in summary.items():
        verdicts = {"better": 0, "worse": 0, "not distinguishable": 0}
        for v, x in sm.items():
            if "test" in x:
                lo, hi = x["test"]["ci95"]
                verdicts["better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"] += 1
        baseline = next(v for v in sm if v.startswith("LastLayer"))
        out.append(f"- {title}: of {sum(verdicts.values())} fusions, {verdicts['better']} beat {baseline} on "
                   f"the low-resource macro-average, {verdicts['worse']} are worse and "
                   f"{verdicts['not distinguishable']} are not distinguishable from it (paired bootstrap, 95%).")
    out.append("")
    frozen, main_v = summary.get(FROZEN), regimes.get(FROZEN, {})
    for title in summary:
        out += [f"**{title}.**", ""] + regime_answer(summary[title], regimes[title])
        if title == FROZEN:
            out += probe_answer(frozen, main_v, probe, keys, family)
        out.append("")
    if frozen:
        shipped = max(frozen, key=lambda v: frozen[v]["dev"])
        text = (f"- Best frozen variant on English dev: **{shipped}**. The pipeline that `make all` ships is "
                "no longer a frozen one: it is fine-tuned on the CPU and chosen by the reference-language dev "
                "protocol, in `reports/finetune_cpu.md`.")
    if frozen and summary.get(FINETUNED):
        ft = summary[FINETUNED]
        ft_best = max(ft, key=lambda v: ft[v]["dev"])
        ft_base = next(v for v in ft if v.startswith("LastLayer"))
        t = family.test(regimes[FINETUNED][ft_base], main_v[shipped], keys, numpy.random.default_rng(2))
        steps = regimes[FINETUNED][ft_best][0]["settings"]["steps"]
        out += ["**Across regimes.**", "",
                f"- Fine-tuned against frozen: fine-tuned {ft_base} has "
                f"English dev {pct(ft[ft_base]['dev'])} and low-resource macro {pct(ft[ft_base]['macro'])}, "
                f"against {pct(frozen[shipped]['dev'])} and {pct(frozen[shipped]['macro'])} for frozen {shipped}: "
                f"{100 * t['diff']:+.2f} points on the macro-average (95% CI [{100 * t['ci95'][0]:+.2f}, "
                f"{100 * t['ci95'][1]:+.2f}], paired; seeds and sentences resampled).",
                f"- Over both regimes, English dev ranks fine-tuned **{ft_best}** first ({pct(ft[ft_best]['dev'])}, "
                f"{steps:,} steps on an accelerator).",
                text, ""]
    elif frozen:
        out += [text, ""]
    return out

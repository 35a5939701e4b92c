"""Write reports/zero_shot_pos.md and its plots from the experiment metrics JSON.

Nothing here is typed by hand: every figure is computed from metrics/experiments/, which is
also archived as reports/experiment_metrics.tar.gz. Runs the archive holds and
metrics/experiments/ lacks (regime b's, made on an accelerator) are extracted into it first,
so the report can be regenerated without rerunning anything and a machine without those runs
does not drop them; local files always win.

Statistics (layer_fusion.research.statistics and .paired_tests, tested)
- Per-language accuracy of a variant: seeds pooled (per-sentence correct counts summed
  over seeds), 95% percentile bootstrap CI over sentences.
- Low-resource macro-average: mean of the per-treebank accuracies; its CI resamples
  seeds (with replacement) and, within each treebank, sentences (hierarchical bootstrap).
- Fusion vs baseline: hierarchical paired bootstrap (seeds resampled per variant, the same
  resampled sentences for both systems); two-sided p with the smallest reportable value
  2 / (N_BOOT + 1); Holm-Bonferroni across every test in the report.
- Robustness: per variant, the worst-domain accuracy (lowest GUM genre, seed mean) and
  the spread (best minus worst genre); for the two-treebank languages, the gap a - b.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy
import typer

from layer_fusion.report_table import ci, pct
from layer_fusion.research import statistics as stats
from layer_fusion.research.metrics_archive import restore_missing, write_reproducible_archive
from layer_fusion.research.paired_tests import PairedTestFamily, seed_from
from layer_fusion.research.report_plots import genre_means, plots

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "metrics" / "experiments"
N_BOOT = 2000
# Regime a's earlier runs (fixed epochs, a different optimiser), for "What changed".
BEFORE_CONVERGENCE = REPO / "reports" / "experiment_metrics_10_epochs.tar.gz"
FROZEN, FINETUNED = "Regime a, frozen encoder", "Regime b, fine-tuned encoder"
REGIMES = {"main": FROZEN, "finetuned": FINETUNED}  # metrics/experiments/<stage> -> title
REGIME_FILE_SUFFIX = {FROZEN: "", FINETUNED: "_finetuned"}


def archived_bytes(stage: str, path: Path) -> bytes:
    """A run's metrics as the archive keeps them: the report reads only the summary of a
    sweep run (English dev, macro-average, settings), so its per-sentence counts, the bulk
    of the file, stay out. Stripping is idempotent, so the archive regenerates unchanged."""
    if stage != "sweep":
        return path.read_bytes()
    run = json.loads(path.read_text(encoding="utf-8"))
    for treebank in run["treebanks"].values():
        treebank.pop("per_sentence", None)
    return (json.dumps(run, indent=1)).encode("utf-8")


def load_stage(stage: str) -> List[Dict]:
    return [json.loads(p.read_text()) for p in sorted((RUNS / stage).glob("*.json"))]


def variant_name(run: Dict) -> str:
    s = run["settings"]
    layers = s["layers"]
    if s["fusion"] in ("ScalarMix", "LayerAttention") and len(layers) > 2:
        return f"{s['fusion']} (all {len(layers)})"
    return f"{s['fusion']} {layers}"


def group_by_variant(runs: List[Dict]) -> Dict[str, List[Dict]]:
    out: Dict[str, List[Dict]] = {}
    for r in runs:
        out.setdefault(variant_name(r), []).append(r)
    return out


def counts(runs: List[Dict], key: str):
    """words (n,), correct (seeds, n) for one treebank."""
    tb = [r["treebanks"][key]["per_sentence"] for r in runs]
    return numpy.asarray(tb[0]["words"]), numpy.stack([numpy.asarray(t["correct"]) for t in tb])


def low_resource_keys(run: Dict) -> List[str]:
    return [k for k, t in run["treebanks"].items() if t["group"] == "low_resource"]


def macro_ci(runs: List[Dict], keys: List[str], rng) -> tuple:
    """Seed-mean macro-average and its hierarchical bootstrap CI (seeds and sentences)."""
    data = stats.runs_from_metrics(runs, keys)
    return stats.macro(data), numpy.asarray(stats.macro_ci(data, N_BOOT, seed_from(rng)))


def p_text(test: Dict) -> str:
    return "p " + PairedTestFamily.placeholder(test)


def same_seed(runs: List[Dict], run: Dict) -> Optional[Dict]:
    """The run in ``runs`` with ``run``'s seed, if any."""
    return next((r for r in runs if r["settings"]["seed"] == run["settings"]["seed"]), None)


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


def peaked_at_last_epoch(run: Dict) -> bool:
    """Best English dev at the last epoch the run was allowed: it may still have been improving."""
    return run["history"]["best_epoch"] == run["settings"]["epochs"]


def convergence_section(stages: Dict[str, List[Dict]]) -> List[str]:
    """How long each frozen-regime run trained, and whether any peaked at its last allowed epoch."""
    lines = ["", "## Training to convergence (regime a)", "",
             "Each head stops when English dev has not improved for a set number of epochs (patience), "
             "within a maximum; the best epoch is kept. A run whose best epoch is its last allowed one may "
             "still have been improving.", "",
             "| stage | runs | max epochs | patience | epochs run | best epoch | best at the last allowed epoch |",
             "|---|---|---|---|---|---|---|"]
    flagged = []
    for stage, runs in stages.items():
        if not runs:
            continue
        ran = [len(r["history"]["dev_accuracy"]) for r in runs]
        best = [r["history"]["best_epoch"] for r in runs]
        at_end = [r for r in runs if peaked_at_last_epoch(r)]
        flagged += [f"{stage} {variant_name(r)} seed {r['settings']['seed']}" for r in at_end]
        maxes = sorted({r["settings"]["epochs"] for r in runs})
        patience = sorted({r["settings"].get("patience") for r in runs}, key=str)
        lines.append(f"| {stage} | {len(runs)} | {', '.join(map(str, maxes))} | "
                     f"{', '.join('none' if x is None else str(x) for x in patience)} | {min(ran)}–{max(ran)} | "
                     f"{min(best)}–{max(best)} | {len(at_end)} |")
    lines.append("")
    lines.append("No run had its best English dev at its last allowed epoch." if not flagged else
                 f"{len(flagged)} run(s) had their best English dev at the last allowed epoch and may not have "
                 f"converged: {'; '.join(flagged)}.")
    return lines


def archived_stages(archive: Path, stages) -> Dict[str, List[Dict]]:
    """Metrics of ``stages`` from a report archive (reports/*.tar.gz), sorted by file name."""
    import tarfile

    out: Dict[str, List[Dict]] = {stage: [] for stage in stages}
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            stage = member.name.split("/", 1)[0]
            if stage in out and member.isfile():
                out[stage].append(json.loads(tar.extractfile(member).read()))
    return out


def seed_mean(runs: List[Dict], field: str) -> float:
    return float(numpy.mean([r["macro_low_resource"]["accuracy"] if field == "macro" else r[field] for r in runs]))


def changes_section(before: Dict[str, List[Dict]], now: Dict[str, List[Dict]], archive_name: str) -> List[str]:
    """Regime a before and after training to convergence (seed means)."""
    old_v, new_v = group_by_variant(before["main"]), group_by_variant(now["main"])
    fusion = lambda v: v.split(" ")[0]
    old_by, new_by = {fusion(v): v for v in old_v}, {fusion(v): v for v in new_v}
    lines = ["", "## What changed with training to convergence (regime a)", "",
             f"The earlier frozen-regime runs (archived in `reports/{archive_name}`) trained every head for a fixed "
             f"number of epochs with a different optimiser; these runs replace them. Seed means:", "",
             "| fusion | variant before | variant now | English dev before | now | low-resource macro before | now "
             "| gain over LastLayer before | now |", "|---|---|---|---|---|---|---|---|---|"]
    gains = {}
    for f in [f for f in new_by if f in old_by]:
        ov, nv = old_v[old_by[f]], new_v[new_by[f]]
        gain_old = seed_mean(ov, "macro") - seed_mean(old_v[old_by["LastLayer"]], "macro")
        gain_new = seed_mean(nv, "macro") - seed_mean(new_v[new_by["LastLayer"]], "macro")
        gains[f] = (gain_old, gain_new)
        cell = lambda g: "—" if f == "LastLayer" else f"{100 * g:+.2f}"
        lines.append(f"| {f} | {old_by[f]} | {new_by[f]} | {pct(seed_mean(ov, 'english_dev'))} | "
                     f"{pct(seed_mean(nv, 'english_dev'))} | {pct(seed_mean(ov, 'macro'))} | "
                     f"{pct(seed_mean(nv, 'macro'))} | {cell(gain_old)} | {cell(gain_new)} |")
    old_end = sum(peaked_at_last_epoch(r) for st in before.values() for r in st)
    n_old = sum(len(st) for st in before.values())
    lines += ["", f"- Before, {old_end} of {n_old} probe, sweep and main runs had their best English dev at their "
              "last allowed epoch."]
    fused = {f: g for f, g in gains.items() if f != "LastLayer"}
    if fused:
        lo, hi = min(g[1] for g in fused.values()), max(g[1] for g in fused.values())
        lo0, hi0 = min(g[0] for g in fused.values()), max(g[0] for g in fused.values())
        lines.append(f"- The fusions' gain over LastLayer (seed means) was {100 * lo0:+.1f} to {100 * hi0:+.1f} "
                     f"points and is now {100 * lo:+.1f} to {100 * hi:+.1f} (paired tests in the main comparison).")
    for f in ("DLFA", "AIF"):
        if f in old_by and f in new_by and old_by[f] != new_by[f]:
            lines.append(f"- k* of {f} moved: {old_by[f]} before, {new_by[f]} now.")
    return lines


def limits(regimes: Dict[str, Dict[str, List[Dict]]], budget: Dict[str, List[Dict]]) -> List[str]:
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
        from layer_fusion.targets import load_targets

        listed = load_targets(REPO / "configs" / "targets.cfg").treebanks
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


def budget_section(budget: Dict[str, List[Dict]], finetuned: Dict[str, List[Dict]], keys: List[str], rng,
                   family: PairedTestFamily) -> List[str]:
    """Regime b at a longer step budget (seed 0) against the main budget (seed 0)."""
    steps = next(iter(budget.values()))[0]["settings"]["steps"]
    main_steps = next(iter(finetuned.values()))[0]["settings"]["steps"]
    baseline = next(v for v in budget if v.startswith("LastLayer"))
    lines = ["", f"### Regime b: step budget check ({main_steps:,} vs {steps:,} steps, seed 0)", "",
             "Does the answer change with twice the budget? Seed 0 of each variant, trained again for "
             f"{steps:,} steps (warm-up and evaluation as before).", "",
             f"| variant | dev @{main_steps} | macro @{main_steps} | dev @{steps} | macro @{steps} | "
             f"vs {baseline} @{steps} (paired) | p |", "|---|---|---|---|---|---|---|"]
    for v, runs in budget.items():
        short = same_seed(finetuned.get(v, []), runs[0])
        cells = [pct(short["english_dev"]), pct(short["macro_low_resource"]["accuracy"])] if short else ["", ""]
        if v == baseline:
            cmp, p = "—", "—"
        else:
            t = family.test(runs, budget[baseline], keys, rng)
            cmp, p = f"{100 * t['diff']:+.2f} {ci(t['ci95'])}", family.placeholder(t)
        lines.append(f"| {v} | " + " | ".join(cells) + f" | {pct(runs[0]['english_dev'])} | "
                     f"{pct(runs[0]['macro_low_resource']['accuracy'])} | {cmp} | {p} |")
    return lines


def comparison(title: str, runs_v: Dict[str, List[Dict]], keys: List[str], all_keys: List[str], rng,
               family: PairedTestFamily):
    """Markdown for one regime: main table, per-treebank table, domain shift; and its summary."""
    summary = {}
    pair_keys = list(next(iter(runs_v.values()))[0]["domain_pairs"])
    baseline = next(v for v in runs_v if v.startswith("LastLayer"))
    lines = [f"## {title}: main comparison", "",
             "| variant | seeds | English dev | low-resource macro [95% CI] | vs baseline (paired) | p |",
             "|---|---|---|---|---|---|"]
    for v, runs in runs_v.items():
        dev = numpy.mean([r["english_dev"] for r in runs])
        m, c = macro_ci(runs, keys, rng)
        summary[v] = {"dev": dev, "macro": m, "ci": c, "seeds": len(runs)}
        if v == baseline:
            cmp, p = "—", "—"
        else:
            t = family.test(runs, runs_v[baseline], keys, rng)
            summary[v]["test"] = t
            cmp, p = f"{100 * t['diff']:+.2f} {ci(t['ci95'])}", family.placeholder(t)
        lines.append(f"| {v} | {len(runs)} | {pct(dev)} | {pct(m)} {ci(c)} | {cmp} | {p} |")
    best = max(runs_v, key=lambda v: summary[v]["dev"])
    lines += ["", f"Best on English dev: **{best}**.", ""]
    # Per-language table.
    lines += [f"### {title}: per treebank (seeds pooled, 95% CI over sentences)", "",
              "| treebank | group | words | " + " | ".join(runs_v) + " |",
              "|---|---|---|" + "---|" * len(runs_v)]
    for k in all_keys:
        t = runs_v[baseline][0]["treebanks"][k]
        cells = []
        for v, runs in runs_v.items():
            w, c = counts(runs, k)
            a, cc = stats.pooled_seeds_ci(w, c, N_BOOT, rng)
            cells.append(f"{pct(a)} {ci(cc)}")
        lines.append(f"| {t['language']} {k} | {t['group']} | {t['words']} | " + " | ".join(cells) + " |")
    # Domains.
    lines += ["", f"### {title}: domain shift", "",
              "GUM test by genre (EWT-trained; seed mean). Robustness = worst-genre accuracy "
              "and spread (best minus worst genre).", ""]
    genres = {v: genre_means(runs) for v, runs in runs_v.items()}
    names = sorted({g for d in genres.values() for g in d})
    lines += ["| variant | " + " | ".join(names) + " | worst | spread |", "|---|" + "---|" * (len(names) + 2)]
    for v, d in genres.items():
        vals = [d[g] for g in names if g in d]
        lines.append(f"| {v} | " + " | ".join(pct(d.get(g, float('nan'))) for g in names)
                     + f" | {pct(min(vals))} | {pct(max(vals) - min(vals))} |")
    lines += ["", "Two treebanks of one language, different domains (seed mean; gap = a - b):", "",
              "| variant | " + " | ".join(pair_keys) + " |", "|---|" + "---|" * len(pair_keys)]
    for v, runs in runs_v.items():
        cells = []
        for key in pair_keys:
            ps = [r["domain_pairs"][key] for r in runs if not r["domain_pairs"][key].get("missing")]
            if not ps:
                cells.append("missing")
                continue
            cells.append(f"{pct(numpy.mean([p['accuracy_a'] for p in ps]))} / "
                         f"{pct(numpy.mean([p['accuracy_b'] for p in ps]))} "
                         f"(gap {100 * numpy.mean([p['gap'] for p in ps]):+.1f})")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return lines, summary


def main(output: Path = typer.Option(REPO / "reports" / "zero_shot_pos.md")):
    rng = numpy.random.default_rng(0)
    family = PairedTestFamily(N_BOOT)  # every paired test below, Holm-adjusted together at the end
    out_dir = output.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    # The archive below is rewritten from RUNS: runs only it holds (regime b's, made on an
    # accelerator) would otherwise drop out of the report and the archive.
    restored = restore_missing(out_dir / "experiment_metrics.tar.gz", RUNS)
    if restored:
        typer.echo(f"{restored} metrics file(s) absent from {RUNS} restored from {out_dir / 'experiment_metrics.tar.gz'}")
    probe, sweep, main_runs = load_stage("probe"), load_stage("sweep"), load_stage("main")
    lines = ["# Does layer fusion help zero-shot POS tagging? (generated by scripts/make_report.py)", ""]
    any_run = (main_runs or probe or sweep or [None])[0]
    if any_run is None:
        raise typer.Exit("no experiment metrics found: run scripts/run_experiments.py first")
    keys = low_resource_keys(any_run)
    described = {t: load_stage(st)[0]["regime"] for st, t in REGIMES.items() if load_stage(st)}
    lines += ["Encoder: multilingual-e5-small (4-bit weights dequantized to fp32). Training data: English "
              "EWT train only; model selection (epoch or step, k*, shipped variant): English EWT dev only. "
              f"Low-resource group: {len(keys)} treebanks (configs/targets.cfg).", ""]
    lines += [f"- {t}: {d}." for t, d in described.items()] + [""]
    summary, regimes = {}, {}
    for stage, title in REGIMES.items():
        runs_v = group_by_variant(load_stage(stage))
        if runs_v:
            regime_lines, summary[title] = comparison(title, runs_v, keys, list(next(iter(runs_v.values()))[0]["treebanks"]), rng,
                                                         family)
            regimes[title] = runs_v
            lines += regime_lines
    budget = group_by_variant(load_stage("finetuned_budget"))
    if budget and FINETUNED in regimes:
        lines += budget_section(budget, regimes[FINETUNED], keys, rng, family)
    if probe:
        lines += ["", "## Layer probe (LastLayer on one frozen hidden state, seed 0)", "",
                  "| hidden state | English dev | low-resource macro [95% CI] |", "|---|---|---|"]
        for r in sorted(probe, key=lambda r: r["settings"]["layers"][0]):
            m = r["macro_low_resource"]
            lines.append(f"| {r['settings']['layers'][0]} | {pct(r['english_dev'])} | {pct(m['accuracy'])} {ci(m['ci95'])} |")
    if sweep:
        lines += ["", "## Fusion layer choice: layers [k, -1] (seed 0)", "",
                  "k* is the k with the best English dev accuracy; target figures are shown for every k "
                  "so the reader can see whether the English-dev choice transfers.", "",
                  "| k | DLFA dev | DLFA low-res macro | AIF dev | AIF low-res macro |", "|---|---|---|---|---|"]
        by = {(r["settings"]["fusion"], r["settings"]["layers"][0]): r for r in sweep}
        for k in sorted({k for _, k in by}):
            cells = []
            for f in ("DLFA", "AIF"):
                r = by.get((f, k))
                cells += [pct(r["english_dev"]), pct(r["macro_low_resource"]["accuracy"])] if r else ["", ""]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        for f in ("DLFA", "AIF"):
            runs = [r for r in sweep if r["settings"]["fusion"] == f]
            if runs:
                # Ties go to the smaller k, as in layer_fusion.research.variants.best_k.
                b = min(runs, key=lambda r: (-r["english_dev"], r["settings"]["layers"][0]))
                t = max(runs, key=lambda r: r["macro_low_resource"]["accuracy"])
                lines.append(f"\n{f}: k* = {b['settings']['layers'][0]} on English dev "
                             f"(the k that would be best on the targets, which we may not use to choose, "
                             f"is {t['settings']['layers'][0]}).")
    stages = {"probe": probe, "sweep": sweep, "main": main_runs}
    lines += convergence_section(stages)
    if BEFORE_CONVERGENCE.is_file() and main_runs:
        lines += changes_section(archived_stages(BEFORE_CONVERGENCE, stages), stages, BEFORE_CONVERGENCE.name)
    lines += ["", "## Answer", ""] + answer(summary, regimes, probe, keys, family) + ["", "## Limits", ""] + limits(regimes, budget)
    figures = plots(out_dir, probe, regimes, summary, keys, REGIME_FILE_SUFFIX)
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    lines += ["", f"Paired tests: {len(family)} in this report, hierarchical bootstrap with {N_BOOT:,} replicates "
              "(seeds resampled per variant, sentences resampled within each treebank and shared by the two "
              f"systems); the smallest reportable p is {family.p_floor:.4f}. \"Holm\" is the Holm-Bonferroni adjusted p "
              "over all of them; verdicts (better / worse / not distinguishable) use the unadjusted 95% CI."]
    text = family.fill("\n".join(lines) + "\n")
    as_json = lambda d: {v: {k: (list(map(float, x)) if isinstance(x, numpy.ndarray) else x) for k, x in s.items()}
                         for v, s in d.items()}
    output.write_text(text, encoding="utf8")
    (out_dir / "summary.json").write_text(json.dumps({t: as_json(d) for t, d in summary.items()}, indent=1))
    # The report's inputs travel with it (compressed, bytes fixed by content), so it can be
    # checked and regenerated without rerunning (scripts/regenerate_reports.py).
    write_reproducible_archive(out_dir / "experiment_metrics.tar.gz", [
        (f"{stage}/{path.name}", archived_bytes(stage, path))
        for stage in ("probe", "sweep", *REGIMES, "finetuned_budget") for path in sorted((RUNS / stage).glob("*.json"))])
    typer.echo(f"wrote {output}, {len(figures)} figures and the metrics archive")


if __name__ == "__main__":
    typer.run(main)

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
from typing import Dict, List

import numpy
import typer

from layer_fusion.report_table import ci, pct
from layer_fusion.research import statistics as stats
from layer_fusion.research.convergence_report import changes_section, convergence_section
from layer_fusion.research.experiment_runs import FINETUNED, FROZEN, group_by_variant, same_seed
from layer_fusion.research.metrics_archive import read_stages, restore_missing, write_reproducible_archive
from layer_fusion.research.paired_tests import PairedTestFamily, seed_from
from layer_fusion.research.report_answer import answer, limits
from layer_fusion.research.report_plots import genre_means, plots

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "metrics" / "experiments"
N_BOOT = 2000
# Regime a's earlier runs (fixed epochs, a different optimiser), for "What changed".
BEFORE_CONVERGENCE = REPO / "reports" / "experiment_metrics_10_epochs.tar.gz"
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
    runs = [json.loads(p.read_text()) for p in sorted((RUNS / stage).glob("*.json"))]
    if stage != "sweep" and stage != "probe":
        check_one_layer_setting(stage, runs)
    return runs


def check_one_layer_setting(stage: str, runs: List[Dict]) -> None:
    """A comparison runs each fusion on one layer setting (DLFA and AIF on [k*, -1]). Runs of
    a fusion on two settings are results of an earlier k* left beside the new ones: they would
    enter the comparison as a variant of their own. Raises SystemExit naming them."""
    layers: Dict[str, set] = {}
    for r in runs:
        layers.setdefault(r["settings"]["fusion"], set()).add(tuple(r["settings"]["layers"]))
    for fusion, settings in layers.items():
        if len(settings) > 1:
            shown = ", ".join(str(list(s)) for s in sorted(settings))
            raise SystemExit(f"{RUNS / stage}: {fusion} runs on several layer settings ({shown}), results of an "
                             "earlier k* among them: move those of the old k* out of it (`run_experiments.py main` moves "
                             "them to superseded/) and run the stage again")


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
        lines += changes_section(read_stages(BEFORE_CONVERGENCE, stages), stages, BEFORE_CONVERGENCE.name)
    lines += ["", "## Answer", ""] + answer(summary, regimes, probe, keys, family) + ["", "## Limits", ""] + limits(regimes, budget, REPO / "configs" / "targets.cfg")
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

"""Generate reports/intermediate_tasks.md (and reports/intermediate_tasks.png) from committed files.

Inputs: configs/intermediate_grid.cfg (runs and comparisons) and metrics/grid/<run>/zero_shot.json.
The research question: does aggregating features across intermediate tasks improve robustness
to domain shift in zero-shot cross-lingual POS tagging on low-resource languages? Measured per
comparison (a = with intermediate tasks, b = the same fusion without):

- zero-shot cross-lingual: the 28-target macro-average, hierarchical paired bootstrap (seeds and
  sentences resampled), Holm-adjusted over the family;
- domain shift in English: the worst GUM genre and the spread across genres, paired bootstrap
  (research/statistics.py: paired_group_extremes), the worst genre's p Holm-adjusted over the
  comparisons as a second family;
- domain shift within a low-resource language: the two-treebank pairs (Tagalog, Irish, Tamil),
  the lower of the two accuracies and the gap.

The screen's metrics travel as reports/intermediate_grid_metrics.tar.gz (byte-reproducible).
Runs it holds and metrics/grid lacks are extracted into it first (local files win), so
`python scripts/make_intermediate_report.py` regenerates the report without rerunning the grid.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import typer

from layer_fusion.research.paired_tests import holm_text, p_text
from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.research.statistics import holm, paired_difference, paired_group_extremes, runs_from_metrics
from layer_fusion.research.variants import load_comparisons, load_grid

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from make_finetune_report import (  # noqa: E402  (a sibling script: the shared table helpers)
    N_RESAMPLES, ci, load, low_resource_keys, pct, restore_archived_runs, seeds_of, signed_ci, write_archive,
)

GUM = "en_gum_test"
app = typer.Typer(add_completion=False)


def describe(run: dict) -> str:
    tasks = run.get("intermediate") or []
    if not tasks:
        return "none"
    layers = run.get("intermediate_layers") or [-1] * len(tasks)
    where = ", ".join(f"{t} @ {'top' if l == -1 else l}" for t, l in zip(tasks, layers))
    factor = float(run.get("intermediate_grad_factor", 1.0))
    if factor != 1.0:
        where += f"; their gradient × {factor:g}"
    if run["intermediate_mode"] == "sequential":
        return f"sequential ({where}; {run.get('intermediate_steps') or run['steps']} steps first)"
    return f"multi-task ({where})"


def fusion_text(run: dict) -> str:
    layers = "" if run["fusion"] == "LastLayer" else f" {run['layers']}"
    return f"{run['fusion']}{layers}, k={run['bottom_layers']}"


def gum_counts(metrics: List[dict]):
    """words (n,), correct (S, n), genre (n,) of GUM test over the runs' seeds."""
    per = [m["treebanks"][GUM]["per_sentence"] for m in metrics]
    return (np.asarray(per[0]["words"]), np.stack([np.asarray(p["correct"]) for p in per]), per[0]["genre"])


def pair_rows(metrics: dict) -> Dict[str, dict]:
    return {key: {"low": min(p["accuracy_a"], p["accuracy_b"]), "gap": p["gap"], "label": p["label"]}
            for key, p in (metrics.get("domain_pairs") or {}).items()}


def plot(out: Path, results: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.5 * len(results) + 1.8), sharey=True)
    y = np.arange(len(results))
    labels = [comp["label"].split(" vs ")[0] for _, comp, *_ in results]
    for ax, (title, getter) in zip(axes, [
        ("low-resource targets (macro): a − b (points)", lambda r: (r[2].difference, r[2].ci95)),
        ("worst GUM genre: a − b (points)", lambda r: (r[3].worst_a - r[3].worst_b, r[3].worst_difference_ci95)),
    ]):
        for i, r in enumerate(results):
            d, (lo, hi) = getter(r)
            ax.errorbar(100 * d, i, xerr=[[100 * (d - lo)], [100 * (hi - d)]], fmt="o", color="C0" if lo > 0 else
                        "C3" if hi < 0 else "C7", capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels, fontsize=7)
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def verdict(lo: float, hi: float) -> str:
    return "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"


@app.command()
def main(
    grid: Path = typer.Option(REPO / "configs" / "intermediate_grid.cfg", "--grid"),
    metrics_dir: Path = typer.Option(REPO / "metrics" / "grid", "--metrics-dir"),
    output: Path = typer.Option(REPO / "reports" / "intermediate_tasks.md", "--output"),
):
    runs = load_grid(grid)
    comparisons = load_comparisons(grid, runs)
    restore_archived_runs(REPO / "reports" / "intermediate_grid_metrics.tar.gz", metrics_dir)
    metrics = {n: m for n in runs if (m := load(metrics_dir / n / "zero_shot.json"))}
    lines = [
        "# Intermediate tasks: English syntax before and beside POS, and aggregation across tasks",
        "",
        "Generated by `scripts/make_intermediate_report.py` from `configs/intermediate_grid.cfg` and "
        "`metrics/grid/` (do not edit by hand).",
        "",
        "**Question.** Does aggregating features across intermediate tasks improve robustness to domain "
        "shift in zero-shot cross-lingual POS tagging on low-resource languages?",
        "",
        "**Set-up.** Every run fine-tunes multilingual-e5-small in the spaCy path as "
        "`configs/finetune.cfg` does (300 steps, word embeddings frozen, English EWT only) and is "
        "evaluated zero-shot on `model-last`. The intermediate tasks are spaCy components listening to "
        "the same transformer (`configs/intermediate_tasks.cfg`), trained on EWT train: `parser` "
        "(UD dependencies) and `feats` (a tagger over FEATS strings). *Multi-task*: UPOS and the tasks "
        "train together. *Sequential*: the tasks train first, then UPOS starts from that encoder "
        "(`[components.transformer] source`). *Aggregation*: the tasks supervise different hidden states "
        "of the one encoder pass (FEATS hidden state 6, dependencies hidden state 9) and the UPOS fusion "
        "reads [6, 9, 12], so each of its inputs is shaped by a different task; inference is one encoder "
        "pass and the intermediate components are left out of the evaluated pipeline. Nothing is chosen "
        "on target data; English dev is the only selection set.",
        "",
        "## Screen",
        "",
        "| run | UPOS fusion | intermediate tasks | train min | English dev UPOS | LAS | FEATS | "
        "low-resource targets [95% CI] | de Vries 14 | worst GUM genre | GUM spread |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, run in runs.items():
        m = metrics.get(name)
        if m is None:
            continue
        dev = m["run"].get("dev_scores") or {}
        stage = m["run"].get("intermediate_dev_scores") or {}
        las = dev.get("dep_las", stage.get("dep_las"))
        feats = dev.get("tag_acc", stage.get("tag_acc"))
        genres = m["gum_genres"][GUM]
        accs = [g["accuracy"] for g in genres.values()]
        mlr = m["macro_low_resource"]
        lines.append(
            f"| {name} | {fusion_text(run)} | {describe(run)} | {m['run']['train_seconds'] / 60:.1f} | "
            f"{pct(m['treebanks']['en_ewt_dev']['accuracy'])} | {pct(las)} | {pct(feats)} | "
            f"{pct(mlr['accuracy'])} {ci(mlr['ci95'])} | {pct(m['macro_subsets']['de_vries_2022']['accuracy'])} | "
            f"{pct(min(accs))} | {pct(max(accs) - min(accs))} |"
        )
    lines += ["", "LAS and FEATS: English dev at the end of the run that trained them (the first stage of a "
              "sequential run). Train minutes include both stages and spaCy's dev evaluations."]
    not_run = [n for n in runs if n not in metrics]
    if not_run:
        lines += ["", f"Not run (no metrics; CPU time ran out): {', '.join(f'`{n}`' for n in not_run)}."]

    results = []
    for key, comp in comparisons.items():
        if comp["a"] not in metrics or comp["b"] not in metrics:
            continue
        a_names, b_names = seeds_of(comp["a"], runs, metrics), seeds_of(comp["b"], runs, metrics)
        a_m, b_m = [metrics[n] for n in a_names], [metrics[n] for n in b_names]
        keys = low_resource_keys(a_m[0])
        diff = paired_difference(runs_from_metrics(a_m, keys), runs_from_metrics(b_m, keys), N_RESAMPLES)
        words, correct_a, genre = gum_counts(a_m)
        _, correct_b, _ = gum_counts(b_m)
        gum = paired_group_extremes(words, correct_a, correct_b, genre, N_RESAMPLES)
        results.append((key, comp, diff, gum, len(a_names), len(b_names)))
    if results:
        adjusted = holm([r[2].p for r in results])
        adjusted_worst = holm([r[3].worst_difference_p for r in results])
        lines += ["", "## Paired comparisons", "",
                  "a − b in points. Macro: hierarchical paired bootstrap over the low-resource targets "
                  f"(seeds and sentences resampled, B = {N_RESAMPLES:,}; smallest reportable p 2/(B+1)), Holm–"
                  f"Bonferroni across these {len(results)} comparisons (a family of its own). Worst genre and "
                  "spread: GUM test, seeds resampled and sentences resampled within each genre, the same draws "
                  "for a and b; the worst genre's p values are Holm-adjusted across the same comparisons "
                  "(a second family).", "",
                  "| comparison | seeds a / b | low-resource targets a − b [95% CI] | p | Holm p | worst GUM genre a − b | "
                  "worst genre Holm p | GUM spread a − b |", "|---|---:|---|---:|---:|---|---:|---|"]
        for (key, comp, d, g, na, nb), p_adj, p_worst in zip(results, adjusted, adjusted_worst):
            lines.append(
                f"| {comp['label']} | {na} / {nb} | {100 * d.difference:+.2f} {signed_ci(d.ci95)} | "
                f"{p_text(d.p, d.p_floor)} | {holm_text(d.p, p_adj, d.p_floor)} | {100 * (g.worst_a - g.worst_b):+.2f} "
                f"{signed_ci(g.worst_difference_ci95)} | {holm_text(g.worst_difference_p, p_worst, g.p_floor)} | "
                f"{100 * (g.spread_a - g.spread_b):+.2f} {signed_ci(g.spread_difference_ci95)} |")
        if any(na == 1 or nb == 1 for *_, na, nb in results):
            lines += ["", "A side with one seed has no seed variance to resample: its interval covers sentences "
                      "only and understates the uncertainty (seeds of one variant move the 28-target macro by "
                      "up to a few tenths of a point: `reports/finetune_cpu.md`, variants with several seeds)."]
        plot(REPO / "reports" / "intermediate_tasks.png", results)
        lines += ["", "![paired differences](intermediate_tasks.png)", ""]

        lines += ["## Domain pairs (two treebanks of one low-resource language)", "",
                  "Lower of the two treebank accuracies, and the gap between them, per run (points; one seed).", "",
                  "| run | " + " | ".join(p["label"].split(":")[0] + " low / gap"
                                          for p in pair_rows(next(iter(metrics.values()))).values()) + " |",
                  "|---|" + "---:|" * len(pair_rows(next(iter(metrics.values()))))]
        for name in runs:
            if name in metrics:
                rows = pair_rows(metrics[name])
                lines.append(f"| {name} | " + " | ".join(f"{pct(r['low'])} / {100 * r['gap']:+.1f}"
                                                          for r in rows.values()) + " |")
        lines += shipping(metrics, runs, load(REPO / "reports" / "finetune_selection.json"))
        lines += answer(results, metrics, runs)
    write_text_atomic(output, "\n".join(lines) + "\n")
    write_archive(REPO / "reports" / "intermediate_grid_metrics.tar.gz", metrics_dir, list(metrics))
    typer.echo(f"wrote {output} and reports/intermediate_grid_metrics.tar.gz ({len(metrics)} runs)")


def shipping(metrics: dict, runs: dict, selection) -> List[str]:
    """Would an intermediate-task run be shipped? The shipping protocols of
    docs/selection_protocol.md (English dev; reference dev), applied to these runs and the
    fine-tuning grid's picks (reports/finetune_selection.json)."""
    if not selection:
        return []
    lines = ["", "## Under the shipping protocols", ""]
    if not any(runs[n].get("intermediate") for n in metrics):
        return lines + ["No intermediate-task run has metrics yet."]
    shipped_changes = False
    for protocol, key in (("english_dev", lambda m: m["treebanks"]["en_ewt_dev"]["accuracy"]),
                          ("reference_dev", lambda m: m["macro_reference_dev"]["accuracy"])):
        pick = (selection.get("picks") or {}).get(protocol)
        if not pick:
            continue
        # Every run of this screen (with and without tasks) against the grid's pick.
        best = max(metrics, key=lambda n: key(metrics[n]))
        wins = key(metrics[best]) > pick["score"] and bool(runs[best].get("intermediate"))
        shipped_changes |= wins and protocol == "reference_dev"
        kind = "an intermediate-task run" if runs[best].get("intermediate") else "a run without tasks"
        lines.append(f"- {protocol.replace('_', ' ')}: best run of this screen `{best}` ({kind}) "
                     f"{pct(key(metrics[best]))} against the fine-tuning grid's pick `{pick['name']}` "
                     f"{pct(pick['score'])}: " + ("an intermediate-task run would be picked." if wins else
                                                  "no intermediate-task run is picked."))
    lines.append(f"- Shipped (reference-dev protocol): `{selection.get('shipped')}`, "
                 + ("which an intermediate-task run would replace: retrain it with `make all` after "
                    "adding it to configs/finetune_grid.cfg." if shipped_changes else "unchanged."))
    return lines


def answer(results: list, metrics: dict, runs: dict) -> List[str]:
    """The plain answer, from the comparisons: aggregation first, then the other ways through."""
    by_key = {r[0]: r for r in results}
    lines = ["", "## Answer", ""]
    agg = by_key.get("aggregation")
    if agg is None:
        return lines + ["The aggregation run has no metrics yet: no answer."]
    # A verdict needs the family-wise test too: its 95% CI on one side of 0 and a Holm-adjusted
    # p <= 0.05, the macro and the worst genre each in their family (the table's columns).
    keys = [r[0] for r in results]
    adjusted = dict(zip(keys, holm([r[2].p for r in results])))
    adjusted_worst = dict(zip(keys, holm([r[3].worst_difference_p for r in results])))

    def holm_verdict(ci95, p_adjusted: float) -> str:
        v = verdict(*ci95)
        return v if v == "not distinguishable" or p_adjusted <= 0.05 else "not distinguishable after Holm"

    def macro_verdict(key: str, d) -> str:
        return holm_verdict(d.ci95, adjusted[key])

    def worst_verdict(key: str, g) -> str:
        return holm_verdict(g.worst_difference_ci95, adjusted_worst[key])

    _, comp, d, g, seeds_a, seeds_b = agg
    macro_v = macro_verdict("aggregation", d)
    worst_v = worst_verdict("aggregation", g)
    pairs_a, pairs_b = pair_rows(metrics[comp["a"]]), pair_rows(metrics[comp["b"]])
    lows = [pairs_a[k]["low"] - pairs_b[k]["low"] for k in pairs_a]
    lines.append(
        f"- **Aggregation across intermediate tasks** ({comp['label']}): on the low-resource targets "
        f"{100 * d.difference:+.2f} points {signed_ci(d.ci95)} ({macro_v}); worst GUM genre "
        f"{100 * (g.worst_a - g.worst_b):+.2f} {signed_ci(g.worst_difference_ci95)} ({worst_v}); the lower "
        f"treebank of the {len(lows)} domain pairs moves by {', '.join(f'{100 * x:+.1f}' for x in lows)} points.")
    for key, comp, d, g, _, _ in results:
        if key == "aggregation":
            continue
        lines.append(f"- {comp['label']}: {100 * d.difference:+.2f} {signed_ci(d.ci95)} ({macro_verdict(key, d)}); "
                     f"worst GUM genre {100 * (g.worst_a - g.worst_b):+.2f} ({worst_verdict(key, g)}).")
    robust = macro_v == "better" and worst_v != "worse" and sum(x > 0 for x in lows) > len(lows) / 2
    lines += ["", "In plain words: " + (
        "yes: aggregating features across intermediate tasks improves zero-shot accuracy and does not hurt "
        f"robustness to domain shift, at {seeds_a} / {seeds_b} seeds and one budget." if robust else
        "no, not in this screen: aggregating features across intermediate tasks does not improve "
        f"robustness to domain shift here (zero-shot macro {macro_v}, worst GUM genre {worst_v}).")]
    lines += ["", f"Scope: one seed per screen run and {seeds_a} / {seeds_b} seeds for the two sides of the aggregation "
              f"comparison (the domain pairs use seed 0), 300 steps, multilingual-e5-small, English EWT as the only "
              f"source for every task; {len(metrics)} runs on a 2-core CPU."]
    return lines


if __name__ == "__main__":
    app()

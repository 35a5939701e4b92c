"""Generate reports/finetune_cpu.md (and finetune_budget.png beside it) from committed files.

Inputs: configs/finetune_grid.cfg (runs and comparisons), metrics/grid/<run>/zero_shot.json,
reports/finetune_selection.json, and when present metrics/finetuned/zero_shot.json (the
pipeline `make all` trains and ships), reports/make_all_timings.json and
reports/bench/finetune_step.json. Every number in the report comes from these files.

The grid's metrics travel with the report as reports/finetune_grid_metrics.tar.gz (written
here, byte-reproducible). Runs the archive holds and metrics/grid lacks are extracted into it
first (local files win), so `python scripts/make_finetune_report.py` regenerates the report
without rerunning the grid, and a machine with only some runs does not drop the others.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import typer

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.research.metrics_archive import restore_missing, write_reproducible_archive
from layer_fusion.research.paired_tests import holm_text, p_text
from layer_fusion.research.statistics import holm, macro, macro_ci, paired_difference, runs_from_metrics
from layer_fusion.research.variants import load_comparisons, load_grid, same_variant
from layer_fusion.targets import load_targets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_intervals import stale_reason  # noqa: E402  (a sibling script)

REPO = Path(__file__).resolve().parents[1]
N_RESAMPLES = 4000
app = typer.Typer(add_completion=False)


def load(path: Path) -> Optional[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def ci(pair) -> str:
    return f"[{100 * pair[0]:.1f}, {100 * pair[1]:.1f}]"


def signed_ci(pair) -> str:
    return f"[{100 * pair[0]:+.2f}, {100 * pair[1]:+.2f}]"


def label(run: dict) -> str:
    tok = "words" if run["split_words"] else (
        "text, trimmed offsets" if run.get("trim_offsets") else "text, stock alignment")
    layers = "" if run["fusion"] == "LastLayer" else f" {run['layers']}"
    averaged = ", weights averaged" if run.get("use_averages") else ""
    return f"{run['fusion']}{layers}, k={run['bottom_layers']}, {run['steps']} steps, {run['source']}, {tok}{averaged}"


# The report's labels ("28 targets", "de Vries 14"): every run must have been scored on them.
N_TARGETS, N_DE_VRIES = 28, 14


def check_same_sets(metrics: Dict[str, dict]) -> None:
    """Every run's macro-averages cover the report's 28 targets and de Vries et al.'s 14: a run
    scored while a set was missing would be a mean over other sets in the same column."""
    for name, m in metrics.items():
        n_low = len(low_resource_keys(m))
        n_dv = len(((m.get("macro_subsets") or {}).get("de_vries_2022") or {}).get("treebanks") or [])
        if (n_low, n_dv) != (N_TARGETS, N_DE_VRIES):
            raise SystemExit(f"{name}: its macro-averages cover {n_low} targets and {n_dv} of de Vries et al.'s "
                             f"languages, not {N_TARGETS} and {N_DE_VRIES}: evaluate it again with every set present")


def low_resource_keys(metrics: dict) -> List[str]:
    return list(metrics["macro_low_resource"]["treebanks"])


def seeds_of(name: str, runs: Dict[str, dict], metrics: Dict[str, dict]) -> List[str]:
    return [n for n in runs if same_variant(runs[n], runs[name]) and n in metrics]


def budget_plot(out: Path, rows: List[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["steps"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    steps = [r["steps"] for r in rows]
    axes[0].plot(steps, [100 * r["english_dev"] for r in rows], "o-", label="English dev")
    axes[0].plot(steps, [100 * r["reference_dev"] for r in rows], "s-", label="reference dev (de, fr, es, ru)")
    axes[0].set_title("selection sets")
    axes[1].plot(steps, [100 * r["macro"] for r in rows], "o-", color="C2", label="28 low-resource targets")
    axes[1].plot(steps, [100 * r["dv14"] for r in rows], "s-", color="C3", label="de Vries et al. 14")
    axes[1].set_title("targets (shown, never used to choose)")
    for ax in axes:
        ax.set_xlabel("training steps (LastLayer, k = 0, EWT, seed 0)")
        ax.set_ylabel("UPOS accuracy (%)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def verdict(d, na: int, nb: int, a: str = "a") -> str:
    """What a paired difference shows. With one seed on a side the interval covers sentences
    only, so a difference outside it is "higher"/"lower", not "better"/"worse"."""
    lo, hi = d.ci95
    if lo <= 0 <= hi:
        return "not distinguishable"
    if min(na, nb) > 1:
        return f"{a} is better" if lo > 0 else f"{a} is worse"
    return f"{a} is higher, one seed on a side" if lo > 0 else f"{a} is lower, one seed on a side"


def fusion_per_k(results) -> List[str]:
    """The fusion question, answered per depth of freezing k from the paired comparisons
    named ``fusion_k<k>`` (a = the fusion, b = LastLayer at the same k)."""
    rows = sorted(((int(key.split("_k")[1]), comp, d, na, nb) for key, comp, d, na, nb in results
                   if key.startswith("fusion_k")), key=lambda r: r[0])
    if not rows:
        return []
    lines = ["", "## Does fusion pay with the bottom k layers frozen?", "",
             "The fusion reads hidden state k (the top frozen layer: English training never changed it) "
             "together with the tuned last layer; LastLayer reads the last layer only. Same k, steps and "
             "seeds; differences from the paired comparisons above.", "",
             "| k | fusion | seeds fusion / LastLayer | fusion − LastLayer [95% CI] | verdict |", "|---:|---|---:|---|---|"]
    verdicts = {}
    for k, comp, d, na, nb in rows:
        verdicts[k] = verdict(d, na, nb, "fusion")
        lines.append(f"| {k} | {comp['label'].split(' vs ')[0]} | {na} / {nb} | {100 * d.difference:+.2f} "
                     f"{signed_ci(d.ci95)} | {verdicts[k]} |")

    def at(text: str) -> str:
        ks = [str(k) for k, v in verdicts.items() if v == text]
        return f"k = {', '.join(ks)}" if ks else ""

    said = [f"{what} at {at(v)}" for v, what in (
        ("fusion is better", "fusion beats LastLayer"), ("fusion is worse", "fusion loses to LastLayer"),
        ("fusion is higher, one seed on a side", "fusion is higher, with one seed on a side,"),
        ("fusion is lower, one seed on a side", "fusion is lower, with one seed on a side,"),
        ("not distinguishable", "the two are not distinguishable")) if at(v)]
    lines += ["", "In plain words: " + "; ".join(said) + ". One seed a side leaves seed variance out of the "
              "interval (see above): such a difference is not a verdict. `reports/finetune_accelerator.md` "
              "answers the question with three seeds a variant."]
    return lines


def late_candidates(grid: Path, selection: dict, metrics: Dict[str, dict]) -> List[str]:
    """What the reference-dev protocol picks without the runs added after the screen's target
    accuracies were visible (``[disclosure] added_after_target_results`` of the grid)."""
    import sys

    from thinc.api import Config

    late = list((Config().from_disk(grid, interpolate=False).get("disclosure") or {})
                .get("added_after_target_results") or [])
    if not late:
        return []
    unknown = [n for n in late if n not in load_grid(grid)]
    if unknown:
        raise ValueError(f"{grid}: [disclosure] added_after_target_results names no [runs.*]: {unknown}")
    sys.path.insert(0, str(REPO / "scripts"))
    from select_finetuned import pick  # a sibling script: the protocol's own rule, ties included

    earlier = pick([r for r in selection.get("runs", []) if r["name"] not in late], "reference_dev")
    if earlier is None:
        return []
    shipped = selection["shipped"]

    def targets(name: str) -> str:
        m = metrics.get(name)
        return "–" if m is None else f"{pct(m['macro_low_resource']['accuracy'])} {ci(m['macro_low_resource']['ci95'])}"

    text = (f"Runs added to the grid after the screen's target accuracies were visible: "
            f"{', '.join(f'`{n}`' for n in late)} (`[disclosure]` in `configs/finetune_grid.cfg`). No protocol "
            "reads target accuracy, but which runs to try was chosen with it in view. ")
    if earlier["name"] == shipped:
        text += "Without them the reference-dev protocol picks the same run."
    else:
        text += (f"Without them the reference-dev protocol picks `{earlier['name']}` (reference dev "
                 f"{100 * earlier['reference_dev']:.2f}, 28 targets {targets(earlier['name'])}), against `{shipped}` "
                 f"(reference dev {100 * next(r['reference_dev'] for r in selection['runs'] if r['name'] == shipped):.2f}, "
                 f"28 targets {targets(shipped)}).")
    return ["", text]


def restore_archived_runs(archive: Path, metrics_dir: Path) -> None:
    """Runs that only the report's archive holds (another machine's) are put back into
    ``metrics_dir`` before the report and its archive are rewritten from it, so they are not
    dropped; local metrics always win (``metrics_archive.restore_missing``)."""
    restored = restore_missing(archive, metrics_dir)
    if restored:
        typer.echo(f"{restored} run(s) absent from {metrics_dir} restored from {archive}")


def write_archive(path: Path, metrics_dir: Path, names: List[str]) -> None:
    """The runs' metrics (``<run>/zero_shot.json``) as a reproducible tar.gz."""
    write_reproducible_archive(path, [(f"{name}/zero_shot.json", (metrics_dir / name / "zero_shot.json").read_bytes())
                                      for name in names])


@app.command()
def main(
    grid: Path = typer.Option(REPO / "configs" / "finetune_grid.cfg", "--grid"),
    metrics_dir: Path = typer.Option(REPO / "metrics" / "grid", "--metrics-dir"),
    output: Path = typer.Option(REPO / "reports" / "finetune_cpu.md", "--output"),
):
    runs = load_grid(grid)
    comparisons = load_comparisons(grid, runs)
    archive = output.parent / "finetune_grid_metrics.tar.gz"  # beside the report it reproduces
    restore_archived_runs(archive, metrics_dir)
    metrics = {n: m for n in runs if (m := load(metrics_dir / n / "zero_shot.json"))}
    check_same_sets(metrics)
    selection = load(REPO / "reports" / "finetune_selection.json") or {"picks": {}}
    picks: Dict[str, List[str]] = {}
    for protocol, chosen in (selection.get("picks") or {}).items():
        if chosen:
            picks.setdefault(chosen["name"], []).append(protocol.replace("_", " "))
    lines = [
        "# Fine-tuning on two CPU cores: budgets, partial freezing, fusion and multi-source training",
        "",
        "Generated by `scripts/make_finetune_report.py` from `metrics/grid/`, "
        "`reports/finetune_selection.json`, `metrics/finetuned/` and `reports/finetuned_seeds.json` (do not edit "
        "by hand).",
        "",
        "Every run fine-tunes multilingual-e5-small in the spaCy path (`configs/finetune.cfg`: "
        "`layer_fusion.TransformerModel.v2`, word embeddings frozen, bottom k layers frozen, "
        "head learning rate 1e-3 and encoder 5e-5 with 10% warm-up and linear decay, "
        "length-bucketed batches of about 30 sentences) for a fixed number of steps; "
        "`model-last` is evaluated. Accuracies are UPOS on gold words, in %. The selection "
        "protocols (`docs/selection_protocol.md`) were fixed before the runs; target accuracies "
        "are shown but choose nothing.",
        "",
        "## Screen (seed 0)",
        "",
        "| run | settings | train min | English dev | reference dev | 28 targets [95% CI] | de Vries 14 | picked by |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    budget_rows = []
    for name, run in runs.items():
        m = metrics.get(name)
        if int(run["seed"]) != 0 or m is None:
            continue
        mlr = m["macro_low_resource"]
        dv = m["macro_subsets"]["de_vries_2022"]
        ref = m["macro_reference_dev"]["accuracy"]
        en = m["treebanks"]["en_ewt_dev"]["accuracy"]
        lines.append(
            f"| {name} | {label(run)} | {m['run']['train_seconds'] / 60:.1f} | {pct(en)} | {pct(ref)} | "
            f"{pct(mlr['accuracy'])} {ci(mlr['ci95'])} | {pct(dv['accuracy'])} | "
            f"{', '.join(picks.get(name, []))} |"
        )
        if run["fusion"] == "LastLayer" and run["bottom_layers"] == 0 and run["source"] == "english" \
                and run["split_words"]:
            budget_rows.append({"steps": run["steps"], "english_dev": en, "reference_dev": ref,
                                "macro": mlr["accuracy"], "dv14": dv["accuracy"]})
    lines += ["", "Train minutes are wall time and include spaCy's dev evaluations (English dev at step 0, "
              "halfway and at the end); runs that shared the two cores with other work took longer, so "
              "compare step costs with the benchmark at the end, not across these rows."]
    not_run = [n for n in runs if n not in metrics]
    if not_run:
        lines += ["", f"Not run (no metrics; CPU time ran out): {', '.join(f'`{n}`' for n in not_run)}."]
    if selection.get("shipped"):
        lines += ["", f"**Shipped** (reference-dev pick, trained again by `make all`): `{selection['shipped']}`. "
                  f"English-dev pick: `{(selection['picks'].get('english_dev') or {}).get('name')}`."]
        lines += late_candidates(grid, selection, metrics)

    # Seeds
    multi = [n for n, r in runs.items() if int(r["seed"]) == 0 and len(seeds_of(n, runs, metrics)) > 1]
    if multi:
        lines += ["", "## Variants with several seeds", "",
                  "CI: hierarchical bootstrap, seeds and sentences resampled "
                  f"({N_RESAMPLES:,} replicates).", "",
                  "| variant | seeds | 28 targets, per seed | mean [95% CI] | de Vries 14, mean [95% CI] |",
                  "|---|---:|---|---|---|"]
        for name in multi:
            names = seeds_of(name, runs, metrics)
            cells = []
            for keys in (low_resource_keys(metrics[name]), metrics[name]["macro_subsets"]["de_vries_2022"]["treebanks"]):
                r = runs_from_metrics([metrics[n] for n in names], keys)
                cells.append(f"{pct(macro(r))} {ci(macro_ci(r, N_RESAMPLES))}")
            per = ", ".join(pct(metrics[n]["macro_low_resource"]["accuracy"]) for n in names)
            lines.append(f"| {label(runs[name])} | {len(names)} | {per} | {cells[0]} | {cells[1]} |")

    # Paired comparisons
    results = []
    for key, comp in comparisons.items():
        if comp["a"] not in metrics or comp["b"] not in metrics:
            continue
        a_names, b_names = seeds_of(comp["a"], runs, metrics), seeds_of(comp["b"], runs, metrics)
        keys = low_resource_keys(metrics[comp["a"]])
        diff = paired_difference(runs_from_metrics([metrics[n] for n in a_names], keys),
                                 runs_from_metrics([metrics[n] for n in b_names], keys), N_RESAMPLES)
        results.append((key, comp, diff, len(a_names), len(b_names)))
    if results:
        adjusted = holm([d.p for _, _, d, _, _ in results])
        lines += ["", "## Paired comparisons (28-target macro-average)", "",
                  "Difference a − b in points; hierarchical paired bootstrap (seeds resampled per "
                  "variant, the same sentences for both), two-sided p with the smallest reportable value "
                  f"2/(B+1) for B = {N_RESAMPLES:,}; Holm–Bonferroni across the {len(results)} comparisons.", "",
                  "| comparison | seeds a / b | a − b [95% CI] | p | Holm p |", "|---|---:|---|---:|---:|"]
        for (key, comp, d, na, nb), p_adj in zip(results, adjusted):
            # a p at the floor is an upper bound, and so is its adjusted value
            holm_cell = holm_text(d.p, p_adj, d.p_floor)
            lines.append(f"| {comp['label']} | {na} / {nb} | {100 * d.difference:+.2f} {signed_ci(d.ci95)} | "
                         f"{p_text(d.p, d.p_floor)} | {holm_cell} |")

    if results:
        if any(na == 1 or nb == 1 for _, _, _, na, nb in results):
            lines += ["", "Where a side has one seed, its seed variance cannot be resampled: that interval "
                      "covers sentences only and understates the uncertainty (seeds move a macro-average "
                      "by up to a point or more: the seed columns of `reports/zero_shot_pos.md`)."]
        lines += ["", "In short:", ""]
        for key, comp, d, na, nb in results:
            lines.append(f"- {comp['label']}: {100 * d.difference:+.2f} points ({verdict(d, na, nb)}, 95% CI; "
                         f"{na} / {nb} seed(s)).")
        lines += ["", "Tokenization and alignment: the encoder's tokenizer reports wordpiece offsets that include "
                  "the space before a word, and spacy-transformers' stock offset alignment then pools every token "
                  "with the first piece of the next one (`tests/layers/test_finetuning_spacy.py::"
                  "test_trimmed_offsets_align_each_piece_to_one_token`). The `text, stock alignment` runs measure "
                  "that; `text, trimmed offsets` measures sentence-text tokenization itself; `words` tokenizes "
                  "each word on its own, which the shipped pipeline does."]
    lines += fusion_per_k(results)
    if len(budget_rows) > 1:
        budget_plot(output.parent / "finetune_budget.png", budget_rows)
        lines += ["", "## Budget curve", "", "![budget](finetune_budget.png)", ""]

    shipped = load(REPO / "metrics" / "finetuned" / "zero_shot.json")
    if shipped:
        mlr = shipped["macro_low_resource"]
        dv = shipped["macro_subsets"]["de_vries_2022"]
        published = load_targets(REPO / "configs" / "targets.cfg").published
        lines += ["", "## The shipped pipeline (`make all`)", "",
                  f"- {len(mlr['treebanks'])} low-resource targets: **{pct(mlr['accuracy'])}** {ci(mlr['ci95'])} (goal ≥ 71); "
                  f"de Vries et al.'s 14 languages: **{pct(dv['accuracy'])}** {ci(dv['ci95'])} (goal ≥ 76; "
                  f"XLM-R base trained on English: {published['de_vries_2022']}, with another encoder and UD "
                  "release: a reference point, not a controlled comparison).",
                  f"- Reference dev {pct(shipped['macro_reference_dev']['accuracy'])}, English dev "
                  f"{pct(shipped['treebanks']['en_ewt_dev']['accuracy'])}, English-EWT test "
                  f"{pct(shipped['treebanks']['en_ewt_test']['accuracy'])}.",
                  "- One training run: the CI covers sentences only."]
        seeds = load(REPO / "reports" / "finetuned_seeds.json")
        if seeds and stale_reason(seeds, shipped):
            lines.append(f"- `reports/finetuned_seeds.json` is not about this model ({stale_reason(seeds, shipped)}): "
                         "`spacy project run seeds` trains and evaluates its seeds.")
        elif seeds:
            g = seeds["gold_words"]
            lines.append(f"- Over {len(seeds['metrics'])} training seeds of its config (`reports/finetuned_seeds.json`; "
                         f"seeds and sentences resampled): 28 targets {pct(g['macro_low_resource']['mean'])} "
                         f"{ci(g['macro_low_resource']['ci95'])}, de Vries et al.'s 14 {pct(g['de_vries_2022']['mean'])} "
                         f"{ci(g['de_vries_2022']['ci95'])}.")
        raw = shipped.get("macro_low_resource_raw_text")
        if raw:
            lines.append(f"- Raw text in (the pipeline tokenizes the text itself; CoNLL 2018 alignment): UPOS F1 "
                         f"**{pct(raw['upos_f1']['accuracy'])}** {ci(raw['upos_f1']['ci95'])}, token F1 "
                         f"{pct(raw['token_f1']['accuracy'])} {ci(raw['token_f1']['ci95'])}.")
    timings = load(REPO / "reports" / "make_all_timings.json")
    if timings:
        total = sum(timings["steps"].values())
        lines += ["", "## `make all` wall time", "",
                  f"Fresh clone, {timings.get('machine', '')}: " + ", ".join(
                      f"{k} {v / 60:.1f} min" for k, v in timings["steps"].items()) + f"; total **{total / 60:.1f} min**."]
    bench = load(REPO / "reports" / "bench" / "finetune_step.json")
    if bench:
        lines += ["", "## Step cost: spaCy path vs plain torch", "",
                  f"{bench['benchmark']}; {bench['batch_sentences']} sentences a step, {bench['threads']} threads.", "",
                  "| frozen bottom layers | spaCy s/step | torch s/step | ratio |", "|---:|---:|---:|---:|"]
        for r in bench["results"]:
            lines.append(f"| {r['bottom_layers']} | {r['spacy_s_per_step']} | {r['torch_s_per_step']} | {r['ratio']} |")
    write_text_atomic(output, "\n".join(lines) + "\n")
    write_archive(archive, metrics_dir, list(metrics))
    typer.echo(f"wrote {output} and {archive} ({len(metrics)} runs)")


if __name__ == "__main__":
    app()

"""Generate reports/finetune_accelerator.md (and reports/accelerator_budget.png) from committed files.

Inputs: configs/accelerator_grid.cfg (runs and their order), the runs' metrics
(metrics/accelerator_grid/<run>/zero_shot.json, written by `scripts/accelerator_grid.py
metrics`; without that folder, reports/accelerator_grid_metrics.tar.gz), and the CPU grid's
metrics (reports/finetune_grid_metrics.tar.gz) for the agreement table. The comparisons,
their families and the selection rules are the ones docs/selection_protocol.md fixed before
the runs ("The accelerator grid"). Every number in the report comes from these files.

    python scripts/make_accelerator_report.py
"""
from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path
from statistics import median
from typing import Dict, List, Optional, Tuple

import typer

from layer_fusion.research.paired_tests import holm_text, p_text
from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.research.accelerator_plan import load_plan
from layer_fusion.research.statistics import holm, macro_ci, paired_difference, runs_from_metrics

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from make_finetune_report import (  # noqa: E402  (a sibling script: the shared table helpers)
    N_RESAMPLES, ci, low_resource_keys, pct, restore_archived_runs, signed_ci, write_archive,
)

ARCHIVE = REPO / "reports" / "accelerator_grid_metrics.tar.gz"
SUMMARY = REPO / "reports" / "accelerator_summary.json"  # the README's table (scripts/update_readme.py)
CPU_ARCHIVE = REPO / "reports" / "finetune_grid_metrics.tar.gz"
ALPHA = 0.05
app = typer.Typer(add_completion=False)


def rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO.resolve())) if path.is_relative_to(REPO.resolve()) else str(path)


def read_archive(path: Path) -> Dict[str, dict]:
    """{run: metrics} from a metrics archive (``<run>/zero_shot.json`` members)."""
    if not path.is_file():
        return {}
    out = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.endswith("/zero_shot.json"):
                out[member.name.split("/")[0]] = json.load(io.TextIOWrapper(tar.extractfile(member), "utf-8"))
    return out


def variant_of(name: str) -> str:
    """The run's name without its seed suffix (``en_k4_s300_dlfa_seed2`` -> ``en_k4_s300_dlfa``)."""
    base, _, seed = name.rpartition("_seed")
    return base if base and seed.isdigit() else name


# A run's scores, by name (metrics JSON -> accuracy).
SCORES = {
    "english_dev": lambda m: m["treebanks"]["en_ewt_dev"]["accuracy"],
    "reference_dev": lambda m: m["macro_reference_dev"]["accuracy"],
    "targets": lambda m: m["macro_low_resource"]["accuracy"],
    "dv14": lambda m: m["macro_subsets"]["de_vries_2022"]["accuracy"],
}


class Variant:
    """The seeds of one setting that have metrics, with their means and pooled statistics."""

    def __init__(self, name: str, spec: dict, metrics: List[dict]):
        self.name, self.spec, self.metrics = name, spec, metrics
        s = spec["settings"]
        self.k, self.fusion, self.steps, self.layers = s["bottom_layers"], s["fusion"], s["steps"], s["layers"]
        self.source = spec["source"]

    @property
    def seeds(self) -> int:
        return len(self.metrics)

    @property
    def seed0(self) -> Optional[dict]:
        """Seed 0's metrics (the screen and the budget curve use seed 0), or None."""
        return next((m for m in self.metrics if m["settings"]["seed"] == 0), None)

    def mean(self, what: str) -> float:
        return sum(SCORES[what](m) for m in self.metrics) / len(self.metrics)

    def seed0_score(self, what: str) -> float:
        """Seed 0's score: the screen and the budget curve are one seed."""
        return SCORES[what](self.seed0)

    def runs(self):
        return runs_from_metrics(self.metrics, low_resource_keys(self.metrics[0]))

    def train_seconds(self) -> float:
        return median(m["seconds"]["train"] for m in self.metrics)

    def fusion_text(self) -> str:
        if self.fusion == "LastLayer":
            return "LastLayer"
        if self.fusion == "ScalarMix":
            return "ScalarMix (all 13)"
        return f"{self.fusion} {self.layers}"


def build_variants(plan: dict, metrics: Dict[str, dict]) -> Dict[str, Variant]:
    specs: Dict[str, dict] = {}
    members: Dict[str, List[dict]] = {}
    for spec in plan["runs"]:
        base = variant_of(spec["name"])
        specs.setdefault(base, spec)
        if spec["name"] in metrics:
            members.setdefault(base, []).append(metrics[spec["name"]])
    return {b: Variant(b, specs[b], members[b]) for b in specs if b in members}


def scores_row(v: Variant, with_ci: bool = True) -> str:
    interval = f" {ci(macro_ci(v.runs(), N_RESAMPLES))}" if with_ci else ""
    return (f"{v.seeds} | {pct(v.mean('english_dev'))} | {pct(v.mean('reference_dev'))} | "
            f"{pct(v.mean('targets'))}{interval} | {pct(v.mean('dv14'))} | {v.train_seconds():.0f}")


def compare(family: List[Tuple[str, Variant, Variant]], need_seeds: int) -> List[tuple]:
    """Paired differences a - b (seeds and sentences resampled), Holm-adjusted in the family."""
    done = []
    for label, a, b in family:
        if a.seeds < need_seeds or b.seeds < need_seeds:
            continue
        done.append((label, a, b, paired_difference(a.runs(), b.runs(), N_RESAMPLES)))
    adjusted = holm([d.p for *_, d in done]) if done else []
    return [(label, a, b, d, p) for (label, a, b, d), p in zip(done, adjusted)]


def verdict(d, p_adj: float) -> str:
    if p_adj <= ALPHA and d.ci95[0] > 0:
        return "fusion better"
    if p_adj <= ALPHA and d.ci95[1] < 0:
        return "fusion worse"
    return "not distinguishable"


def comparison_table(rows: List[tuple]) -> List[str]:
    lines = ["| k | fusion | seeds | Δ English dev | Δ reference dev | Δ 28 targets [95% CI] | p | Holm p | verdict |",
             "|---:|---|---:|---:|---:|---|---:|---:|---|"]
    for label, a, b, d, p_adj in rows:
        holm_cell = holm_text(d.p, p_adj, d.p_floor)
        lines.append(
            f"| {a.k} | {a.fusion_text()} | {a.seeds} / {b.seeds} | "
            f"{100 * (a.mean('english_dev') - b.mean('english_dev')):+.2f} | "
            f"{100 * (a.mean('reference_dev') - b.mean('reference_dev')):+.2f} | "
            f"{100 * d.difference:+.2f} {signed_ci(d.ci95)} | {p_text(d.p, d.p_floor)} | {holm_cell} | "
            f"{verdict(d, p_adj)} |")
    return lines


def summary_rows(rows: List[tuple]) -> List[dict]:
    """The comparisons as plain data, for the README."""
    return [{"k": a.k, "fusion": a.fusion_text(), "seeds": [a.seeds, b.seeds],
             "english_dev": [a.mean("english_dev"), b.mean("english_dev")],
             "targets": [a.mean("targets"), b.mean("targets")], "difference": d.difference, "ci95": list(d.ci95),
             "p": d.p, "p_floor": d.p_floor, "p_holm": p_adj, "verdict": verdict(d, p_adj)}
            for _, a, b, d, p_adj in rows]


def in_words(rows: List[tuple]) -> str:
    better = [f"{a.fusion} at k = {a.k}" for _, a, _, d, p in rows if verdict(d, p) == "fusion better"]
    worse = [f"{a.fusion} at k = {a.k}" for _, a, _, d, p in rows if verdict(d, p) == "fusion worse"]
    text = ("A fusion beats LastLayer for " + ", ".join(better)) if better else "No fusion beats LastLayer at any k"
    text += ("; it loses for " + ", ".join(worse)) if worse else "; none loses"
    return text + f" (Holm-adjusted p ≤ {ALPHA} and a 95% CI on one side of 0)."


def pick(variants: List[Variant], what: str) -> Optional[Variant]:
    """The protocol's rule on seed-0 scores: the highest; ties (0.01 points) to fewer steps,
    then more frozen layers, then the name."""
    scored = [(round(100 * v.seed0_score(what), 2), v) for v in variants if v.seed0 is not None]
    if not scored:
        return None
    best = max(s for s, _ in scored)
    tied = [v for s, v in scored if s >= best - 0.01]
    return sorted(tied, key=lambda v: (v.steps, -v.k, v.name))[0]


def cpu_matches(v: Variant, cpu: Dict[str, dict]) -> List[dict]:
    """CPU grid runs with the same settings (any seed), plain: words, no averaging, no tasks."""
    out = []
    for m in cpu.values():
        r = m["run"]
        if (r["fusion"], list(r["layers"]), r["bottom_layers"], r["steps"], r["source"]) == (
                v.fusion, list(v.layers), v.k, v.steps, v.source) and r["split_words"] \
                and not r.get("use_averages") and not r.get("intermediate") and not r.get("trim_offsets"):
            out.append(m)
    return out


def budget_plot(out: Path, series: Dict[str, List[Variant]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for i, (label, vs) in enumerate(series.items()):
        steps = [v.steps for v in vs]
        axes[0].plot(steps, [100 * v.seed0_score("english_dev") for v in vs], "o-", color=f"C{i}", label=label)
        axes[0].plot(steps, [100 * v.seed0_score("reference_dev") for v in vs], "s--", color=f"C{i}", alpha=0.6)
        axes[1].plot(steps, [100 * v.seed0_score("targets") for v in vs], "o-", color=f"C{i}", label=label)
    axes[0].set_title("selection sets (solid: English dev; dashed: reference dev)", fontsize=9)
    axes[1].set_title("28 low-resource targets (shown, never used to choose)", fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("training steps (EWT, seed 0)")
        ax.set_ylabel("UPOS accuracy (%)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


@app.command()
def main(
    grid: Path = typer.Option(REPO / "configs" / "accelerator_grid.cfg", "--grid"),
    metrics_dir: Path = typer.Option(REPO / "metrics" / "accelerator_grid", "--metrics-dir"),
    output: Path = typer.Option(REPO / "reports" / "finetune_accelerator.md", "--output"),
):
    plan = load_plan(grid)
    names = [r["name"] for r in plan["runs"]]
    if metrics_dir.is_dir():
        restore_archived_runs(ARCHIVE, metrics_dir)  # the archive is rewritten from metrics_dir below
        metrics = {n: json.loads((metrics_dir / n / "zero_shot.json").read_text(encoding="utf-8"))
                   for n in names if (metrics_dir / n / "zero_shot.json").is_file()}
        source = f"`{rel(metrics_dir)}/`"
    else:
        metrics = read_archive(ARCHIVE)
        source = f"`{rel(ARCHIVE)}`"
    if not metrics:
        typer.echo(f"no metrics in {metrics_dir} or {ARCHIVE}: run the grid first", err=True)
        raise typer.Exit(1)
    variants = build_variants(plan, metrics)
    cpu = read_archive(CPU_ARCHIVE)
    first = next(iter(metrics.values()))
    device = first["device"]
    total_train = sum(m["seconds"]["train"] for m in metrics.values())
    lines = [
        "# Partially frozen fine-tuning on an accelerator: fusion per k, with seeds",
        "",
        f"Generated by `scripts/make_accelerator_report.py` from `{rel(grid)}`, {source} "
        f"and `{rel(CPU_ARCHIVE)}` (do not edit by hand).",
        "",
        "The CPU grid's model and schedule (`reports/finetune_cpu.md`), in plain torch "
        "(`package/layer_fusion/research/finetuning.py`, encoder checked against `transformers.BertModel`): "
        "word embeddings frozen, and with k > 0 the embedding block and layers 0..k−1 too (run without "
        "autograd); AdamW, encoder 5e-5, head 1e-3, 10% warm-up then linear decay, clipping 1.0, dropout 0.1; "
        "32 length-bucketed sentences a step; each word tokenized on its own. Every run trains for its fixed "
        "steps and is evaluated with its final weights. Accuracies are UPOS on gold words, in %, means over "
        "seeds. CIs: hierarchical bootstrap, seeds and sentences resampled "
        f"({N_RESAMPLES:,} replicates). The comparisons and selection rules were fixed before the runs "
        "(`docs/selection_protocol.md`, \"The accelerator grid\"); target accuracies choose nothing.",
        "",
        f"{len(metrics)} of {len(names)} runs, on {device['name']} (torch {device['torch']}), several runs "
        f"at a time; {total_train / 60:.1f} min of training in all.",
    ]
    not_run = [n for n in names if n not in metrics]
    if not_run:
        lines += ["", f"Not run (the job's time ran out): {', '.join(f'`{n}`' for n in not_run)}."]

    # 1. Fusion per k
    block1 = [v for v in variants.values() if v.spec["block"] == "fusion_per_k"]
    lines += ["", "## Does fusion pay with the bottom k layers frozen? (English only, 300 steps)", "",
              "Fusions read hidden state k (the top of the frozen part, which English training never changes) "
              "with the tuned last layer; at k = 0 they read the frozen regime's k*.", "",
              "| k | fusion | seeds | English dev | reference dev | 28 targets [95% CI] | de Vries 14 | train s |",
              "|---:|---|---:|---:|---:|---|---:|---:|"]
    for v in sorted(block1, key=lambda v: (v.k, v.fusion != "LastLayer")):
        lines.append(f"| {v.k} | {v.fusion_text()} | {scores_row(v)} |")
    seeds_needed = max(len(plan_block_seeds(plan, "fusion_per_k")), 1)
    family_a = [(f"{v.name} vs LastLayer", v, variants[f"en_k{v.k}_s{v.steps}"]) for v in block1
                if v.fusion != "LastLayer" and f"en_k{v.k}_s{v.steps}" in variants]
    rows_a = compare(sorted(family_a, key=lambda r: (r[1].k, r[1].name)), seeds_needed)
    if rows_a:
        lines += ["", f"Paired differences, fusion − LastLayer at the same k (Δ English dev and Δ reference dev: "
                  f"differences of means; Holm–Bonferroni across these {len(rows_a)}):", ""]
        lines += comparison_table(rows_a)
        lines += ["", "In plain words: " + in_words(rows_a)]

    summary = {"report": rel(output),
               "device": device["name"], "english_300_steps": summary_rows(rows_a)}

    # 2. Multi-source
    block2 = [v for v in variants.values() if v.spec["block"] == "multisource"]
    if block2:
        lines += ["", "## The multi-source corpus (600 steps)", "",
                  "| k | fusion | seeds | English dev | reference dev | 28 targets [95% CI] | de Vries 14 | train s |",
                  "|---:|---|---:|---:|---:|---|---:|---:|"]
        for v in sorted(block2, key=lambda v: (v.k, v.fusion != "LastLayer")):
            lines.append(f"| {v.k} | {v.fusion_text()} | {scores_row(v)} |")
        family_b = [(f"{v.name} vs LastLayer", v, variants[f"ms_k{v.k}_s{v.steps}"]) for v in block2
                    if v.fusion != "LastLayer" and f"ms_k{v.k}_s{v.steps}" in variants]
        rows_b = compare(sorted(family_b, key=lambda r: r[1].k), max(len(plan_block_seeds(plan, "multisource")), 1))
        if rows_b:
            lines += ["", f"Paired differences, DLFA − LastLayer at the same k (Holm across these {len(rows_b)}):", ""]
            lines += comparison_table(rows_b)
            lines += ["", "In plain words: " + in_words(rows_b)]
            summary["multisource_600_steps"] = summary_rows(rows_b)

    # 3. Budget curve
    series: Dict[str, List[Variant]] = {}
    for v in variants.values():
        if v.source == "english" and v.spec["block"] in ("budget", "fusion_per_k") and (v.k, v.fusion) in (
                (0, "LastLayer"), (0, "DLFA"), (4, "LastLayer"), (4, "DLFA")) and v.name in budget_names(plan):
            series.setdefault(f"{v.fusion_text()}, k = {v.k}", []).append(v)
    for label in list(series):
        series[label] = sorted((v for v in series[label] if v.seed0), key=lambda v: v.steps)
    if series:
        steps = sorted({v.steps for vs in series.values() for v in vs})
        lines += ["", "## Budget curve (English only, seed 0)", "",
                  "28-target macro (English dev in brackets) by step budget; the 300-step points are seed 0 of the "
                  "first table.", "",
                  "| variant | " + " | ".join(f"{s} steps" for s in steps) + " |",
                  "|---|" + "---:|" * len(steps)]
        for label, vs in series.items():
            by_steps = {v.steps: v for v in vs}
            cells = [f"{pct(by_steps[s].seed0_score('targets'))} ({pct(by_steps[s].seed0_score('english_dev'))})"
                     if s in by_steps and by_steps[s].seed0 else "—" for s in steps]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        budget_plot(REPO / "reports" / "accelerator_budget.png", series)
        lines += ["", "![budget](accelerator_budget.png)"]

    # 4. Selection
    screen = [v for v in variants.values()]
    english = [v for v in screen if v.source == "english"]
    lines += ["", "## What the two selection protocols pick here (seed-0 screen)", "",
              "| protocol | pick | seed-0 score | seeds | 28 targets (mean) | de Vries 14 (mean) | in the CPU grid |",
              "|---|---|---:|---:|---:|---:|---|"]
    for protocol, pool, what in (("English dev", english, "english_dev"), ("reference dev", screen, "reference_dev")):
        v = pick(pool, what)
        if v is None:
            continue
        cpu_runs = cpu_matches(v, cpu)
        lines.append(f"| {protocol} | `{v.name}` ({v.fusion_text()}, k = {v.k}, {v.steps} steps, {v.source}) | "
                     f"{pct(v.seed0_score(what))} | {v.seeds} | {pct(v.mean('targets'))} | {pct(v.mean('dv14'))} | "
                     f"{'yes, ' + str(len(cpu_runs)) + ' seed(s)' if cpu_runs else 'no: the next CPU run to try'} |")
    lines += ["", "Nothing is shipped from this grid: `make all` trains, on the CPU, the CPU grid's reference-dev pick."]

    # 5. Agreement with the CPU path
    pairs = [(v, cpu_matches(v, cpu)) for v in variants.values()]
    pairs = [(v, c) for v, c in pairs if c]
    if pairs:
        lines += ["", "## Agreement with the spaCy path on the CPU", "",
                  "The same settings trained by both paths (means over each side's seeds). Differences: batches "
                  "of 32 sentences here against 500 padded words there, other random streams, GPU arithmetic "
                  "(TF32 matrix products).", "",
                  "| variant | seeds GPU / CPU | English dev GPU / CPU | reference dev GPU / CPU | 28 targets GPU / CPU | Δ 28 |",
                  "|---|---:|---:|---:|---:|---:|"]
        for v, c in sorted(pairs, key=lambda p: p[0].name):
            cpu_mean = lambda get: sum(get(m) for m in c) / len(c)
            en = cpu_mean(lambda m: m["treebanks"]["en_ewt_dev"]["accuracy"])
            ref = cpu_mean(lambda m: m["macro_reference_dev"]["accuracy"])
            tg = cpu_mean(lambda m: m["macro_low_resource"]["accuracy"])
            lines.append(f"| `{v.name}` | {v.seeds} / {len(c)} | {pct(v.mean('english_dev'))} / {pct(en)} | "
                         f"{pct(v.mean('reference_dev'))} / {pct(ref)} | {pct(v.mean('targets'))} / {pct(tg)} | "
                         f"{100 * (v.mean('targets') - tg):+.2f} |")
    write_text_atomic(output, "\n".join(lines) + "\n")
    write_text_atomic(SUMMARY, json.dumps(summary, indent=1) + "\n")
    if metrics_dir.is_dir():
        write_archive(ARCHIVE, metrics_dir, list(metrics))
    typer.echo(f"wrote {output} ({len(metrics)} runs)")


def plan_block_seeds(plan: dict, block: str) -> set:
    return {r["settings"]["seed"] for r in plan["runs"] if r["block"] == block}


def budget_names(plan: dict) -> set:
    """Seed-0 variants with the budget block's settings, at its budgets and at 300 steps."""
    budget = [r for r in plan["runs"] if r["block"] == "budget"]
    keys = {(r["settings"]["fusion"], r["settings"]["bottom_layers"]) for r in budget}
    return {r["name"] for r in plan["runs"] if r["source"] == "english" and r["settings"]["seed"] == 0
            and (r["settings"]["fusion"], r["settings"]["bottom_layers"]) in keys}


if __name__ == "__main__":
    app()

"""Fill the README's results section from metrics files (never typed by hand).

    python scripts/update_readme.py [--metrics metrics/finetuned/zero_shot.json] [--check]

Replaces the text between `<!-- results:start -->` and `<!-- results:end -->` with the
low-resource table and summary of the shipped pipeline's metrics (gold words and raw text), the
tokenizer benchmark's means (reports/bench/tokenizer.json), the summary of the research
reports (reports/summary.json, reports/finetune_selection.json and
reports/accelerator_summary.json, when present), the shipped config's intervals over
several training seeds (reports/<config>_seeds.json, from seed_intervals.py), and the
step timings of `make all` in a fresh clone (reports/make_all_timings.json); and the text
between `<!-- example:start -->` and `<!-- example:end -->`, where the README has them, with
the tagged example of reports/example_tags.json (scripts/tag_example.py). With --check,
changes nothing and exits 1 when the README differs from what its sources give.
"""
import sys
import json
from pathlib import Path
from typing import Tuple

import typer

from layer_fusion.report_table import ci, pct
from layer_fusion.targets import load_targets
from layer_fusion.quantization import DEFAULT_SCHEME, SCHEMES
from layer_fusion.research.inference_summary import inference_lines
from layer_fusion.research.raw_text_summary import raw_text_lines
from layer_fusion.research.example_summary import example_lines

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from seed_intervals import stale_reason  # noqa: E402  (a sibling script)

START, END = "<!-- results:start -->", "<!-- results:end -->"
# The example in "Tagging from the command line", from reports/example_tags.json (optional).
EXAMPLE_START, EXAMPLE_END = "<!-- example:start -->", "<!-- example:end -->"


def accelerator_lines(summary: dict) -> list:
    """Fusion against LastLayer with the bottom k layers frozen (reports/accelerator_summary.json)."""
    if not summary:
        return []
    lines = []
    for key, title in (("english_300_steps", "English only, 300 steps"),
                       ("multisource_600_steps", "multi-source, 600 steps")):
        rows = summary.get(key) or []
        if not rows:
            continue
        lines += ["", f"### Does fusion help? Fine-tuned with the bottom k layers frozen, {title} "
                  f"(`{summary['report']}`)", "",
                  f"3 seeds a variant, trained in plain torch on one {summary['device']}; the same model and schedule "
                  "as the CPU path. Paired differences resample seeds and sentences; Holm across the table.", "",
                  "| k | fusion | fusion / LastLayer, low-resource macro | fusion − LastLayer [95% CI] | Holm p | verdict |",
                  "|---:|---|---|---|---:|---|"]
        for r in rows:
            holm = f"≤ {r['p_holm']:.4f}" if r["p"] <= r["p_floor"] else f"{r['p_holm']:.4f}"
            lines.append(f"| {r['k']} | {r['fusion']} | {pct(r['targets'][0])} / {pct(r['targets'][1])} | "
                         f"{100 * r['difference']:+.2f} [{100 * r['ci95'][0]:+.2f}, {100 * r['ci95'][1]:+.2f}] | "
                         f"{holm} | {r['verdict']} |")
    return lines


def results_section(metrics: dict, config: str, timings: dict, report_summary: dict,
                    selection: dict, tokenizer_bench: dict = {}, int8_metrics: dict = {},
                    inference_bench: dict = {}, accelerator: dict = {}, tagging_bench: list = [],
                    seeds: dict = {}, int8_cpu: dict = {}, int8_no_vnni: tuple = (),
                    inference_no_vnni: dict = {}) -> str:
    shipped = selection.get("shipped")
    how = (f"the fine-tuning grid's pick by the reference-dev protocol, run `{shipped}` of "
           "`reports/finetune_cpu.md`, last checkpoint of a fixed step budget" if shipped else
           "checkpoint chosen on English dev")
    figures = _seed_figures(metrics, seeds) if seeds else _shipped_figures(metrics)
    return "\n".join(_headline(metrics, config, how, figures, tokenizer_bench, seeds)
                     + _research_lines(metrics, report_summary, accelerator, int8_metrics, inference_bench,
                                       tagging_bench, timings, int8_cpu, int8_no_vnni, inference_no_vnni))


ENGLISH = ("en_ewt_dev", "en_ewt_test", "en_gum_test")

# The headline figures, each (value, ci95), from one source: the shipped model's metrics, or
# the means over its config's seeds (reports/<config>_seeds.json).
#   {"macro": ..., "de_vries": ... or None, "raw_upos": ... or None, "sets": {key: ...},
#    "pairs": [(pair, a, b, gap)]}


def _shipped_figures(metrics: dict) -> dict:
    """One training run: intervals resample sentences."""
    def fig(d):
        return d["accuracy"], d["ci95"]

    raw = metrics.get("macro_low_resource_raw_text")
    sets = {k: fig(tb) for k, tb in metrics["treebanks"].items()}
    return {"macro": fig(metrics["macro_low_resource"]),
            "de_vries": fig(metrics["macro_subsets"]["de_vries_2022"])
            if "de_vries_2022" in metrics.get("macro_subsets", {}) else None,
            "raw_upos": fig(raw["upos_f1"]) if raw else None, "sets": sets,
            "pairs": [(p, sets[p["a"]], sets[p["b"]], (p["gap"], p["gap_ci95"]))
                      for p in (metrics.get("domain_pairs") or {}).values() if not p.get("missing")]}


def _seed_figures(metrics: dict, seeds: dict) -> dict:
    """Seed means; intervals resample seeds and sentences."""
    def fig(d):
        return d["mean"], d["ci95"]

    gold = seeds["gold_words"]
    sets = {k: fig(tb) for k, tb in gold["treebanks"].items()}
    return {"macro": fig(gold["macro_low_resource"]), "de_vries": fig(gold["de_vries_2022"]),
            "raw_upos": fig(seeds["raw_text"]["upos_f1_macro_low_resource"]), "sets": sets,
            "pairs": [(p, sets[p["a"]], sets[p["b"]], fig(p["gap"])) for p in gold["domain_pairs"].values()]}


def _english_name(tb: dict) -> str:
    return f"{tb['treebank'].replace('UD_English-', '')} {tb['split']}"


def _short_name(tb: dict) -> str:
    return f"{tb['language']} ({tb['treebank'].split('-')[-1]})"


def signed_ci(value: float, pair) -> str:
    return f"{100 * value:+.1f} [{100 * pair[0]:+.1f}, {100 * pair[1]:+.1f}]"


def _extra_sources_caveat(config: str) -> str:
    """What the shipped config trains on besides English, when it is the multi-source corpus
    (the non-English treebanks of project.yml's ``corpus-multisource``), and the targets that
    are close to it."""
    from thinc.api import Config

    from accelerator_grid import multisource_files  # a sibling script: project.yml's list

    train = Config().from_disk(REPO / "configs" / f"{config}.cfg", interpolate=False)["paths"]["train"]
    if "multisource" not in str(train):
        return "the shipped model trains on English alone"
    extra = sorted({f.split("/")[0] for f in multisource_files() if not f.startswith("UD_English")})
    text = f"the shipped model also trains on {len(extra)} non-target treebanks ({', '.join(extra)})"
    if "UD_Hindi-PUD" in extra:
        text += (": read Urdu, Hindi's close relative, and Thai-PUD, whose sentences Hindi-PUD translates, "
                 "with that in mind (\"Data and licenses\")")
    return text


def _de_vries_label(metrics: dict) -> Tuple[str, bool]:
    """The de Vries et al. subset's name as the metrics cover it, and whether they cover all of
    it (else their published figure is over other languages and is not shown beside it)."""
    listed = load_targets(REPO / "configs" / "targets.cfg").subsets["de_vries_2022"]
    have = metrics["macro_subsets"]["de_vries_2022"]["treebanks"]
    missing = [key for key in listed if key not in have]
    if not missing:
        return f"The {len(listed)} languages of de Vries et al. (2022)", True
    return f"{len(have)} of the {len(listed)} languages of de Vries et al. (2022), {', '.join(missing)} missing", False


def _de_vries_published() -> str:
    published = load_targets(REPO / "configs" / "targets.cfg").published
    return (f"XLM-R base trained on English: {published['de_vries_2022']} in their released results; "
            "another encoder and UD release, so a reference point, not a controlled comparison")


def _headline(metrics: dict, config: str, how: str, figures: dict, tokenizer_bench: dict, seeds: dict) -> list:
    """The headline figures (``figures``); with ``seeds``, the shipped model's own follow."""
    def fig(pair) -> str:
        return f"{pct(pair[0])} {ci(pair[1])}"

    n = len(seeds["metrics"]) if seeds else 1
    if seeds:
        intro = (f"Zero-shot UPOS accuracy of the shipped pipeline's config (`configs/{config}.cfg`: {how}), on "
                 f"gold words. Each figure is the mean over {n} training seeds of this config (seed 0 is the shipped "
                 f"model; `spacy project run seeds`), with a 95% CI that resamples seeds and sentences "
                 f"(`reports/{config}_seeds.json`; drawing {n} seeds with replacement gives the seeds' part of the "
                 f"variance times ({n} − 1) / {n}, an underestimate: read that part of each interval as a rough one). "
                 "Generated by `scripts/update_readme.py`; the full table of the shipped model, with every treebank, "
                 "GUM genres and domain pairs, is `metrics/<config>/zero_shot.md`.")
    else:
        intro = (f"Zero-shot UPOS accuracy of the shipped pipeline (`configs/{config}.cfg`: {how}), on "
                 "gold words, with 95% bootstrap CIs over sentences (one training seed). Generated by "
                 "`scripts/update_readme.py` from `metrics/<config>/zero_shot.json`; the full table with "
                 "every treebank, GUM genres and domain pairs is `metrics/<config>/zero_shot.md`.")
    lines = ["## Results", "", intro, "",
             f"**Low-resource macro-average ({len(metrics['macro_low_resource']['treebanks'])} treebanks): "
             f"{fig(figures['macro'])}**"]
    if figures["de_vries"]:
        label, complete = _de_vries_label(metrics)
        lines += ["", f"**{label}: {fig(figures['de_vries'])}** ("
                  + (f"{_de_vries_published()}; " if complete else "not comparable with their figure; ")
                  + _extra_sources_caveat(config) + ")."]
    if seeds:
        shipped = _shipped_figures(metrics)
        lines += ["", f"The shipped model alone (seed 0; sentences resampled): low-resource macro "
                  f"{fig(shipped['macro'])}"
                  + (f", de Vries et al.'s {len(metrics['macro_subsets']['de_vries_2022']['treebanks'])} "
                     f"{fig(shipped['de_vries'])}" if shipped["de_vries"] else "")
                  + (f", raw text in, UPOS F1 {fig(shipped['raw_upos'])}" if shipped["raw_upos"] else "") + "."]
    english = [k for k in ENGLISH if k in figures["sets"]]
    if english:
        lines += ["", "English (in-language): " + ", ".join(
            f"{_english_name(metrics['treebanks'][k])} {fig(figures['sets'][k])}" for k in english) + "."]
    lead = (f"low-resource UPOS F1 **{pct(figures['raw_upos'][0])}** {ci(figures['raw_upos'][1])} over the "
            f"{n} seeds" if seeds else "")
    lines += raw_text_lines(metrics, tokenizer_bench, lead)
    low = sorted((k for k, tb in metrics["treebanks"].items() if tb["group"] == "low_resource"),
                 key=lambda k: -figures["sets"][k][0])
    if low:
        def one(k):
            return f"{_short_name(metrics['treebanks'][k])} {fig(figures['sets'][k])}"
        lines += ["", "Best and worst low-resource treebanks: " + ", ".join(one(k) for k in low[:3])
                  + " … " + ", ".join(one(k) for k in low[-3:]) + "."]
    if figures["pairs"]:
        lines += ["", "| same language, two domains | a | b | gap a − b [95% CI] |", "|---|---|---|---|"]
        for p, a, b, gap in figures["pairs"]:
            lines.append(f"| {p['label']} | {pct(a[0])} | {pct(b[0])} | {signed_ci(*gap)} |")
    return lines


def _research_lines(metrics: dict, report_summary: dict, accelerator: dict, int8_metrics: dict,
                    inference_bench: dict, tagging_bench: list, timings: dict, int8_cpu: dict = {},
                    int8_no_vnni: tuple = (), inference_no_vnni: dict = {}) -> list:
    """The research reports' summaries, inference and the timings of `make all`."""
    lines = []
    for regime, variants in (report_summary or {}).items():
        lines += ["", f"### Does fusion help? {regime} (`reports/zero_shot_pos.md`)", "",
                  "| variant | seeds | English dev | low-resource macro [95% CI] | vs LastLayer (paired) |",
                  "|---|---|---|---|---|"]
        for v, s in variants.items():
            test = s.get("test")
            cmp = "—" if not test else (
                f"{100 * test['diff']:+.2f} [{100 * test['ci95'][0]:+.2f}, {100 * test['ci95'][1]:+.2f}], "
                f"p {'< 0.001' if test['p'] < 0.001 else '= ' + format(test['p'], '.3f')}"
                + (f" (Holm {'≤ ' if test['p'] < 0.001 else ''}{format(test['p_holm'], '.3f')})"
                   if "p_holm" in test else ""))
            lines.append(f"| {v} | {s['seeds']} | {pct(s['dev'])} | {pct(s['macro'])} {ci(s['ci'])} | {cmp} |")
    regimes = list((report_summary or {}).values())
    for fusion in ("DLFA", "AIF"):  # the two fusions that read a chosen layer k*
        read = [next((v for v in variants if v.split(" ")[0] == fusion), None) for variants in regimes]
        if len(read) == 2 and None not in read and read[0] != read[1]:
            lines += ["", f"{fusion} reads {read[0].split(' ', 1)[1]} in regime a and {read[1].split(' ', 1)[1]} in "
                      f"regime b: regime b was trained on the layers of an earlier sweep and not rerun "
                      f"(`reports/zero_shot_pos.md`)."]
    lines += accelerator_lines(accelerator)
    lines += inference_lines(metrics, int8_metrics, inference_bench, tagging_bench, int8_cpu, int8_no_vnni,
                             inference_no_vnni)
    if timings:
        steps = timings["steps"]
        lines += ["", f"### Time of each step (`make all` in a fresh clone; {timings['machine']})", "",
                  "From `reports/make_all_timings.json`.", "", "| step | wall time |", "|---|---|"]
        for step, seconds in steps.items():
            lines.append(f"| {step} | {seconds / 60:.1f} min |")
        lines.append(f"| total | {sum(steps.values()) / 60:.1f} min |")
        tagged = metrics["treebanks"].values()
        seconds = sum(t["seconds"] for t in tagged)
        # The metrics file is its own run, not the timed make-all run above.
        run = f" (`metrics/finetuned/zero_shot.json`, {metrics['seconds'] / 60:.1f} min)" if "seconds" in metrics else ""
        lines += ["", f"In the evaluation run that wrote the shipped pipeline's metrics{run}, tagging the gold words "
                  f"of {sum(t['sentences'] for t in tagged):,} sentences ({sum(t['words'] for t in tagged):,} words) "
                  f"took {seconds / 60:.1f} min ({sum(t['words'] for t in tagged) / seconds:,.0f} words/s, batches of "
                  f"{metrics['settings']['batch_size']} sorted by "
                  f"{metrics['settings'].get('batch_order', 'words')})"
                  + ("; the rest of that run tags the same sentences again from raw text and computes the "
                     "intervals." if "macro_low_resource_raw_text" in metrics else ".")]
    return lines


def render(readme_text: str, metrics: Path, timings: Path, summary: Path, selection: Path,
           tokenizer_bench: Path = REPO / "reports" / "bench" / "tokenizer.json",
           inference_bench: Path = REPO / "reports" / "bench" / "inference.json",
           accelerator: Path = REPO / "reports" / "accelerator_summary.json",
           example: Path = REPO / "reports" / "example_tags.json") -> str:
    m = json.loads(metrics.read_text())
    q = {}
    for scheme in SCHEMES:
        folder = f"{metrics.parent.name}_int8_{scheme}"
        int8_file = metrics.parent.with_name(folder) / metrics.name
        if int8_file.exists():
            q[scheme] = (folder, json.loads(int8_file.read_text()))
    # The default scheme evaluated again on a CPU without VNNI (evaluate_zero_shot.py --int8 there)
    no_vnni_folder = f"{metrics.parent.name}_int8_{DEFAULT_SCHEME}_no_vnni"
    no_vnni_file = metrics.parent.with_name(no_vnni_folder) / metrics.name
    no_vnni = (no_vnni_folder, json.loads(no_vnni_file.read_text())) if no_vnni_file.exists() else ()
    ib = json.loads(inference_bench.read_text()) if inference_bench.exists() else {}
    # The same benchmark on a CPU without VNNI (int8 runs other kernels there)
    no_vnni_bench_file = inference_bench.with_name(inference_bench.stem + "_no_vnni.json")
    ib_no_vnni = json.loads(no_vnni_bench_file.read_text()) if no_vnni_bench_file.exists() else {}
    tagging = [json.loads(p.read_text()) for p in sorted(inference_bench.parent.glob("tagging_*.json"))]
    int8_cpu_file = inference_bench.parent / "int8_cpu.json"
    int8_cpu = json.loads(int8_cpu_file.read_text()) if int8_cpu_file.exists() else {}
    tb = json.loads(tokenizer_bench.read_text()) if tokenizer_bench.exists() else {}
    t = json.loads(timings.read_text()) if timings.exists() else {}
    s = json.loads(summary.read_text()) if summary.exists() else {}
    sel = json.loads(selection.read_text()) if selection.exists() else {}
    acc = json.loads(accelerator.read_text()) if accelerator.exists() else {}
    seeds = REPO / "reports" / f"{metrics.parent.name}_seeds.json"
    seeded = json.loads(seeds.read_text()) if seeds.exists() else {}
    if seeded and stale_reason(seeded, m):
        # Not about the shipped model (a new pick trained and evaluated, its seeds not yet):
        # its figures would be shown as this model's.
        print(f"{seeds.relative_to(REPO)} is left out: {stale_reason(seeded, m)} than {metrics} "
              "(spacy project run seeds)", file=sys.stderr)
        seeded = {}
    section = results_section(m, metrics.parent.name, t, s, sel, tb, q, ib, acc, tagging, seeded, int8_cpu, no_vnni,
                              ib_no_vnni)
    text = replace_between(readme_text, START, END, section)
    if EXAMPLE_START in text:
        if not example.exists():  # the block would keep whatever was typed into it
            raise FileNotFoundError(f"{example} not found, which the README's example is written from "
                                    "(spacy project run example)")
        text = replace_between(text, EXAMPLE_START, EXAMPLE_END,
                               "\n".join(example_lines(json.loads(example.read_text(encoding="utf-8")))))
    return text


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """``text`` with the lines between the ``start`` and ``end`` markers replaced by ``body``."""
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + body + "\n" + end + tail


def main(metrics: Path = typer.Option(REPO / "metrics" / "finetuned" / "zero_shot.json"),
         timings: Path = typer.Option(REPO / "reports" / "make_all_timings.json"),
         summary: Path = typer.Option(REPO / "reports" / "summary.json"),
         selection: Path = typer.Option(REPO / "reports" / "finetune_selection.json"),
         tokenizer_bench: Path = typer.Option(REPO / "reports" / "bench" / "tokenizer.json"),
         check: bool = typer.Option(False, "--check", help="Exit 1 if the README is out of date"),
         readme: Path = typer.Option(REPO / "README.md", "--readme")):
    text = readme.read_text(encoding="utf8")
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise typer.BadParameter(f"{readme}: needs one {START} line and, after it, one {END} line",
                                 param_hint="--readme")
    if (text.count(EXAMPLE_START), text.count(EXAMPLE_END)) not in ((0, 0), (1, 1)) or \
            text.find(EXAMPLE_START) > text.find(EXAMPLE_END):
        raise typer.BadParameter(f"{readme}: {EXAMPLE_START} needs one {EXAMPLE_END} line after it, "
                                 "and each may appear once", param_hint="--readme")
    if EXAMPLE_START in text and not (text.index(EXAMPLE_END) < text.index(START)
                                      or text.index(EXAMPLE_START) > text.index(END)):
        raise typer.BadParameter(f"{readme}: the example block overlaps the results block: one would "
                                 "overwrite the other", param_hint="--readme")
    if not metrics.is_file():
        raise typer.BadParameter(f"{metrics}: not found (make all writes it)", param_hint="--metrics")
    try:
        new = render(text, metrics, timings, summary, selection, tokenizer_bench)
    except (FileNotFoundError, ValueError) as err:  # the example's source missing or malformed
        typer.echo(f"Error: {err}", err=True)
        sys.exit(2)
    if check:
        if new != text:
            typer.echo(f"{readme} is out of date with its sources ({metrics} and the reports): "
                       "run scripts/update_readme.py", err=True)
            sys.exit(1)
        typer.echo(f"{readme} is up to date")
        return
    readme.write_text(new, encoding="utf8")
    typer.echo(f"updated {readme}")


if __name__ == "__main__":
    typer.run(main)

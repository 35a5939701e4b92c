"""Fill the README's results section from metrics files (never typed by hand).

    python scripts/update_readme.py [--metrics metrics/finetuned/zero_shot.json] [--check]

Replaces the text between `<!-- results:start -->` and `<!-- results:end -->` with the
low-resource table and summary of the shipped pipeline's metrics (gold words and raw text), the
tokenizer benchmark's means (reports/bench/tokenizer.json), the summary of the research
reports (reports/summary.json, reports/finetune_selection.json and
reports/accelerator_summary.json, when present), the shipped config's intervals over
several training seeds (reports/<config>_seeds.json, from seed_intervals.py), and the
step timings of `make all` in a fresh clone (reports/make_all_timings.json). With --check,
changes nothing and exits 1 when the README differs from what its sources give.
"""
import sys
import json
from pathlib import Path

import typer

from layer_fusion.report_table import ci, pct
from layer_fusion.targets import load_targets
from layer_fusion.quantization import DEFAULT_SCHEME, INT8_BY_DEFAULT, SCHEMES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from seed_intervals import stale_reason  # noqa: E402  (a sibling script)

START, END = "<!-- results:start -->", "<!-- results:end -->"


def raw_text_lines(metrics: dict, tokenizer_bench: dict, seeds_lead: str = "") -> list:
    """End-to-end (raw text) figures of the metrics, and the tokenizer benchmark's means.
    ``seeds_lead``: the seed mean of UPOS F1, which then leads, the metrics' figures following
    as the shipped model's."""
    from layer_fusion.raw_text import LANGUAGES_WITHOUT_WORD_SPACES

    raw = metrics.get("macro_low_resource_raw_text")
    if not raw:
        return []
    low = [tb for tb in metrics["treebanks"].values() if tb["group"] == "low_resource" and "raw_text" in tb]
    spaced = [tb for tb in low if tb["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES]
    gaps = [(tb["accuracy"] - tb["raw_text"]["upos_f1"], tb) for tb in spaced]
    within = sum(gap <= 0.03 for gap, _ in gaps)
    worst = sorted(gaps, key=lambda g: -g[0])[:3]
    # Sets where multiword tokens alone cost more than 3 points (raw_text.mwt_unsplit_upos_f1).
    mwt_bound = [tb for gap, tb in gaps if gap > 0.03 and "gold_word_tags_mwt_unsplit" in tb["raw_text"]
                 and tb["accuracy"] - tb["raw_text"]["gold_word_tags_mwt_unsplit"]["upos_f1"] > 0.03]
    upos = f"{pct(raw['upos_f1']['accuracy'])}" if seeds_lead else f"**{pct(raw['upos_f1']['accuracy'])}**"
    lines = ["", "**Raw text in** (the pipeline tokenizes each sentence's text itself; predictions aligned to "
             "the gold by character spans, CoNLL 2018; `metrics/<config>/zero_shot.md`, \"Raw text in\"): "
             + (f"{seeds_lead}; the shipped model: " if seeds_lead else "")
             + f"low-resource UPOS F1 {upos} {ci(raw['upos_f1']['ci95'])}, "
             f"token F1 {pct(raw['token_f1']['accuracy'])} {ci(raw['token_f1']['ci95'])}; on the "
             f"{len(spaced)} sets written with spaces between words, token F1 "
             f"{pct(raw['token_f1_spaced']['accuracy'])} {ci(raw['token_f1_spaced']['ci95'])}, and UPOS F1 "
             f"within 3 points of gold-word accuracy on {within} of them (largest gaps: "
             + ", ".join(f"{tb['language']} ({tb['treebank'].split('-')[-1]}) {100 * gap:.1f}" for gap, tb in worst)
             + "; a word inside a multiword token counts only where the tokenizer splits the token into it)."]
    if mwt_bound:
        lines[-1] += (f" On {len(mwt_bound)} of the other {len(spaced) - within}, multiword tokens alone cost "
                      "more than 3 points. Scored as raw text with every surface token found and none "
                      "split, the gold-word tags themselves reach only " + ", ".join(
                          f"{tb['language']} ({tb['treebank'].split('-')[-1]}) "
                          f"{pct(tb['raw_text']['gold_word_tags_mwt_unsplit']['upos_f1'])} "
                          f"({pct(tb['accuracy'])} on gold words)" for tb in mwt_bound)
                      + ".")
    segmented = [tb for tb in low if "token_f1" in (tb.get("raw_text_segmenter") or {})]
    if segmented:
        lines[-1] += " With `--lang`: " + ", ".join(
            f"{tb['language']} token F1 {pct(tb['raw_text']['token_f1'])} → "
            f"{pct(tb['raw_text_segmenter']['token_f1'])}, UPOS F1 {pct(tb['raw_text']['upos_f1'])} → "
            f"{pct(tb['raw_text_segmenter']['upos_f1'])}" for tb in segmented) + "."
    groups = tokenizer_bench.get("groups") or {}
    group = groups.get("low_resource")
    if group:
        lines += ["", f"The tokenizer alone (`reports/bench/tokenizer.md`): mean token F1 over the "
                  f"{group['n_spaced']} low-resource sets written with spaces, spaCy's `xx` rules "
                  f"{pct(group['xx_spaced'])}, this project's {pct(group['multilingual_spaced'])}. Its rules were "
                  "found by reading where the `xx` rules disagree with these sets' text, so that gain is measured "
                  "on the data the rules came from"]
        others = [(groups[k], label) for k, label in (("extra_source", "treebanks that are never targets (the "
                                                       "extra-source group)"), ("english", "English sets"))
                  if k in groups]
        lines[-1] += ("; they move it from " + ", and ".join(
            f"{pct(g['xx_spaced'])} to {pct(g['multilingual_spaced'])} on the {g['n_spaced']} {label}"
            for g, label in others) if others else "") + "."
    return lines


def inference_lines(metrics: dict, int8: dict, bench: dict, tagging: list = []) -> list:
    """Tagging speed against the bare encoder, int8 and 2 processes (reports/bench/inference.json),
    memory tagging 10,000 lines (``tagging``: reports/bench/tagging_*.json), and int8's accuracy
    per scheme (``int8``: scheme -> (metrics folder, metrics), from
    metrics/<config>_int8/ and metrics/<config>_int8_per_tensor/)."""
    if not bench and not int8:
        return []
    lines = ["", "### Inference: speed, int8, processes"]
    if bench:
        r = bench["ratio_to_bare_fp32"]
        lines += ["", f"From `reports/bench/inference.md`: {bench['sentences']:,} {bench['source']} "
                  f"sentences, {bench['threads']} threads, median of {bench['runs']} interleaved runs.", "",
                  "| path | sentences/s | × the bare fp32 encoder |", "|---|--:|--:|"]
        names = {"bare_fp32": "bare encoder, fp32 (all hidden states, batches of 32 sorted by wordpieces)",
                 "bare_fp32_batch64": "bare encoder, fp32, batches of 64",
                 "bare_fp32_words": "bare encoder, fp32, on the pipeline's input (each word tokenized alone)",
                 "tag_fp32": "`layer-fusion tag` path, fp32",
                 "tag_fp32_mapped_rows": "`layer-fusion tag` path, fp32, word embeddings through the memory map", "evaluate_fp32": "evaluation path (gold words), fp32",
                 "evaluate_fp32_batch32": "evaluation path, fp32, batches of 32",
                 **{f"bare_int8_{s}": f"bare encoder, int8 {s.replace('_', '-')}" for s in SCHEMES},
                 "tag_int8": f"`layer-fusion tag --int8` path ({bench.get('tag_int8_scheme', DEFAULT_SCHEME)})",
                 "tag_fp32_2proc": "`layer-fusion tag --n-process 2` (1 thread each), fp32"}
        for key, label in names.items():
            if key in r:
                lines.append(f"| {label} | {bench['sentences_per_second'][key]:.1f} | {r[key]:.2f} |")
        mem = bench.get("memory") or {}
        if mem:
            labels = {"fp32": "fp32", "int8": "`--int8`",
                      "int8, quantized while loading (no cache)": "`--int8` quantizing while loading (no cache)",
                      "int8, from the cache": "`--int8` from the int8 cache",
                      "fp32, stock format": "fp32 with the pipeline saved by stock spacy-transformers",
                      "fp32, fast tokenizer": "fp32 with the fast (Rust) tokenizer (`compact_tokenizer = false`)"}
            lines += ["", "Peak RSS of `layer-fusion tag` loading the pipeline and tagging 200 lines, each in its "
                      "own process: " + ", ".join(f"{labels.get(name, name)} {m['peak_rss_mib']:,.0f} MiB"
                                                  for name, m in mem.items()) + "."]
        padding = bench.get("padding") or {}
        if padding:
            lines += ["", f"Padding in the encoder's batches of {bench['padding_batch_size']}: "
                      + "; ".join(f"{name} {100 * p['padding']:.0f}%" for name, p in padding.items()) + "."]
    precisions = {"int8": "int8, its encoder from the int8 cache", "int8-cold": "int8, quantized while loading"}
    for run in tagging:
        for row in run["rows"]:
            precision = row.get("precision", "fp32")
            lines += ["", f"`layer-fusion tag` on {row['lines']:,} lines of {run['source']} "
                      f"({precisions.get(precision, precision)}, batches of "
                      f"{row['batch_size']}, {row['threads']} threads, loading included; `reports/bench/tagging.md`): "
                      f"{row['words_per_second']:,.0f} words/s, peak RSS {row['peak_rss_mib']:,.0f} MiB, "
                      f"late RSS {row['late_rss_mib']:,.0f} MiB."]
    if int8:
        a = metrics["macro_low_resource"]["accuracy"]
        lines += ["", "int8 accuracy and speed per scheme (`spacy project run evaluate-int8`; "
                  "`layer_fusion.quantization` describes the schemes; goals: at most 0.3 points below fp32 "
                  "and 1.5× its speed):", "",
                  "| scheme | metrics | low-resource macro [95% CI] | vs fp32 | × bare fp32 |", "|---|---|---|--:|--:|"]
        meets = []
        for scheme, (folder, q) in int8.items():
            b = q["macro_low_resource"]
            ratio = (bench.get("ratio_to_bare_fp32") or {}).get(f"bare_int8_{scheme}")
            lines.append(f"| {scheme.replace('_', '-')} | `metrics/{folder}/zero_shot.md` | {pct(b['accuracy'])} "
                         f"{ci(b['ci95'])} | {100 * (b['accuracy'] - a):+.2f} | "
                         f"{'—' if ratio is None else f'{ratio:.2f}'} |")
            if b["accuracy"] >= a - 0.003 and ratio is not None and ratio >= 1.5:
                meets.append(scheme)
        default = bench.get("tag_int8_scheme", DEFAULT_SCHEME)
        met = (f"{', '.join(s.replace('_', '-') for s in meets)} "
               f"{'meets' if len(meets) == 1 else 'meet'} both goals" if meets else "No scheme meets both goals")
        protocol = "(`docs/selection_protocol.md`, \"The `--int8` scheme\")"
        if INT8_BY_DEFAULT and default in meets:
            lines += ["", f"{met}. `--int8` runs the {default.replace('_', '-')} scheme {protocol}, and it is "
                      "the default of `layer-fusion tag` on the CPU; `--fp32` runs the fp32 encoder."]
        else:
            lines += ["", f"{met}; fp32 stays the default and `--int8` is an option, with the "
                      f"{default.replace('_', '-')} scheme {protocol}."]
    return lines


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
                    seeds: dict = {}) -> str:
    shipped = selection.get("shipped")
    how = (f"the fine-tuning grid's pick by the reference-dev protocol, run `{shipped}` of "
           "`reports/finetune_cpu.md`, last checkpoint of a fixed step budget" if shipped else
           "checkpoint chosen on English dev")
    figures = _seed_figures(metrics, seeds) if seeds else _shipped_figures(metrics)
    return "\n".join(_headline(metrics, config, how, figures, tokenizer_bench, seeds)
                     + _research_lines(metrics, report_summary, accelerator, int8_metrics, inference_bench,
                                       tagging_bench, timings))


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
        lines += ["", f"**The 14 languages of de Vries et al. (2022): {fig(figures['de_vries'])}** "
                  f"({_de_vries_published()})."]
    if seeds:
        shipped = _shipped_figures(metrics)
        lines += ["", f"The shipped model alone (seed 0; sentences resampled): low-resource macro "
                  f"{fig(shipped['macro'])}"
                  + (f", de Vries et al.'s 14 {fig(shipped['de_vries'])}" if shipped["de_vries"] else "")
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
                    inference_bench: dict, tagging_bench: list, timings: dict) -> list:
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
    lines += inference_lines(metrics, int8_metrics, inference_bench, tagging_bench)
    if timings:
        steps = timings["steps"]
        lines += ["", f"### Time of each step (`make all` in a fresh clone; {timings['machine']})", "",
                  "From `reports/make_all_timings.json`.", "", "| step | wall time |", "|---|---|"]
        for step, seconds in steps.items():
            lines.append(f"| {step} | {seconds / 60:.1f} min |")
        lines.append(f"| total | {sum(steps.values()) / 60:.1f} min |")
        tagged = metrics["treebanks"].values()
        seconds = sum(t["seconds"] for t in tagged)
        lines += ["", f"On gold words the evaluation tags {sum(t['sentences'] for t in tagged):,} sentences "
                  f"({sum(t['words'] for t in tagged):,} words) in {seconds / 60:.1f} min "
                  f"({sum(t['words'] for t in tagged) / seconds:,.0f} words/s, batches of "
                  f"{metrics['settings']['batch_size']} sorted by "
                  f"{metrics['settings'].get('batch_order', 'words')})"
                  + ("; the rest of the evaluate step tags the same sentences again from raw text."
                     if "macro_low_resource_raw_text" in metrics else ".")]
    return lines


def render(readme_text: str, metrics: Path, timings: Path, summary: Path, selection: Path,
           tokenizer_bench: Path = REPO / "reports" / "bench" / "tokenizer.json",
           inference_bench: Path = REPO / "reports" / "bench" / "inference.json",
           accelerator: Path = REPO / "reports" / "accelerator_summary.json") -> str:
    m = json.loads(metrics.read_text())
    q = {}
    for scheme in SCHEMES:
        folder = f"{metrics.parent.name}_int8_{scheme}"
        int8_file = metrics.parent.with_name(folder) / metrics.name
        if int8_file.exists():
            q[scheme] = (folder, json.loads(int8_file.read_text()))
    ib = json.loads(inference_bench.read_text()) if inference_bench.exists() else {}
    tagging = [json.loads(p.read_text()) for p in sorted(inference_bench.parent.glob("tagging_*.json"))]
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
    head, rest = readme_text.split(START, 1)
    _, tail = rest.split(END, 1)
    section = results_section(m, metrics.parent.name, t, s, sel, tb, q, ib, acc, tagging, seeded)
    return head + START + "\n" + section + "\n" + END + tail


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
    if not metrics.is_file():
        raise typer.BadParameter(f"{metrics}: not found (make all writes it)", param_hint="--metrics")
    new = render(text, metrics, timings, summary, selection, tokenizer_bench)
    if check:
        if new != text:
            typer.echo(f"{readme} is out of date with {metrics}: run scripts/update_readme.py", err=True)
            sys.exit(1)
        typer.echo(f"{readme} is up to date")
        return
    readme.write_text(new, encoding="utf8")
    typer.echo(f"updated {readme}")


if __name__ == "__main__":
    typer.run(main)

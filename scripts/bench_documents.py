"""Benchmark: raw-text UPOS F1 when paragraphs, not single sentences, are tagged.

The evaluate step gives the pipeline one sentence's text at a time. For every low-resource
set written with spaces between words (configs/targets.cfg; Thai and Vietnamese left out:
their tokens depend on a segmenter), and for each pipeline given (the seeds of one config),
raw-text UPOS F1 (CoNLL 2018 span alignment, each sentence scored on its own tokens) of:

* ``sentences``: each sentence's text alone, the pipeline as saved (``layer_fusion.raw_text``,
  as evaluate does);
* ``paragraphs_strided_spans``: the sentences of a paragraph joined into one text, up to
  ``--max-sentences`` of them (``layer_fusion.raw_documents``), tagged with no sentencizer
  and spacy-transformers' ``strided_spans``: encoder windows cross sentence ends;
* ``paragraphs_sentence_spans``: the same texts with a ``sentencizer`` before the
  transformer and ``layer_fusion.sentence_strided_spans.v1``: windows inside sentences.

Both paragraph modes keep the pipeline's weights, window and stride (``load_variant``).
The sentence ends the ``sentencizer`` finds in those texts, against UD's, are counted too
(``raw_documents.sentence_start_counts``; tokenizer and sentencizer only, the same for every seed).

Macro-averages over the sets with 95% CIs that resample seeds and sentences, and each
paragraph mode's paired difference from ``sentences`` (``layer_fusion.research.statistics``).
Nothing is chosen from these figures. Writes JSON and a markdown summary.

    python scripts/bench_documents.py ../shared/ud training/finetuned/model-last \
        training/finetuned_seed1/model-last training/finetuned_seed2/model-last \
        --output reports/bench/documents.json --markdown reports/bench/documents.md
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import spacy
import typer
from tqdm import tqdm

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.conllu import read_conllu
from layer_fusion.raw_documents import DEFAULT_MAX_SENTENCES, evaluate_raw_documents, sentence_start_counts, text_units
from layer_fusion.raw_text import LANGUAGES_WITHOUT_WORD_SPACES, evaluate_raw_text
from layer_fusion.research import statistics as stats
from layer_fusion.targets import load_targets

REPO = Path(__file__).resolve().parents[1]
MODES = ("sentences", "paragraphs_strided_spans", "paragraphs_sentence_spans")
# Whether the encoder's windows stay inside sentences -> the span getter that does so.
SPAN_GETTERS = {False: "spacy-transformers.strided_spans.v1", True: "layer_fusion.sentence_strided_spans.v1"}
N_RESAMPLES = 4000
app = typer.Typer(add_completion=False)


def load_variant(path: Path, sentence_spans: bool):
    """The pipeline at ``path`` with its transformer's windows either inside sentences (a
    ``sentencizer`` before the transformer, ``layer_fusion.sentence_strided_spans.v1``) or
    across them (no sentencizer, ``spacy-transformers.strided_spans.v1``), whichever the
    pipeline was saved with; the same window and stride, the same weights."""
    config = spacy.util.load_config(path / "config.cfg", interpolate=False)
    get_spans = dict(config["components"]["transformer"]["model"]["get_spans"])
    if get_spans.get("@span_getters") not in SPAN_GETTERS.values():
        raise typer.BadParameter(f"{path}: the transformer's span getter is {get_spans.get('@span_getters')!r}, "
                                 f"not one of {sorted(SPAN_GETTERS.values())}", param_hint="MODELS")
    get_spans["@span_getters"] = SPAN_GETTERS[sentence_spans]
    nlp = spacy.load(path, config={"components": {"transformer": {"model": {"get_spans": get_spans}}}},
                     exclude=[] if sentence_spans else ["sentencizer"])
    if sentence_spans and "sentencizer" not in nlp.pipe_names:
        nlp.add_pipe("sentencizer", before="transformer")
    return nlp


def upos_runs(results: List[Dict[str, dict]], mode: str) -> stats.Runs:
    """UPOS F1 as stats.Runs (words = P + G per sentence, correct = 2C), seeds stacked.
    A mode's denominators agree across seeds (its tokenizer is the same); across modes they
    may not: the final-apostrophe rule reads the text before a word, so a paragraph can be
    tokenized a little differently from its sentences alone."""
    runs: stats.Runs = {}
    for key in results[0]:
        words = np.asarray(results[0][key][mode]["words"], dtype=np.int64)
        correct = []
        for seed in results:
            counts = seed[key][mode]
            if not np.array_equal(np.asarray(counts["words"]), words):
                raise ValueError(f"{key}: {mode}: the seeds' pipelines tokenized the text differently")
            correct.append(np.asarray(counts["correct"], dtype=np.int64))
        runs[key] = (words, np.stack(correct))
    return runs


def summarize(results: List[Dict[str, dict]]) -> Dict:
    runs = {mode: upos_runs(results, mode) for mode in MODES}
    out = {"macro": {}, "difference_from_sentences": {}, "per_set": {}}
    for mode in MODES:
        out["macro"][mode] = {"mean": stats.macro(runs[mode]),
                              "ci95": list(stats.macro_ci(runs[mode], N_RESAMPLES)),
                              "per_seed": [stats.macro({k: (w, c[s:s + 1]) for k, (w, c) in runs[mode].items()})
                                           for s in range(len(results))]}
        if mode != "sentences":
            d = stats.paired_difference(runs[mode], runs["sentences"], N_RESAMPLES)
            out["difference_from_sentences"][mode] = {"difference": d.difference, "ci95": list(d.ci95), "p": d.p}
    for key in results[0]:
        out["per_set"][key] = {mode: stats.contrast(runs[mode], {key: 1.0}) for mode in MODES}
    return out


def _ratio(numerator: int, denominator: int) -> Optional[float]:
    return numerator / denominator if denominator else None


def start_scores(starts: Dict[str, Dict[str, int]]) -> Dict[str, Dict[str, Optional[float]]]:
    """Precision and recall of the sentencizer's sentence starts per set, and their macro
    means over the sets where each is defined."""
    per_set = {key: {"precision": _ratio(c["correct"], c["found"]), "recall": _ratio(c["correct"], c["gold"])}
               for key, c in starts.items()}
    macro = {}
    for measure in ("precision", "recall"):
        values = [row[measure] for row in per_set.values() if row[measure] is not None]
        macro[measure] = float(np.mean(values)) if values else None
    return {"per_set": per_set, "macro": macro}


def _percent(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def render(data: Dict) -> str:
    s = data["summary"]
    starts = start_scores(data["sentence_starts"])
    lines = [
        "# Raw text in, a paragraph at a time",
        "",
        "Generated by `scripts/bench_documents.py`. Raw-text UPOS F1 (CoNLL 2018 span alignment; each sentence "
        f"scored on its own tokens) over {len(s['per_set'])} low-resource sets written with spaces between words, "
        f"{len(data['models'])} seeds ({', '.join(f'`{m}`' for m in data['models'])}). Paragraphs: the sentences of a "
        f"`# newpar` paragraph of one `# newdoc` document, at most {data['max_sentences']} (sets without paragraph "
        f"marks: every {data['max_sentences']} sentences), joined by a space. CIs resample seeds and sentences.",
        "",
        "- `sentences`: each sentence's text alone (what `evaluate` reports);",
        "- `paragraphs_strided_spans`: each paragraph as one text, no `sentencizer`, spacy-transformers' "
        "`strided_spans` (encoder windows cross sentence ends);",
        "- `paragraphs_sentence_spans`: the same texts with a `sentencizer` before the transformer and "
        "`layer_fusion.sentence_strided_spans.v1` as its span getter (windows inside sentences).",
        "",
        "| mode | macro UPOS F1 | 95% CI | per seed | difference from `sentences` | 95% CI |",
        "|---|--:|---|---|--:|---|",
    ]
    for mode in MODES:
        m = s["macro"][mode]
        d = s["difference_from_sentences"].get(mode)
        diff = (f"{100 * d['difference']:+.2f} | [{100 * d['ci95'][0]:+.2f}, {100 * d['ci95'][1]:+.2f}]"
                if d else " | ")
        lines.append(f"| `{mode}` | {100 * m['mean']:.2f} | [{100 * m['ci95'][0]:.2f}, {100 * m['ci95'][1]:.2f}] | "
                     f"{', '.join(f'{100 * x:.2f}' for x in m['per_seed'])} | {diff} |")
    lines += ["", "Sentence ends the `sentencizer` finds inside the paragraph texts (UD's sentence starts after "
              "each text's first, matched by character offset): macro precision "
              f"{_percent(starts['macro']['precision'])}%, recall {_percent(starts['macro']['recall'])}%.",
              "", "## Per set (mean over seeds)", "",
              "| set | sentences | texts | " + " | ".join(f"`{m}`" for m in MODES)
              + " | sentence starts | sentencizer P % | R % |",
              "|---|--:|--:|" + "--:|" * len(MODES) + "--:|--:|--:|"]
    for key, row in s["per_set"].items():
        info, found = data["sets"][key], starts["per_set"][key]
        lines.append(f"| {key} | {info['sentences']:,} | {info['texts']:,} | "
                     + " | ".join(f"{100 * row[m]:.2f}" for m in MODES)
                     + f" | {data['sentence_starts'][key]['gold']:,} | {_percent(found['precision'])} | "
                     f"{_percent(found['recall'])} |")
    return "\n".join(lines) + "\n"


def _counts(result) -> Dict[str, list]:
    return {"words": (result.gold_words + result.predicted_tokens).tolist(),
            "correct": (2 * result.correct_upos).tolist()}


@app.command()
def main(
    ud_dir: Path = typer.Argument(..., exists=True, file_okay=False),
    models: List[Path] = typer.Argument(..., exists=True, file_okay=False, help="Pipelines: the seeds of one config"),
    output: Path = typer.Option(REPO / "reports" / "bench" / "documents.json", "--output"),
    markdown: Optional[Path] = typer.Option(None, "--markdown"),
    targets: Path = typer.Option(REPO / "configs" / "targets.cfg", "--targets", exists=True),
    max_sentences: int = typer.Option(DEFAULT_MAX_SENTENCES, "--max-sentences", min=1),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
):
    warnings.filterwarnings("ignore", category=UserWarning)  # empty-sentence notes of the reader
    sets = [t for t in load_targets(targets).select("low_resource") if t.iso not in LANGUAGES_WITHOUT_WORD_SPACES]
    sentences = {}
    for t in sets:
        path = t.path(ud_dir)
        if path.is_file():
            sentences[t.key] = list(read_conllu(path))
        else:
            typer.echo(f"{path}: not found, left out", err=True)
    if not sentences:
        raise typer.BadParameter(f"{ud_dir}: none of the low-resource sets of {targets} is there", param_hint="UD_DIR")
    total = sum(len(s) for s in sentences.values())
    # Each pipeline's counts are kept as they are done, so a run cut short resumes there.
    partial = output.parent / f".{output.stem}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    results = []
    for i, model in enumerate(models):
        done = partial / f"{i}.json"
        settings = {"model": str(model), "max_sentences": max_sentences, "sets": list(sentences)}
        if done.is_file():
            saved = json.loads(done.read_text(encoding="utf8"))
            if saved["settings"] == settings:
                typer.echo(f"{model}: counts from {done}", err=True)
                results.append(saved["counts"])
                continue
        pipelines = {"shipped": spacy.load(model), "strided_spans": load_variant(model, sentence_spans=False),
                     "sentence_spans": load_variant(model, sentence_spans=True)}
        per_set = {}
        with tqdm(total=total * len(MODES), desc=str(model), unit="sent") as bar:
            for key, sents in sentences.items():
                per_set[key] = {
                    "sentences": _counts(evaluate_raw_text(pipelines["shipped"], sents, batch_size, progress=bar.update)),
                    "paragraphs_strided_spans": _counts(evaluate_raw_documents(
                        pipelines["strided_spans"], sents, max_sentences, batch_size, progress=bar.update)),
                    "paragraphs_sentence_spans": _counts(evaluate_raw_documents(
                        pipelines["sentence_spans"], sents, max_sentences, batch_size, progress=bar.update)),
                }
        write_text_atomic(done, json.dumps({"settings": settings, "counts": per_set}) + "\n")
        results.append(per_set)
    # Tokenizer and sentencizer only: the same for every seed.
    starts_nlp = load_variant(models[0], sentence_spans=True)
    with starts_nlp.select_pipes(enable=["sentencizer"]):
        starts = {key: sentence_start_counts(starts_nlp, sents, max_sentences, batch_size)._asdict()
                  for key, sents in sentences.items()}
    data = {
        "models": [str(m) for m in models],
        "max_sentences": max_sentences,
        "sets": {key: {"sentences": len(s), "texts": len(text_units(s, max_sentences))} for key, s in sentences.items()},
        "summary": summarize(results),
        "sentence_starts": starts,
        "per_sentence": results,
    }
    write_text_atomic(output, json.dumps(data) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render(data))
    shutil.rmtree(partial)
    typer.echo(render(data))


if __name__ == "__main__":
    app()

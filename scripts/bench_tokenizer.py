"""Benchmark: how well tokenizers find UD's surface tokens in raw text (no tagger involved).

For every evaluation set in configs/targets.cfg and the extra-source test sets of the UD
mirror's manifest (never targets: a check on rules found on the targets), token F1
(CoNLL 2018 span alignment, layer_fusion.raw_text) of:

* spaCy's ``xx`` rules (the stock multilingual tokenizer);
* ``layer_fusion.MultilingualTokenizer.v1`` (layer_fusion/tokenizer.py), and the same
  without each of its rules in turn (what each rule is worth, per group of sets);
* for languages with a word segmenter (``--lang``): ours; for Thai also every candidate
  engine of docs/selection_protocol.md (DeepCut, AttaCut, and spaCy's own Thai tokenizer,
  PyThaiNLP's dictionary engine ``newmm``) with its speed. These figures choose nothing.

Also the most frequent disagreements left per set. Writes JSON and a markdown summary.

    python scripts/bench_tokenizer.py ../shared/ud --output reports/bench/tokenizer.json \
        --markdown reports/bench/tokenizer.md
"""
from __future__ import annotations

import csv
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import spacy
import typer
from wasabi import msg

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.conllu import read_conllu
from layer_fusion.raw_text import (
    LANGUAGES_WITHOUT_WORD_SPACES,
    evaluate_raw_text,
    sentence_text,
    token_disagreements,
)
from layer_fusion.segmenters import SCRIPT_RUNS, SEGMENTERS, SegmentingTokenizer, ThaiSegmenter, segmenting_tokenizer
from layer_fusion.targets import load_targets
from layer_fusion.tokenizer import RULES, multilingual_tokenizer

REPO = Path(__file__).resolve().parents[1]
app = typer.Typer(add_completion=False)


def evaluation_sets(ud_dir: Path, targets: Path) -> List[Dict[str, str]]:
    """Every listed evaluation set, then the manifest's extra-source test files."""
    sets = [
        {"key": t.key, "iso": t.iso, "group": t.group, "path": str(t.path(ud_dir))}
        for t in load_targets(targets).treebanks.values()
    ]
    manifest = ud_dir / "MANIFEST.tsv"
    if manifest.is_file():
        with open(manifest, encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["split"] == "test" and "extra source" in row.get("provenance", ""):
                    key = Path(row["file"]).name.split("-ud-")[0]
                    sets.append({"key": key, "iso": row["iso_code"], "group": "extra_source",
                                 "path": str(ud_dir / row["file"])})
    return [s for s in sets if Path(s["path"]).is_file()]


def f1(nlp, sentences) -> float:
    return evaluate_raw_text(nlp, sentences, tokenize_only=True).token_f1


def thai_engines(sentences, default: Tuple[str, Any, float], repeats: int = 3) -> Dict[str, Any]:
    """The Thai candidates of docs/selection_protocol.md: token F1, and speed as the median
    of ``repeats`` timed passes over the sentences' texts (segmenting only, engine loaded).
    ``default``: the engine ``--lang th`` uses, its pipeline and the token F1 already scored
    with it. A candidate whose package is missing gets the reason instead."""
    texts = [sentence_text(s)[0] for s in sentences]
    words = sum(len(s.words) for s in sentences)
    default_engine, default_nlp, default_f1 = default
    candidates = {"deepcut": None, "attacut": None, "spaCy's th (newmm)": None}
    candidates[default_engine] = default_nlp
    out: Dict[str, Any] = {}
    for name, nlp in candidates.items():
        try:
            if nlp is None:  # as --lang th runs its engine: on the Thai text, the rules on the rest
                nlp = spacy.blank("xx")
                engine = spacy.blank("th").tokenizer if name.endswith("(newmm)") else ThaiSegmenter(nlp.vocab, engine=name)
                nlp.tokenizer = SegmentingTokenizer(multilingual_tokenizer(nlp), engine, SCRIPT_RUNS["th"])
            # Scoring also loads the engine, so the timed passes below measure segmenting only.
            row = {"token_f1": default_f1 if name == default_engine else f1(nlp, sentences)}
        except ImportError as err:
            out[name] = {"unavailable": str(err)}
            continue
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for text in texts:
                nlp.tokenizer(text)
            seconds.append(time.perf_counter() - start)
        median = float(np.median(seconds))
        row.update(seconds=median, repeats=repeats, words_per_second=words / median)
        out[name] = row
    return out


def spaced_mean(rows: List[Dict], column: str) -> Optional[float]:
    values = [r[column] for r in rows if r["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES]
    return float(np.mean(values)) if values else None


@app.command()
def main(
    ud_dir: Path = typer.Argument(..., exists=True, file_okay=False),
    output: Path = typer.Option(REPO / "reports" / "bench" / "tokenizer.json", "--output"),
    markdown: Optional[Path] = typer.Option(None, "--markdown"),
    targets: Path = typer.Option(REPO / "configs" / "targets.cfg", "--targets", exists=True),
    top: int = typer.Option(5, "--top", help="Disagreements listed per set"),
):
    warnings.filterwarnings("ignore", category=UserWarning)  # empty-sentence notes of the reader
    xx = spacy.blank("xx")
    ours = spacy.blank("xx")
    ours.tokenizer = multilingual_tokenizer(ours)
    ablated = {}
    for rule in RULES:
        nlp = spacy.blank("xx")
        nlp.tokenizer = multilingual_tokenizer(nlp, without=(rule,))
        ablated[rule] = nlp
    rows = []
    for s in evaluation_sets(ud_dir, targets):
        sentences = list(read_conllu(s["path"]))
        row = {**s, "path": str(Path(s["path"]).relative_to(ud_dir)), "sentences": len(sentences),
               "xx": f1(xx, sentences), "multilingual": f1(ours, sentences),
               "without": {rule: f1(nlp, sentences) for rule, nlp in ablated.items()},
               "disagreements": [{"error": e, "count": c}
                                 for e, c in token_disagreements(ours.tokenizer, sentences, top)]}
        if s["iso"] in SEGMENTERS:
            seg = spacy.blank("xx")
            try:
                seg.tokenizer = segmenting_tokenizer(multilingual_tokenizer(seg), s["iso"])
                row["segmenter"] = f1(seg, sentences)
            except ImportError as err:
                row["segmenter_unavailable"] = str(err)
            if s["iso"] == "th" and "segmenter" in row:
                row["thai_default_engine"] = seg.tokenizer.segmenter.engine
                row["thai_engines"] = thai_engines(sentences, (seg.tokenizer.segmenter.engine, seg, row["segmenter"]))
        rows.append(row)
        msg.text(f"{s['key']:18s} xx {100 * row['xx']:5.1f}  multilingual {100 * row['multilingual']:5.1f}"
                 + (f"  segmenter {100 * row['segmenter']:5.1f}" if "segmenter" in row else ""))
    groups = {}
    for group in sorted({r["group"] for r in rows}):
        members = [r for r in rows if r["group"] == group]
        groups[group] = {
            "n_sets": len(members),
            "n_spaced": sum(r["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES for r in members),
            "xx_spaced": spaced_mean(members, "xx"),
            "multilingual_spaced": spaced_mean(members, "multilingual"),
            # Points the rule adds: mean F1 with all rules minus mean F1 without it.
            "rule_gain_spaced": {
                rule: spaced_mean(members, "multilingual")
                - spaced_mean([{**r, "w": r["without"][rule]} for r in members], "w")
                for rule in RULES
            } if any(r["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES for r in members) else {},
        }
    report = {
        "metric": "token F1, CoNLL 2018 span alignment, each sentence's # text (layer_fusion.raw_text)",
        "spaced": "mean over sets of languages written with spaces between words "
                  f"(all but {sorted(LANGUAGES_WITHOUT_WORD_SPACES)})",
        "rules": list(RULES),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "groups": groups,
        "sets": rows,
    }
    write_text_atomic(output, json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render(report))
    low = groups.get("low_resource", {})
    if low:
        msg.good(f"Low-resource targets written with spaces ({low['n_spaced']}): xx "
                 f"{100 * low['xx_spaced']:.2f}, multilingual {100 * low['multilingual_spaced']:.2f}")
    msg.good(f"Wrote {output}" + (f" and {markdown}" if markdown else ""))


def render(report: Dict) -> str:
    """The markdown summary of a report (regenerated from the JSON alone)."""
    pct = lambda x: "–" if x is None else f"{100 * x:.1f}"  # noqa: E731
    lines = ["# Tokenizer benchmark: token F1 on raw text", "",
             f"Metric: {report['metric']}. Generated by `scripts/bench_tokenizer.py`.", "",
             "## Means over sets written with spaces between words", "",
             "| group | sets | spaCy xx | multilingual | " + " | ".join(f"+{r}" for r in report["rules"]) + " |",
             "|---|--:|--:|--:|" + "--:|" * len(report["rules"])]
    for group, g in report["groups"].items():
        gains = [f"{100 * g['rule_gain_spaced'][r]:+.2f}" if g["rule_gain_spaced"] else "–" for r in report["rules"]]
        lines.append(f"| {group} | {g['n_spaced']} | {pct(g['xx_spaced'])} | {pct(g['multilingual_spaced'])} | "
                     + " | ".join(gains) + " |")
    lines += ["", "`+rule`: points of mean token F1 the rule adds (all rules against all but that one).", "",
              "## Per set", "",
              "| set | group | iso | spaCy xx | multilingual | with `--lang` | most frequent disagreements left (gold => predicted) |",
              "|---|---|---|--:|--:|--:|---|"]
    for r in report["sets"]:
        seg = pct(r["segmenter"]) if "segmenter" in r else ("not installed" if "segmenter_unavailable" in r else "")
        errs = "; ".join(f"`{d['error']}` ×{d['count']}" for d in r["disagreements"][:3])
        lines.append(f"| {r['key']} | {r['group']} | {r['iso']} | {pct(r['xx'])} | {pct(r['multilingual'])} | "
                     f"{seg} | {errs.replace('|', '&#124;')} |")
    thai = [r for r in report["sets"] if "thai_engines" in r]
    for r in thai:
        lines += ["", f"## Thai segmenters on {r['key']}", "",
                  "The candidates of `docs/selection_protocol.md`, \"The Thai word segmenter\": the default "
                  "was chosen on published BEST-2010 results, so these figures choose nothing. Speed: "
                  "segmenting every sentence's text, engine loaded, median of "
                  f"{next((e['repeats'] for e in r['thai_engines'].values() if 'repeats' in e), 3)} passes, one process, "
                  f"OMP_NUM_THREADS={report.get('omp_num_threads', 'unset')} (ONNX Runtime, which runs DeepCut, "
                  "sizes its own thread pool).", "",
                  "| engine | token F1 | words/s |", "|---|--:|--:|"]
        for name, e in r["thai_engines"].items():
            label = f"{name} (default, `--lang th`)" if name == r["thai_default_engine"] else name
            if "unavailable" in e:
                lines.append(f"| {label} | not installed | |")
            else:
                lines.append(f"| {label} | {pct(e['token_f1'])} | {e['words_per_second']:,.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()

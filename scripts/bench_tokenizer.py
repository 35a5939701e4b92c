"""Benchmark: how well tokenizers find UD's surface tokens in raw text (no tagger involved).

For every evaluation set in configs/targets.cfg and the extra-source test sets of the UD
mirror's manifest (never targets: a check on rules found on the targets), token F1
(CoNLL 2018 span alignment, layer_fusion.raw_text) of:

* spaCy's ``xx`` rules (the stock multilingual tokenizer);
* ``layer_fusion.MultilingualTokenizer.v1`` (layer_fusion/tokenizer.py), and the same
  without each of its rules in turn (what each rule is worth, per group of sets);
* for languages with a word segmenter (``--lang``): ours. The Thai candidates of
  docs/selection_protocol.md are compared by scripts/bench_thai_segmenters.py.

Also the most frequent disagreements left per set, and their kinds (gold tokens the tokenizer
splits, merges or crosses: a segmenter whose conventions are finer than the treebank's
splits). Writes JSON and a markdown summary.

    python scripts/bench_tokenizer.py ../shared/ud --output reports/bench/tokenizer.json \
        --markdown reports/bench/tokenizer.md
"""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import spacy
import typer
from wasabi import msg

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.conllu import read_conllu
from layer_fusion.raw_text import (
    LANGUAGES_WITHOUT_WORD_SPACES,
    disagreement_kinds,
    evaluate_raw_text,
    token_disagreements,
)
from layer_fusion.segmenters import SEGMENTERS, segmenting_tokenizer
from layer_fusion.targets import load_targets
from layer_fusion.tokenizer import multilingual_tokenizer
from layer_fusion.tokenizer_rules import RULES

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


def spaced_mean(rows: List[Dict], column: str) -> Optional[float]:
    values = [r[column] for r in rows if r["iso"] not in LANGUAGES_WITHOUT_WORD_SPACES]
    return float(np.mean(values)) if values else None


def _kinds(tokenizer, sentences, top: int) -> Dict:
    """``disagreement_kinds`` in JSON form."""
    kinds = disagreement_kinds(tokenizer, sentences, top)
    for kind in ("split", "merged", "other"):
        kinds[kind]["top"] = [{"error": e, "count": c} for e, c in kinds[kind]["top"]]
    return kinds


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
                                 for e, c in token_disagreements(ours.tokenizer, sentences, top)],
               "disagreement_kinds": _kinds(ours.tokenizer, sentences, top)}
        if s["iso"] in SEGMENTERS:
            seg = spacy.blank("xx")
            try:
                seg.tokenizer = segmenting_tokenizer(multilingual_tokenizer(seg), s["iso"])
                row["segmenter"] = f1(seg, sentences)
                row["segmenter_disagreement_kinds"] = _kinds(seg.tokenizer, sentences, top)
            except ImportError as err:
                row["segmenter_unavailable"] = str(err)
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
    with_lang = [r for r in report["sets"] if "segmenter_disagreement_kinds" in r]
    if with_lang:
        lines += ["", "## Kinds of disagreement with `--lang`", "",
                  "Gold tokens in stretches where the tokenizer's boundaries differ from the treebank's: "
                  "**split** (one gold token cut into several), **merged** (several gold tokens taken as one), "
                  "**other** (boundaries that cross), as % of the set's gold tokens. A segmenter whose "
                  "conventions are finer than the treebank's splits; a coarser one merges.", "",
                  "| set | token F1 | gold tokens | split | merged | other | most frequent splits | most frequent merges |",
                  "|---|--:|--:|--:|--:|--:|---|---|"]
        for r in with_lang:
            k = r["segmenter_disagreement_kinds"]
            share = lambda kind: f"{100 * k[kind]['gold_tokens'] / k['all_gold_tokens']:.1f}"  # noqa: E731
            most = lambda kind: "; ".join(f"`{d['error']}` ×{d['count']}"  # noqa: E731
                                          for d in k[kind]["top"][:3]).replace("|", "&#124;")
            lines.append(f"| {r['key']} | {pct(r['segmenter'])} | {k['all_gold_tokens']:,} | {share('split')} | "
                         f"{share('merged')} | {share('other')} | {most('split')} | {most('merged')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()

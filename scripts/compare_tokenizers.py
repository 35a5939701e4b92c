"""Check: the compact (SentencePiece-library) tokenizer against the fast (Rust) one on every
distinct word of the UD files, as written (NFC) and decomposed (NFD).

For each form: how many distinct words get other wordpieces, how many of those are ties
(the same text cut into pieces of the same total Unigram score), and the first examples.
Also the memory each tokenizer adds when loaded alone, each in a fresh process (RSS after
loading, and its peak while loading, minus the interpreter's after the imports).

    python scripts/compare_tokenizers.py training/finetuned/model-last ../shared/ud \
        --markdown reports/bench/compact_tokenizer.md
"""
from __future__ import annotations

import glob
import json
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional

import typer

app = typer.Typer(add_completion=False)

# Run in a fresh interpreter: RSS (MiB) after imports, after loading, and the peak.
_LOAD = """
import json, sys
def rss():
    d = {l.split(":")[0]: int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM"))}
    return d["VmRSS"], d["VmHWM"]
import transformers, layer_fusion.compact_tokenizer as ct
base, _ = rss()
if sys.argv[2] == "compact":
    tok = ct.load_compact(sys.argv[1])
else:
    tok = transformers.AutoTokenizer.from_pretrained(sys.argv[1], use_fast=True)
now, peak = rss()
print(json.dumps({"resident_mib": now - base, "peak_mib": peak - base}))
"""


def ud_words(ud_dir: Path) -> List[str]:
    """Distinct FORMs of the word and token lines of every .conllu file under ``ud_dir``."""
    words = set()
    for path in sorted(glob.glob(str(ud_dir / "*" / "*.conllu"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) == 10 and not line.startswith("#"):
                    words.add(cols[1])
    return sorted(words)


def compare(compact, fast, words: List[str]) -> Dict:
    ours = compact.encode_words(words)
    theirs = fast(words, add_special_tokens=False)["input_ids"]
    sp = compact.sp_model

    def score(ids):
        return sum(sp.get_score(sp.piece_to_id(p)) for p in compact.convert_ids_to_tokens(ids))

    differ, ties = [], 0
    for word, a, b in zip(words, ours, theirs):
        if a != b:
            pa, pb = compact.convert_ids_to_tokens(a), fast.convert_ids_to_tokens(b)
            tie = "".join(pa) == "".join(pb) and abs(score(a) - score(b)) < 1e-4
            ties += tie
            differ.append({"word": word, "compact": pa, "fast": pb, "tie": tie})
    examples = sorted(differ, key=lambda e: e["tie"])[:8]  # not ties first
    return {"words": len(words), "differ": len(differ), "ties": ties, "examples": examples}


def load_memory(hf_dir: Path, which: str) -> Dict:
    out = subprocess.run([sys.executable, "-c", _LOAD, str(hf_dir), which], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@app.command()
def main(
    pipeline: Path = typer.Argument(..., help="Pipeline folder with transformer/hf/"),
    ud_dir: Path = typer.Argument(..., help="UD mirror: <ud_dir>/<treebank>/*.conllu"),
    output: Optional[Path] = typer.Option(None, help="JSON results"),
    markdown: Optional[Path] = typer.Option(None, help="Markdown summary"),
):
    from transformers import AutoTokenizer

    from layer_fusion.compact_tokenizer import load_compact

    hf_dir = pipeline / "transformer" / "hf"
    compact = load_compact(hf_dir)
    if compact is None:
        raise typer.BadParameter(f"{hf_dir}: not an XLM-R SentencePiece tokenizer the compact one can load")
    fast = AutoTokenizer.from_pretrained(str(hf_dir), use_fast=True)
    words = ud_words(ud_dir)
    if not words:
        raise typer.BadParameter(f"{ud_dir}: no .conllu files under <treebank>/ folders")
    report = {"pipeline": str(pipeline), "forms": {}}
    for form in ("NFC", "NFD"):
        forms = sorted({unicodedata.normalize(form, w) for w in words})
        report["forms"][form] = compare(compact, fast, forms)
        report["forms"][form]["changed_by_form"] = len(set(forms) - set(words))
    report["memory"] = {which: load_memory(hf_dir, which) for which in ("fast", "compact")}
    lines = [f"Compact (SentencePiece) against fast (Rust) tokenizer of `{pipeline}`, every distinct word "
             f"of the UD files, each tokenized on its own (`scripts/compare_tokenizers.py`).", "",
             "| form | distinct words | other pieces | of which ties |", "|---|--:|--:|--:|"]
    for form, r in report["forms"].items():
        lines.append(f"| {form} | {r['words']:,} | {r['differ']:,} | {r['ties']:,} |")
    for form, r in report["forms"].items():
        lines += ["", f"First differences ({form}):", ""]
        lines += [f"- `{e['word']!r}`: compact {e['compact']}, fast {e['fast']}{' (tie)' if e['tie'] else ''}"
                  for e in r["examples"]]
    lines += ["", "Memory each adds when loaded alone, in a fresh process (MiB):", "",
              "| tokenizer | resident after loading | peak while loading |", "|---|--:|--:|"]
    for which, m in report["memory"].items():
        lines.append(f"| {which} | {m['resident_mib']:,} | {m['peak_mib']:,} |")
    text = "\n".join(lines) + "\n"
    if output:
        output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if markdown:
        markdown.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    app()

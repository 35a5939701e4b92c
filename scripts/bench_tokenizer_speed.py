"""Benchmark: tokenizer time against the length of one line (no tagger involved).

`layer-fusion tag` tokenizes each input line whole, so a tokenizer whose time grows faster
than the line's length makes one long line take minutes. Texts written here, each repeated to
the lengths given:

* ``maltese``: ``Il-ktieb ta' Marija ...``, word-final apostrophes on every fourth word (the
  rule ``MultilingualTokenizer`` applies after its regular expressions);
* ``english``: plain prose with commas and full stops;
* ``armenian_full_stops``: a run of ``։``, one token (split one mark at a time, as it was
  before runs of script punctuation became one token, it took time quadratic in its length);
* ``armenian_full_stops_in_a_word``: ``a։։…։b``, the run between two letters (the suffix rule
  is tried only from a run's first mark: from every mark, that was quadratic too);
* ``question_marks_in_a_word``: ``a?.?.…?.b``, a run of ``?`` and ``.`` between two letters
  (the suffix rule for runs of ``!`` ``?`` was tried from every ``?`` of it: quadratic);
* ``joined_emoji_in_a_word``: ``a😂‍😂‍…😂b``, emoji joined by ZERO WIDTH JOINER between two
  letters (the emoji-sequence suffix was tried from every emoji of the chain: quadratic);
* ``commas``: a run of ``,``, which spaCy's rules split one suffix per pass of its tokenizer
  loop, each pass searching the rest of the run: quadratic, for the stock ``xx`` rules too.

Tokenizers: spaCy's ``xx`` rules; ``layer_fusion.MultilingualTokenizer.v1``; and the same
joining word-final apostrophes with ``Doc.retokenize`` merges, as it did before
``final_apostrophes.joined_to_previous``. Median of ``--repeats`` runs, all in one process,
each starting with an empty token cache.

    python scripts/bench_tokenizer_speed.py --output reports/bench/tokenizer_speed.json \
        --markdown reports/bench/tokenizer_speed.md
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import typer
from wasabi import msg

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.final_apostrophes import APOSTROPHES, word_final_apostrophes
from layer_fusion.tokenizer import MultilingualTokenizer, multilingual_tokenizer

REPO = Path(__file__).resolve().parents[1]
app = typer.Typer(add_completion=False)



def repeated(unit: str):
    """Text of a given length: ``unit`` written again and again."""
    return lambda length: (unit * (length // len(unit) + 1))[:length]


# name -> (text of a given length, lengths)
TEXTS = {
    "maltese": (repeated("Il-ktieb ta' Marija qiegħed fuq il-mejda ta' Ġużeppi. "), [125_000, 250_000, 500_000, 1_000_000]),
    "english": (repeated("The cat sat on the mat, and the dog ran to the big house. "), [125_000, 250_000, 500_000, 1_000_000]),
    "armenian_full_stops": (repeated("։"), [1_000, 2_000, 4_000]),
    "armenian_full_stops_in_a_word": (lambda length: "a" + "։" * (length - 2) + "b", [4_000, 8_000, 16_000]),
    "question_marks_in_a_word": (lambda length: "a" + ("?." * length)[: length - 2] + "b", [4_000, 8_000, 16_000]),
    "joined_emoji_in_a_word": (lambda length: "a" + ("\U0001F602\u200d" * length)[: length - 2] + "b",
                               [4_000, 8_000, 16_000]),
    "commas": (repeated(","), [1_000, 2_000, 4_000]),
}


class RetokenizingTokenizer(MultilingualTokenizer):
    """The previous way of joining word-final apostrophes: ``Doc.retokenize`` merges."""

    def __call__(self, text):
        doc = super(MultilingualTokenizer, self).__call__(text)
        if self.final_apostrophes and any(a in text for a in APOSTROPHES):
            merges = word_final_apostrophes(doc)
            if merges:
                with doc.retokenize() as retokenizer:
                    for i in merges:
                        retokenizer.merge(doc[i - 1 : i + 1])
        return doc


def tokenizers() -> Dict[str, spacy.Language]:
    xx, ours, retokenizing = spacy.blank("xx"), spacy.blank("xx"), spacy.blank("xx")
    ours.tokenizer = multilingual_tokenizer(ours)
    rules = multilingual_tokenizer(retokenizing)
    retokenizing.tokenizer = RetokenizingTokenizer(
        retokenizing.vocab, rules=rules.rules, prefix_search=rules.prefix_search, suffix_search=rules.suffix_search,
        infix_finditer=rules.infix_finditer, token_match=rules.token_match, url_match=rules.url_match)
    return {"spaCy xx": xx, "multilingual": ours, "multilingual, Doc.retokenize merges": retokenizing}


def seconds(nlp, text: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        # spaCy caches the tokens of each whitespace-delimited chunk it has seen: every call
        # starts from an empty cache, as a new line's words would (within a call the cache
        # works as usual).
        nlp.tokenizer._flush_cache()
        start = time.perf_counter()
        nlp.tokenizer(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@app.command()
def main(
    output: Path = typer.Option(REPO / "reports" / "bench" / "tokenizer_speed.json", "--output"),
    markdown: Optional[Path] = typer.Option(None, "--markdown"),
    repeats: int = typer.Option(3, "--repeats", min=1),
):
    nlps = tokenizers()
    rows: List[Dict] = []
    for name, (make_text, lengths) in TEXTS.items():
        for length in lengths:
            text = make_text(length)
            row = {"text": name, "characters": length, "seconds": {}}
            for tokenizer, nlp in nlps.items():
                if name == "maltese" or tokenizer != "multilingual, Doc.retokenize merges":
                    row["seconds"][tokenizer] = seconds(nlp, text, repeats)
            rows.append(row)
            msg.text(f"{name:20s} {length:>9,} chars  " + "  ".join(f"{k} {v:.3f} s" for k, v in row["seconds"].items()))
    report = {"repeats": repeats, "statistic": "median seconds of one call to the tokenizer",
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "rows": rows}
    write_text_atomic(output, json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render(report))
    msg.good(f"Wrote {output}" + (f" and {markdown}" if markdown else ""))


def render(report: Dict) -> str:
    names = list(dict.fromkeys(k for r in report["rows"] for k in r["seconds"]))
    lines = [
        "# Tokenizer speed against the length of one line",
        "",
        f"Median seconds of {report['repeats']} calls, one process, each from an empty token cache, on texts written in "
        "`scripts/bench_tokenizer_speed.py` (its docstring says what each is). "
        "`×` : the time's growth when the length doubles (2 is linear). Generated by that script.",
        "",
        "| text | characters | " + " | ".join(names) + " |",
        "|---|--:|" + "--:|" * len(names),
    ]
    previous: Dict[str, Dict] = {}
    for row in report["rows"]:
        before = previous.get(row["text"])
        cells = []
        for name in names:
            value = row["seconds"].get(name)
            if value is None:
                cells.append("")
                continue
            growth = ""
            if before and before["seconds"].get(name) and row["characters"] == 2 * before["characters"]:
                growth = f" (×{value / before['seconds'][name]:.1f})"
            cells.append(f"{value:.3f}{growth}")
        lines.append(f"| {row['text']} | {row['characters']:,} | " + " | ".join(cells) + " |")
        previous[row["text"]] = row
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()

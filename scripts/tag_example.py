"""The README's example: sentences we wrote, tagged by `layer-fusion tag` as a user runs it.

    python scripts/tag_example.py training/finetuned/model-last configs/example_sentences.conllu \\
        --output reports/example_tags.json

The `# text` of each sentence of the annotation file goes, one per line, to
``layer-fusion tag PIPELINE FILE --format jsonl``, once with ``--fp32`` and once with
``--int8`` (the default scheme, without the int8 cache, so nothing is read from or written to
the user's). The JSON keeps both runs' tags beside the annotation's words, UPOS and
glosses (MISC ``Gloss=``). int8 tags depend on the CPU's vector instructions, so the int8 run
is kept under the kernels it computed with (``quantization.cpu_kernels``), beside the runs of
other CPUs that an earlier --output holds for the same sentences, words, fp32 tags and int8
scheme (the same pipeline, run on another machine). ``scripts/update_readme.py`` writes the README's
example from it.

The pipeline must cut each text into the annotation's words (the tags are compared word by
word); where it does not, the script stops and names the sentence.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import typer

REPO = Path(__file__).resolve().parents[1]


def gloss(misc: str) -> str:
    """The ``Gloss=`` of a MISC column (underscores as spaces), or ""."""
    for item in misc.split("|"):
        if item.startswith("Gloss="):
            return item[len("Gloss="):].replace("_", " ")
    return ""


def tag_lines(pipeline: str, lines: List[str], *options: str) -> List[dict]:
    """The JSONL records of ``layer-fusion tag`` on ``lines``, in a process of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "sentences.txt"
        text.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        env = {**os.environ, "LAYER_FUSION_INT8_CACHE": "off"}
        done = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "tag", pipeline, str(text),
                               "--format", "jsonl", *options], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        # The command's own error is its last line (warnings may come before it).
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no message")
        raise typer.BadParameter(f"layer-fusion tag {' '.join(options)} failed: {last.strip()}", param_hint="PIPELINE")
    return [json.loads(line) for line in done.stdout.splitlines()]


def read_earlier(output: Path) -> dict:
    """An earlier ``output`` ({} where there is none). One that is not this script's report is
    an error naming it, said before anything is tagged."""
    if not output.is_file():
        return {}
    try:
        earlier = json.loads(output.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise typer.BadParameter(f"{output}: cannot be read as an earlier report ({err}); remove it or give "
                                 "another --output", param_hint="--output") from None
    if not isinstance(earlier, dict) or not isinstance(earlier.get("int8_runs", {}), dict):
        raise typer.BadParameter(f"{output}: not a report of tag_example.py (no int8_runs object); remove it "
                                 "or give another --output", param_hint="--output")
    return earlier


def earlier_int8_runs(earlier: dict, rows: List[dict], scheme: str) -> Dict[str, List[List[str]]]:
    """The int8 runs of other CPUs in an earlier report, where its sentences (text, words,
    annotation, fp32 tags) are ``rows`` and its int8 scheme ``scheme``: else none, as they were
    made of other sentences, by another pipeline or with another scheme. A run without a tag
    per word is left out, with a warning."""
    if earlier.get("sentences") != rows or earlier.get("int8_scheme") != scheme:
        return {}
    shape = [len(r["words"]) for r in rows]
    kept = {}
    for cpu, runs in earlier.get("int8_runs", {}).items():
        if isinstance(runs, list) and [len(t) if isinstance(t, list) else -1 for t in runs] == shape:
            kept[cpu] = runs
        else:
            typer.echo(f"the earlier int8 run of {cpu} is left out: it has not a tag per word", err=True)
    return kept


def main(
    pipeline: str = typer.Argument(..., help="A pipeline folder or an installed pipeline's name"),
    sentences: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL-U: # text, FORM, UPOS, MISC Gloss="),
    output: Path = typer.Option(REPO / "reports" / "example_tags.json", "--output"),
):
    """Tag the example sentences in fp32 and int8; write both beside the annotation."""
    from layer_fusion.atomic_write import write_text_atomic
    from layer_fusion.conllu import read_conllu
    from layer_fusion.quantization import DEFAULT_SCHEME, cpu_kernels

    gold = list(read_conllu(sentences))
    for s in gold:
        if not s.text:
            raise typer.BadParameter(f"{sentences}:{s.line}: sentence without a # text line", param_hint="SENTENCES")
    texts = [s.text for s in gold]
    earlier = read_earlier(output)
    runs: Dict[str, List[dict]] = {"fp32": tag_lines(pipeline, texts, "--fp32"),
                                   "int8": tag_lines(pipeline, texts, "--int8")}
    rows = []
    for s, fp32, int8 in zip(gold, runs["fp32"], runs["int8"]):
        for name, record in (("fp32", fp32), ("int8", int8)):
            if record["tokens"] != s.words:
                raise typer.BadParameter(
                    f"{sentences}:{s.line}: the pipeline's words ({name}) are {record['tokens']}, the annotation's "
                    f"{s.words}: the tags cannot be compared word by word", param_hint="SENTENCES")
        rows.append({"text": s.text, "lang": s.meta.get("lang", ""), "words": s.words, "upos": s.upos,
                     "gloss": [gloss(m) for m in s.misc], "fp32": fp32["pos"]})
    int8_runs = earlier_int8_runs(earlier, rows, DEFAULT_SCHEME)
    int8_runs[cpu_kernels()] = [r["pos"] for r in runs["int8"]]
    report = {
        "pipeline": pipeline,
        "sentences_file": sentences.resolve().relative_to(REPO).as_posix()
        if sentences.resolve().is_relative_to(REPO) else str(sentences),
        "int8_scheme": DEFAULT_SCHEME,
        "sentences": rows,
        "int8_runs": dict(sorted(int8_runs.items())),
    }
    write_text_atomic(output, json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    typer.echo(f"wrote {output}")


if __name__ == "__main__":
    typer.run(main)

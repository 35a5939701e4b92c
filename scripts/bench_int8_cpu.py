"""Benchmark: how much the int8 encoder's tags depend on the CPU's vector instructions.

The same pipeline with the same int8 scheme can tag differently on two machines. Dynamic int8
rounds every activation to 8 (or 7) bits with a scale taken from the batch, so the last-bit
differences between two kernels' fp32 sums (AVX-512 or AVX2 vector widths, other orders of
summation) move some values across a rounding step. In fp32 the same differences seldom change
an argmax.

For each setting of --schemes (``fp32``, or a scheme of ``layer_fusion.quantization``) under
two instruction profiles, each run in a fresh process:

* ``native``: as the machine runs;
* ``avx2``: torch's own kernels, MKL and oneDNN held to AVX2 (``ATEN_CPU_CAPABILITY=avx2``,
  ``MKL_ENABLE_INSTRUCTIONS=AVX2``, ``ONEDNN_MAX_CPU_ISA=AVX2``), part of what a CPU without
  AVX-512 runs. Only part: fbgemm (torch's int8 matrix products) and ONNX Runtime choose
  their kernels from the CPU itself, which no setting lowers.

the gold words of every low-resource target (configs/targets.cfg; the first --max-sentences
sentences of each, all by default) are tagged as the evaluation tags them (wordpiece order,
one UD sentence per Doc, batches of ``EVAL_BATCH_SIZE``: ``evaluation.tag_sentences``).
The report gives, per setting and profile, the low-resource macro accuracy and the words
tagged differently from the native run of the same setting. With all sentences, the native
runs' correct words are those of ``metrics/finetuned/zero_shot.json`` (fp32) and
``metrics/finetuned_int8_<scheme>/zero_shot.json``, where those were made on this machine
(the JSON says which kernels each used: ``model.int8_cpu``).

    python scripts/bench_int8_cpu.py training/finetuned/model-last ../shared/ud \\
        --schemes fp32,per_channel,onnx_ffn_out_fp32_per_channel \\
        --output reports/bench/int8_cpu.json --markdown reports/bench/int8_cpu.md
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import typer

REPO = Path(__file__).resolve().parents[1]
PROFILES = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
app = typer.Typer(add_completion=False)


def tag_targets(model: Path, ud_dir: Path, targets: Path, scheme: str, max_sentences: Optional[int]) -> dict:
    """The predicted UPOS of every gold word of the low-resource targets, tagged as the
    evaluation tags them (``evaluation.tag_sentences``), and what the process computed with."""
    import spacy
    import torch

    from layer_fusion.evaluation import read_sentences, tag_sentences
    from layer_fusion.quantization import cpu_kernels, quantize_encoder
    from layer_fusion.targets import load_targets

    warnings.filterwarnings("ignore", message=".*quantize_per_.*deprecated")
    nlp = spacy.load(model)
    if scheme != "fp32":
        quantize_encoder(nlp, scheme=scheme)
    sets = {}
    for target in load_targets(targets).select("low_resource"):
        if not target.path(ud_dir).is_file():  # missing: left out, as the evaluation does, and listed
            continue
        sentences = read_sentences(target.path(ud_dir), max_sentences)
        tags: List[List[str]] = [[] for _ in sentences]
        for i, doc in tag_sentences(nlp, sentences):
            tags[i] = [token.pos_ for token in doc]
        sets[target.key] = {"tags": tags, "gold": [s.upos for s in sentences]}
    return {"kernels": cpu_kernels() if scheme != "fp32" else f"torch {torch.backends.cpu.get_cpu_capability()}",
            "sets": sets}


def run_profile(model: Path, ud_dir: Path, targets: Path, scheme: str, profile: str,
                max_sentences: Optional[int]) -> dict:
    """``tag_targets`` in a fresh process with the profile's environment (the dispatch
    settings are read when the libraries load)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tags.json"
        args = [sys.executable, __file__, str(model), str(ud_dir), "--targets", str(targets), "--schemes", scheme,
                "--worker-output", str(out)] + (["--max-sentences", str(max_sentences)] if max_sentences else [])
        subprocess.run(args, env={**os.environ, **PROFILES[profile]}, check=True)
        return json.loads(out.read_text(encoding="utf-8"))


def summarize(runs: Dict[str, Dict[str, dict]]) -> dict:
    """Per scheme and profile: kernels, correct words, the macro accuracy over the sets, and
    the words (and share of words) tagged differently from the scheme's native run."""
    summary = {}
    for scheme, profiles in runs.items():
        native = profiles["native"]["sets"]
        for profile, run in profiles.items():
            correct = words = changed = 0
            accuracies = []
            for key, tagged in run["sets"].items():
                pairs = [(p, g) for ps, gs in zip(tagged["tags"], tagged["gold"]) for p, g in zip(ps, gs)]
                right = sum(p == g for p, g in pairs)
                accuracies.append(right / len(pairs))
                correct, words = correct + right, words + len(pairs)
                changed += sum(a != b for x, y in zip(tagged["tags"], native[key]["tags"]) for a, b in zip(x, y))
            summary[f"{scheme}/{profile}"] = {
                "scheme": scheme, "profile": profile, "kernels": run["kernels"], "words": words,
                "correct": correct, "macro_accuracy": sum(accuracies) / len(accuracies),
                "changed_from_native": changed, "changed_share": changed / words, "sets": len(accuracies),
            }
    return summary


def render(report: dict) -> str:
    limit = report["max_sentences"]
    lines = ["# int8 tags and the CPU's vector instructions", "",
             f"`{report['pipeline']}` on the gold words of {report['sets']} low-resource targets "
             f"({'all sentences' if limit is None else f'the first {limit} sentences of each'}; "
             f"{report['words']:,} words), tagged as the evaluation tags them, each run in its own process. "
             "`avx2`: torch, MKL and oneDNN held to AVX2 (fbgemm and ONNX Runtime are not). "
             + (f"Missing, left out: {', '.join(report['missing'])}. " if report["missing"] else "")
             + "Generated by `scripts/bench_int8_cpu.py`.", "",
             "| setting | profile | kernels | correct words | macro accuracy % | words tagged differently from native |",
             "|---|---|---|--:|--:|--:|"]
    for row in report["summary"].values():
        lines.append(f"| {row['scheme']} | {row['profile']} | {row['kernels']} | {row['correct']:,} | "
                     f"{100 * row['macro_accuracy']:.2f} | {row['changed_from_native']:,} "
                     f"({100 * row['changed_share']:.2f}%) |")
    return "\n".join(lines) + "\n"


@app.command()
def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False),
    ud_dir: Path = typer.Argument(..., exists=True, file_okay=False),
    schemes: str = typer.Option("fp32,per_channel,onnx_ffn_out_fp32_per_channel", "--schemes"),
    targets: Path = typer.Option(REPO / "configs" / "targets.cfg", "--targets", exists=True, dir_okay=False),
    max_sentences: Optional[int] = typer.Option(None, "--max-sentences", min=1),
    output: Path = typer.Option(REPO / "reports" / "bench" / "int8_cpu.json", "--output"),
    markdown: Optional[Path] = typer.Option(None, "--markdown"),
    worker_output: Optional[Path] = typer.Option(None, "--worker-output", hidden=True,
                                                 help="(Internal) tag in this process, write the tags here"),
):
    """Tag the low-resource targets under each scheme and instruction profile; report how the tags move."""
    from layer_fusion.atomic_write import write_text_atomic
    from layer_fusion.quantization import SCHEMES
    from layer_fusion.targets import load_targets

    names = [s.strip() for s in schemes.split(",") if s.strip()]
    unknown = [s for s in names if s != "fp32" and s not in SCHEMES]
    if not names or unknown:
        raise typer.BadParameter(f"{', '.join(unknown) or 'none given'}: expected fp32 or one of {', '.join(SCHEMES)}",
                                 param_hint="--schemes")
    if worker_output is not None:  # one scheme, in the process run_profile started
        tags = tag_targets(model, ud_dir, targets, names[0], max_sentences)
        worker_output.write_text(json.dumps(tags), encoding="utf-8")
        return
    listed = load_targets(targets).select("low_resource")
    missing = [t.key for t in listed if not t.path(ud_dir).is_file()]
    if len(missing) == len(listed):
        raise typer.BadParameter(f"none of the {len(listed)} low-resource test files of {targets} is in {ud_dir}",
                                 param_hint="UD_DIR")
    runs: Dict[str, Dict[str, dict]] = {}
    for scheme in names:
        for profile in PROFILES:
            print(f"{scheme} / {profile}", file=sys.stderr, flush=True)
            runs.setdefault(scheme, {})[profile] = run_profile(model, ud_dir, targets, scheme, profile, max_sentences)
    summary = summarize(runs)
    first = next(iter(summary.values()))
    report = {"pipeline": str(model), "targets": str(targets), "max_sentences": max_sentences,
              "sets": first["sets"], "missing": missing, "words": first["words"], "profiles": PROFILES,
              "summary": summary}
    write_text_atomic(output, json.dumps(report, indent=1) + "\n")
    if markdown is not None:
        write_text_atomic(markdown, render(report))
    print(render(report))


if __name__ == "__main__":
    app()

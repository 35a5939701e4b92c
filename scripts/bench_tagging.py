"""Throughput and peak memory of `layer-fusion tag` on N lines of real text.

For each N in --lines, batch size in --batch-sizes and thread count in --threads, writes N lines
(the sentences' text of CONLLU, repeated as needed) to a temp file, runs
`layer-fusion tag PIPELINE FILE --output TMP --quiet --batch-size B` in a subprocess with
OMP_NUM_THREADS=T and OMP_WAIT_POLICY=PASSIVE, and reports the median over --runs of the wall
time, words/s (whitespace-separated words of the input / wall time, model loading included)
and the tagger's peak RSS. Each run is measured through its own small wrapper process, so
resource.getrusage(RUSAGE_CHILDREN).ru_maxrss is that run's peak, not the largest so far.
Prints a markdown table. Flat memory shows as about the same peak RSS for 10k and 100k lines.

    python scripts/bench_tagging.py training/model-best ../shared/ud/UD_English-EWT/en_ewt-ud-test.conllu \
        [--lines 10000,100000] [--batch-sizes 64] [--threads 1,2] [--runs 3] [--format conllu]
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

import typer

from layer_fusion.conllu import read_conllu

# Runs the command given in argv and prints its wall time and peak RSS (KiB on Linux) as JSON.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
print(json.dumps({"rc": rc, "seconds": wall,
                  "max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _ints(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def write_lines(sentences: List[str], n: int, path: Path) -> int:
    """Write n lines cycling through ``sentences``; return the number of words written."""
    words = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            line = sentences[i % len(sentences)]
            words += len(line.split())
            handle.write(line + "\n")
    return words


def measure(command: List[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
               MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], env=env,
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"`{' '.join(command)}` exited {result['rc']}: {done.stderr[-2000:]}")
    return result


def main(
    pipeline: str = typer.Argument(..., help="Pipeline folder or installed package name"),
    conllu: Path = typer.Argument(..., help="CoNLL-U file whose sentence texts are tagged", exists=True),
    lines: str = typer.Option("10000,100000", "--lines", help="Comma-separated line counts"),
    batch_sizes: str = typer.Option("64", "--batch-sizes", help="Comma-separated --batch-size values"),
    threads: str = typer.Option("1,2", "--threads", help="Comma-separated OMP_NUM_THREADS values"),
    runs: int = typer.Option(3, "--runs", min=1, help="Runs per setting; the median is reported"),
    fmt: str = typer.Option("conllu", "--format", help="Output format of `layer-fusion tag`"),
):
    """Words/s and peak RSS of `layer-fusion tag`, as a markdown table."""
    exe = shutil.which("layer-fusion")
    if exe is None:
        raise typer.BadParameter("the `layer-fusion` console script is not on PATH: pip install -e package")
    sentences = [s.text or " ".join(s.words) for s in read_conllu(conllu)]
    if not sentences:
        raise typer.BadParameter(f"{conllu} has no sentences")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tagging-") as tmp:
        for n in _ints(lines):
            src = Path(tmp) / f"lines-{n}.txt"
            words = write_lines(sentences, n, src)
            for batch in _ints(batch_sizes):
                for n_threads in _ints(threads):
                    command = [exe, "tag", pipeline, str(src), "--output", str(Path(tmp) / "out"),
                               "--format", fmt, "--batch-size", str(batch), "--quiet"]
                    results = [measure(command, n_threads) for _ in range(runs)]
                    seconds = statistics.median(r["seconds"] for r in results)
                    rss = statistics.median(r["max_rss_kib"] for r in results)
                    rows.append((n, words, batch, n_threads, seconds, words / seconds, rss / 1024))
                    print(f"lines={n} batch={batch} threads={n_threads}: {seconds:.1f} s, "
                          f"{words / seconds:.0f} words/s, {rss / 1024:.0f} MiB", file=sys.stderr)
    print(f"`layer-fusion tag {pipeline}` on {conllu.name} (median of {runs} runs; "
          "wall time includes loading the pipeline)\n")
    print("| lines | words | batch size | threads | seconds | words/s | peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, words, batch, n_threads, seconds, wps, rss in rows:
        print(f"| {n:,} | {words:,} | {batch} | {n_threads} | {seconds:.1f} | {wps:,.0f} | {rss:,.0f} |")


if __name__ == "__main__":
    typer.run(main)

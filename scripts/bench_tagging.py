"""Throughput and peak memory of `layer-fusion tag` on N lines of real text.

For each N in --lines, batch size in --batch-sizes, lookahead in --lookaheads, thread count
in --threads and encoder precision in --precisions, writes N lines (the sentences' text of
CONLLU, repeated as needed) to a temp file, runs
`layer-fusion tag PIPELINE FILE --output TMP --quiet --batch-size B [--lookahead L] --fp32|--int8`
in a subprocess with OMP_NUM_THREADS=T and OMP_WAIT_POLICY=PASSIVE, and reports the median
over --runs of the wall time, words/s (whitespace-separated words of the input / wall time,
model loading included), CPU seconds (user + system of all threads: less disturbed than wall
time when other work shares the cores), the tagger's peak RSS and its late RSS (median RSS
over the last quarter of the run: the peak is reached while the pipeline loads, so only the
late RSS shows memory growing with the input). Each run is measured through its own small
wrapper process, so resource.getrusage(RUSAGE_CHILDREN) is that run's alone: ru_maxrss is its
peak, not the largest so far. Runs are interleaved (run 1 of every setting, then run 2 of
every setting ...) so that load from other work on the machine spreads over the settings
instead of landing on one of them. Prints a markdown table. Flat memory shows as about the
same late RSS for 10k and 100k lines.

Precisions: ``fp32`` (``--fp32``); ``int8`` (``--int8`` with the int8 encoder already in
the cache, as every run after a machine's first one); ``int8-cold`` (``--int8`` with the
cache off: the encoder is exported and quantized while loading, as on a machine's first
run). The int8 runs use a cache folder of the benchmark's own, filled once before the runs.

A lookahead is a number of lines, ``<k>b`` (k times the batch size) or ``default`` (leave
--lookahead out: the CLI's default).

    python scripts/bench_tagging.py training/finetuned/model-last ../shared/ud/UD_English-EWT/en_ewt-ud-test.conllu \
        [--lines 10000,100000] [--batch-sizes 64] [--lookaheads default,1000] [--pairs 64/4b,16/1000] \
        [--threads 1,2] [--precisions fp32,int8,int8-cold] [--runs 3] [--format conllu]
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
from typing import Dict, List, Optional

import typer

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.conllu import read_conllu

# Runs the command given in argv and prints its wall time, CPU time (user + system, all threads),
# peak RSS (KiB on Linux) and the median of RSS samples (every 0.5 s, from /proc) taken over the
# last quarter of the run, as JSON. The peak is reached while the pipeline loads, so it cannot
# show growth during tagging; the late samples can.
_MEASURE = """
import json, resource, statistics, subprocess, sys, time
def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
samples = []
while child.poll() is None:
    kib = rss_kib(child.pid)
    if kib is not None:
        samples.append((time.perf_counter() - start, kib))
    time.sleep(0.5)
wall = time.perf_counter() - start
late = [kib for t, kib in samples if t >= 0.75 * wall] or [0]
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": child.returncode, "seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "max_rss_kib": usage.ru_maxrss, "late_rss_kib": statistics.median(late)}))
"""


PRECISIONS = ("fp32", "int8", "int8-cold")


def int8_cache_envs(folder: Path) -> Dict[str, Dict[str, str]]:
    """The environment each precision runs with: int8 reads its encoder from ``folder``,
    int8-cold has the cache off (layer_fusion.int8_cache)."""
    from layer_fusion.int8_cache import ENV

    return {"fp32": {}, "int8": {ENV: str(folder)}, "int8-cold": {ENV: "off"}}


def warm_int8_cache(exe: str, pipeline: str, tmp: Path, env: Dict[str, str]) -> None:
    """Tag one line with ``--int8`` (not measured), so that the int8 encoder is in the cache."""
    line = tmp / "warm-up.txt"
    line.write_text("Warm up .\n", encoding="utf-8")
    measure([exe, "tag", pipeline, str(line), "--output", str(tmp / "warm-up.out"), "--quiet", "--int8"], 1, env)


def _ints(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _lookahead(text: str, batch: int) -> Optional[int]:
    """``"default"`` -> None (the CLI's default), ``"4b"`` -> 4 * batch, ``"1000"`` -> 1000."""
    if text == "default":
        return None
    if text.endswith("b"):
        return int(text[:-1]) * batch
    return int(text)


def write_lines(sentences: List[str], n: int, path: Path) -> int:
    """Write n lines cycling through ``sentences``; return the number of words written."""
    words = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            line = sentences[i % len(sentences)]
            words += len(line.split())
            handle.write(line + "\n")
    return words


def measure(command: List[str], threads: int, env: Optional[Dict[str, str]] = None) -> dict:
    """Wall and CPU seconds, peak and late RSS of ``command`` run with ``threads`` threads
    (and ``env`` added to the environment)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
               MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **(env or {}))
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
    lookaheads: str = typer.Option(
        "default", "--lookaheads",
        help="Comma-separated --lookahead values: lines, <k>b (k x batch size) or default",
    ),
    pairs: str = typer.Option(
        "", "--pairs",
        help="Comma-separated BATCH/LOOKAHEAD pairs (e.g. 64/4b,16/1000) instead of every batch "
             "size with every lookahead",
    ),
    threads: str = typer.Option("1,2", "--threads", help="Comma-separated OMP_NUM_THREADS values"),
    precisions: str = typer.Option(
        "fp32", "--precisions", help="Comma-separated encoder precisions: fp32 (--fp32), int8 (--int8), "
                        "int8-cold (--int8, the int8 cache off: quantized at every start)"),
    runs: int = typer.Option(3, "--runs", min=1, help="Runs per setting; the median is reported"),
    fmt: str = typer.Option("conllu", "--format", help="Output format of `layer-fusion tag`"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the table's rows as JSON here"),
):
    """Words/s and peak RSS of `layer-fusion tag`, as a markdown table."""
    exe = shutil.which("layer-fusion")
    if exe is None:
        raise typer.BadParameter("the `layer-fusion` console script is not on PATH: pip install -e package")
    sentences = [s.text or " ".join(s.words) for s in read_conllu(conllu)]
    if not sentences:
        raise typer.BadParameter(f"{conllu} has no sentences")
    if pairs.strip():
        grid = [(int(b), spec.strip()) for b, spec in (x.split("/") for x in pairs.split(",") if x.strip())]
    else:
        specs = [x.strip() for x in lookaheads.split(",") if x.strip()]
        grid = [(batch, spec) for batch in _ints(batch_sizes) for spec in specs]
    kinds = [x.strip() for x in precisions.split(",") if x.strip()]
    if not kinds or any(k not in PRECISIONS for k in kinds):
        raise typer.BadParameter(f"{precisions!r}: expected some of {', '.join(PRECISIONS)}",
                                 param_hint="--precisions")
    with tempfile.TemporaryDirectory(prefix="bench-tagging-") as tmp:
        envs = int8_cache_envs(Path(tmp) / "int8-cache")
        if "int8" in kinds:
            warm_int8_cache(exe, pipeline, Path(tmp), envs["int8"])
        settings = []  # (lines, words, batch, lookahead label, threads, precision, command)
        for n in _ints(lines):
            src = Path(tmp) / f"lines-{n}.txt"
            words = write_lines(sentences, n, src)
            for batch, spec in grid:
                ahead = _lookahead(spec, batch)
                for n_threads in _ints(threads):
                    for kind in kinds:
                        command = [exe, "tag", pipeline, str(src), "--output", str(Path(tmp) / "out"),
                                   "--format", fmt, "--batch-size", str(batch), "--quiet",
                                   "--fp32" if kind == "fp32" else "--int8"]
                        if ahead is not None:
                            command += ["--lookahead", str(ahead)]
                        label = "default" if ahead is None else f"{ahead:,}"
                        settings.append((n, words, batch, label, n_threads, kind, command))
        results: List[List[dict]] = [[] for _ in settings]
        for run in range(runs):
            for (n, words, batch, label, n_threads, kind, command), done in zip(settings, results):
                r = measure(command, n_threads, envs[kind])
                done.append(r)
                print(f"run {run + 1}: lines={n} batch={batch} lookahead={label} threads={n_threads} {kind}: "
                      f"{r['seconds']:.1f} s, {words / r['seconds']:.0f} words/s, "
                      f"{r['cpu_seconds']:.0f} CPU s, peak {r['max_rss_kib'] / 1024:.0f} MiB, "
                      f"late {r['late_rss_kib'] / 1024:.0f} MiB", file=sys.stderr, flush=True)
    print(f"`layer-fusion tag {pipeline}` on {conllu.name} (median of {runs} runs, interleaved; "
          "wall time includes loading the pipeline)\n")
    print("| lines | words | batch size | lookahead | threads | encoder | seconds | words/s | CPU seconds "
          "| peak RSS (MiB) | late RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    rows = []
    for (n, words, batch, label, n_threads, kind, _), done in zip(settings, results):
        seconds = statistics.median(r["seconds"] for r in done)
        cpu = statistics.median(r["cpu_seconds"] for r in done)
        rss = statistics.median(r["max_rss_kib"] for r in done) / 1024
        late = statistics.median(r["late_rss_kib"] for r in done) / 1024
        print(f"| {n:,} | {words:,} | {batch} | {label} | {n_threads} | {kind} | {seconds:.1f} | "
              f"{words / seconds:,.0f} | {cpu:.0f} | {rss:,.0f} | {late:,.0f} |")
        rows.append({"lines": n, "words": words, "batch_size": batch, "lookahead": label, "threads": n_threads,
                     "precision": kind,
                     "seconds": seconds, "words_per_second": words / seconds, "cpu_seconds": cpu,
                     "peak_rss_mib": rss, "late_rss_mib": late})
    if json_path is not None:
        report = {"pipeline": pipeline, "source": conllu.name, "runs": runs, "rows": rows}
        write_text_atomic(json_path, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)

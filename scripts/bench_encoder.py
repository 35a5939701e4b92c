"""Benchmark the encoder build and forward-only throughput, printed as markdown tables.

    python scripts/bench_encoder.py [MODEL_DIR] [--batches 20] [--batch-size 32] [--repeats 3]

- Build: ``build_encoder(..., force=True)`` in a fresh subprocess; wall time and the child's
  own peak RSS (ru_maxrss).
- Forward: batches of UD English-EWT dev sentences (``# text =`` lines, file order or sorted
  by length with ``--order length``), padded per batch,
  ``output_hidden_states=True``, under ``torch.no_grad()``; tokenization is not timed. Every
  (threads, OMP_WAIT_POLICY) variant runs in a fresh subprocess, because OpenMP reads its
  environment once, when torch is imported.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import typer

UD_DEV = Path("/work/shared/ud/UD_English-EWT/en_ewt-ud-dev.conllu")
VARIANTS = [(1, None), (1, "PASSIVE"), (2, None), (2, "PASSIVE")]


def _child_build(out: str) -> dict:
    from layer_fusion.encoder import build_encoder

    start = time.perf_counter()
    build_encoder(Path(out), force=True)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _child_forward(model_dir: str, threads: int, batches: int, batch_size: int, repeats: int,
                   order: str) -> dict:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    texts = [line[len("# text = "):].strip() for line in UD_DEV.read_text(encoding="utf-8").splitlines()
             if line.startswith("# text = ")][: batches * batch_size]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if order == "length":
        # Length-bucketed batches, like spaCy's batch_by_padded: far less padding than file order.
        texts.sort(key=lambda t: len(tokenizer(t)["input_ids"]))
    model = AutoModel.from_pretrained(model_dir).eval()
    inputs = [tokenizer(texts[i : i + batch_size], padding=True, truncation=True, return_tensors="pt")
              for i in range(0, len(texts), batch_size)]
    real_tokens = sum(int(b["attention_mask"].sum()) for b in inputs)
    padded_tokens = sum(b["attention_mask"].numel() for b in inputs)
    rates = []
    with torch.no_grad():
        model(**inputs[0], output_hidden_states=True)  # warm-up: allocator and thread pool
        for _ in range(repeats):
            start = time.perf_counter()
            for batch in inputs:
                model(**batch, output_hidden_states=True)
            rates.append(len(texts) / (time.perf_counter() - start))
    return {"rates": rates, "sentences": len(texts), "tokens_per_sentence": real_tokens / len(texts),
            "padded_per_sentence": padded_tokens / len(texts),
            "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _run_child(args: list, env_updates: dict) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    env.update({k: v for k, v in env_updates.items() if v is not None})
    proc = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(
    model_dir: Path = typer.Argument(Path("assets/encoders/multilingual-e5-small"), help="Built encoder folder"),
    batches: int = typer.Option(20, help="Batches per timed pass"),
    batch_size: int = typer.Option(32, help="Sentences per batch"),
    repeats: int = typer.Option(3, help="Timed passes per variant (median is reported)"),
    order: str = typer.Option("file", help="Batch sentences in 'file' order or sorted by 'length'"),
    skip_build: bool = typer.Option(False, "--skip-build", help="Only run the forward benchmark"),
    child: Optional[str] = typer.Option(None, hidden=True),
    threads: int = typer.Option(1, hidden=True),
) -> None:
    """Print build time / peak RSS and forward-only sentences/s for torch threads 1 and 2."""
    if child == "build":
        print(json.dumps(_child_build(str(model_dir))))
        return
    if child == "forward":
        print(json.dumps(_child_forward(str(model_dir), threads, batches, batch_size, repeats, order)))
        return

    print(f"load average before: {os.getloadavg()[0]:.2f}, cores: {os.cpu_count()}")
    if not skip_build:
        with tempfile.TemporaryDirectory(dir=model_dir.parent) as tmp:
            build = _run_child([str(Path(tmp) / "e5"), "--child", "build"], {"OMP_NUM_THREADS": "1"})
        print("\n| build | seconds | peak RSS |\n|---|---|---|")
        print(f"| build_encoder (force) | {build['seconds']:.1f} | {build['peak_rss_kb'] / 2**20:.2f} GiB |")

    print(f"\nForward only, output_hidden_states=True, {batches} batches x {batch_size} UD EWT dev "
          f"sentences in {order} order, median of {repeats}:\n")
    print("| torch threads | OMP_WAIT_POLICY | sent/s (median) | all runs | peak RSS |\n|---|---|---|---|---|")
    for n_threads, wait in VARIANTS:
        res = _run_child([str(model_dir), "--child", "forward", "--threads", str(n_threads),
                          "--batches", str(batches), "--batch-size", str(batch_size), "--repeats", str(repeats),
                          "--order", order],
                         {"OMP_NUM_THREADS": str(n_threads), "OMP_WAIT_POLICY": wait})
        runs = ", ".join(f"{r:.0f}" for r in res["rates"])
        print(f"| {n_threads} | {wait or 'default'} | {statistics.median(res['rates']):.1f} | {runs} | "
              f"{res['peak_rss_kb'] / 2**20:.2f} GiB |")
    print(f"\n{res['tokens_per_sentence']:.1f} real and {res['padded_per_sentence']:.1f} padded subword tokens "
          f"per sentence (incl. <s></s>); "
          f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    typer.run(main)

"""Benchmark: what does fusion cost against LastLayer on the same transformer?

For each variant, in its own subprocess (so peak RSS is its own), on the same
2,000 English sentences (EWT dev, length-sorted batches of 64):
  - tagging throughput, words/s (nlp.pipe, transformer + fusion + tagger);
  - peak RSS of the process;
  - time per training step in the config's regime (configs/aif.cfg: encoder frozen by
    its [initialize.after_init] callback; batches of ~1000 padded tokens), steps 3..N.
Variants run round-robin, ``--rounds`` times, and medians are reported, so slow
drift of a noisy machine hits every variant alike.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python scripts/bench_fusion.py
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from layer_fusion.fusion import fusion_block

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "LastLayer": ([-1], fusion_block("LastLayer")),
    "DLFA": ([6, -1], fusion_block("DLFA")),
    "AIF": ([6, -1], fusion_block("AIF")),
    "ScalarMix": (list(range(13)), fusion_block("ScalarMix")),
    "LayerAttention": (list(range(13)), fusion_block("LayerAttention")),
}


def worker(variant: str, encoder: Path, conllu: Path, n_sentences: int, train_steps: int, width: int,
           grad_factor: float) -> dict:
    import random

    import spacy
    from spacy.training import Example
    from spacy.util import registry

    from layer_fusion.conllu import read_conllu

    layers, fusion = VARIANTS[variant]
    if width != 384:  # tiny models: keep layer indices in range
        layers = [k for k in layers if k < 4] if len(layers) > 2 else [1, -1] if len(layers) == 2 else layers
    config = spacy.util.load_config(REPO / "configs" / "aif.cfg")
    config["paths"]["encoder"] = str(encoder)
    tok2vec = config["components"]["morphologizer"]["model"]["tok2vec"]
    tok2vec.update(layers=layers, fusion=fusion, width=width, grad_factor=grad_factor)
    nlp = spacy.util.load_model_from_config(config.interpolate(), auto_fill=True)
    sentences = [s for _, s in zip(range(n_sentences), read_conllu(conllu))]
    examples = [Example(s.to_doc(nlp.vocab), s.to_doc(nlp.vocab, with_upos=True)) for s in sentences]
    optimizer = nlp.initialize(lambda: examples[:200])  # runs the config's freeze callback
    docs = sorted((s.to_doc(nlp.vocab) for s in sentences), key=len)
    words = sum(len(d) for d in docs)
    start = time.perf_counter()
    for _ in nlp.pipe(docs, batch_size=64):
        pass
    words_per_second = words / (time.perf_counter() - start)
    batcher = registry.batchers.get("spacy.batch_by_padded.v1")(size=1000, buffer=256, discard_oversize=False)
    random.Random(0).shuffle(examples)
    step_times = []
    for batch in list(batcher(examples))[:train_steps]:
        t = time.perf_counter()
        nlp.update(batch, sgd=optimizer, drop=0.1)
        step_times.append(time.perf_counter() - t)
    return {
        "variant": variant,
        "words_per_second": words_per_second,
        "step_seconds": statistics.median(step_times[2:]) if len(step_times) > 2 else float("nan"),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
    }


def main(
    encoder: Path = typer.Option(REPO / "assets/encoders/multilingual-e5-small"),
    conllu: Path = typer.Option(REPO.parent / "shared/ud/UD_English-EWT/en_ewt-ud-dev.conllu"),
    sentences: int = typer.Option(2000),
    train_steps: int = typer.Option(12),
    rounds: int = typer.Option(3),
    width: int = typer.Option(384),
    variants: Optional[List[str]] = typer.Option(None),
    grad_factors: List[float] = typer.Option([1.0], help="FusionListener grad_factor values to compare"),
    worker_variant: Optional[str] = typer.Option(None, hidden=True),
    grad_factor: float = typer.Option(1.0, hidden=True),
):
    if worker_variant:
        print(json.dumps(worker(worker_variant, encoder, conllu, sentences, train_steps, width, grad_factor)))
        return
    chosen = [(v, g) for v in (variants or list(VARIANTS)) for g in grad_factors]
    results = {c: [] for c in chosen}
    for r in range(rounds):
        for v, g in chosen:
            out = subprocess.run(
                [sys.executable, __file__, "--worker-variant", v, "--encoder", str(encoder), "--conllu", str(conllu),
                 "--sentences", str(sentences), "--train-steps", str(train_steps), "--width", str(width),
                 "--grad-factor", str(g)],
                capture_output=True, text=True, env=os.environ.copy(),
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            results[(v, g)].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {v} grad_factor {g}: {results[(v, g)][-1]}", file=sys.stderr)
    base = {k: statistics.median(x[k] for x in results[chosen[0]]) for k in ("words_per_second", "step_seconds")}
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; {sentences} sentences; medians of {rounds} rounds\n")
    print(f"| variant | grad_factor | tagging words/s | vs {chosen[0][0]} | train step (s) | vs {chosen[0][0]} | peak RSS (GB) |")
    print("|---|---|---|---|---|---|---|")
    for v, g in chosen:
        wps = statistics.median(x["words_per_second"] for x in results[(v, g)])
        step = statistics.median(x["step_seconds"] for x in results[(v, g)])
        rss = statistics.median(x["peak_rss_gb"] for x in results[(v, g)])
        print(f"| {v} | {g:g} | {wps:,.0f} | {100 * (base['words_per_second'] / wps - 1):+.1f}% time | "
              f"{step:.2f} | {100 * (step / base['step_seconds'] - 1):+.1f}% | {rss:.2f} |")


if __name__ == "__main__":
    typer.run(main)

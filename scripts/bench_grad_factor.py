"""Benchmark: training-step time with grad_factor 1 vs 0 on a frozen encoder, in one process.

Both pipelines (configs/aif.cfg with the given fusion and layers; the encoder frozen by the
config's callback) train on the same batches of EWT dev, and their steps alternate, so load
on a shared machine hits both alike. Prints the median step time of each and their ratio;
the trained weights are the same either way (tests/test_pipeline.py).

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python scripts/bench_grad_factor.py [--fusion AIF] [--steps 40]
"""
import contextlib
import random
import statistics
import sys
import time
from pathlib import Path
from typing import List

import spacy
import typer
from spacy.training import Example
from spacy.util import registry

from layer_fusion.conllu import read_conllu
from layer_fusion.fusion import fusion_block

REPO = Path(__file__).resolve().parents[1]
FUSIONS = {
    "LastLayer": ([-1], fusion_block("LastLayer")),
    "AIF": ([5, -1], fusion_block("AIF")),
    "ScalarMix": (list(range(13)), fusion_block("ScalarMix")),
}


def pipeline(encoder: Path, fusion: str, grad_factor: float, examples: List[Example]):
    layers, block = FUSIONS[fusion]
    config = spacy.util.load_config(REPO / "configs" / "aif.cfg")
    config["paths"]["encoder"] = str(encoder)
    config["components"]["morphologizer"]["model"]["tok2vec"].update(layers=layers, fusion=block, grad_factor=grad_factor)
    nlp = spacy.util.load_model_from_config(config.interpolate(), auto_fill=True)
    optimizer = nlp.initialize(lambda: examples[:200])
    return nlp, optimizer


def main(
    fusion: str = typer.Option("AIF"),
    steps: int = typer.Option(40),
    encoder: Path = typer.Option(REPO / "assets/encoders/multilingual-e5-small"),
    conllu: Path = typer.Option(REPO.parent / "shared/ud/UD_English-EWT/en_ewt-ud-dev.conllu"),
):
    sentences = list(read_conllu(conllu))
    vocab = spacy.blank("xx").vocab
    examples = [Example(s.to_doc(vocab), s.to_doc(vocab, with_upos=True))
                for s in sentences]
    random.Random(0).shuffle(examples)
    batches = list(registry.batchers.get("spacy.batch_by_padded.v1")(size=1000, buffer=256, discard_oversize=False)(examples))
    with contextlib.redirect_stdout(sys.stderr):  # set-up messages stay out of the table on stdout
        runs = {g: pipeline(encoder, fusion, g, examples) for g in (1.0, 0.0)}
    times = {g: [] for g in runs}
    for i in range(steps + 2):
        for g, (nlp, optimizer) in runs.items():
            batch = batches[i % len(batches)]
            start = time.perf_counter()
            nlp.update(batch, sgd=optimizer, drop=0.1)
            if i >= 2:  # the first steps warm up allocators and caches
                times[g].append(time.perf_counter() - start)
    one, zero = statistics.median(times[1.0]), statistics.median(times[0.0])
    print(f"{fusion}, frozen encoder, {steps} alternating steps of ~1000 padded tokens each")
    print("| grad_factor | median step (s) |\n|---|---|")
    print(f"| 1.0 | {one:.3f} |\n| 0.0 | {zero:.3f} |")
    print(f"\ngrad_factor 0 takes {100 * (zero / one - 1):+.1f}% time per step")


if __name__ == "__main__":
    typer.run(main)

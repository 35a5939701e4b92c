"""Benchmark: one fine-tuning step in the spaCy path against the same step in plain torch.

Both sides get the same batches (length-sorted EWT train sentences, ~32 a step), the
same frozen parameters (word embeddings; with --bottom-layers k also the embedding
block and layers 0..k-1), dropout 0.1, and an Adam-family optimizer. The spaCy side
is `nlp.update` on a pipeline built from configs/finetune.cfg (TransformerModel.v2,
FusionListener, LastLayer, tagger); the torch side is the Hugging Face model, the
mean of each word's subwords (words pre-split) and a linear head, with torch AdamW.
Steps alternate between the two sides, so machine noise hits both alike. Prints the
median seconds per step and the ratio; writes them as JSON with --output.

    python scripts/bench_finetune_step.py configs/finetune.cfg corpus/train.spacy \
        --bottom-layers 0 --bottom-layers 6 --steps 12 --output reports/bench/finetune_step.json
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
import typer
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config, registry
from transformers import AutoModel, AutoTokenizer

from layer_fusion.atomic_write import write_text_atomic

app = typer.Typer(add_completion=False)


def sorted_batches(nlp, train: Path, n_batches: int, size: int, seed: int = 0) -> List[List[Example]]:
    docs = list(DocBin().from_disk(train).get_docs(nlp.vocab))
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_batches):
        start = int(rng.integers(0, len(order) - size))
        batch = [docs[i] for i in order[start:start + size]]
        batches.append([Example(Doc(nlp.vocab, words=[t.text for t in d],
                                    spaces=[bool(t.whitespace_) for t in d]), d) for d in batch])
    return batches


class TorchTagger(torch.nn.Module):
    """Plain-torch reference: encoder -> last hidden state -> mean over each word's
    subwords -> linear head."""

    def __init__(self, encoder_dir: str, n_tags: int, bottom_layers: int):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_dir)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_tags)
        frozen = ("embeddings.word_embeddings",) if bottom_layers == 0 else \
            ("embeddings.",) + tuple(f"encoder.layer.{i}." for i in range(bottom_layers))
        for name, p in self.encoder.named_parameters():
            p.requires_grad_(not any(f in name for f in frozen))

    def forward(self, encoding, rows, cols, word_ids, n_words):
        h = self.encoder(**encoding).last_hidden_state
        summed = torch.zeros(n_words, h.shape[-1]).index_add_(0, word_ids, h[rows, cols])
        count = torch.zeros(n_words).index_add_(0, word_ids, torch.ones(len(word_ids))).clamp(min=1)
        return self.head(summed / count[:, None])


def torch_inputs(tokenizer, batch: List[Example], tag_ids):
    words = [[t.text for t in eg.reference] for eg in batch]
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt", padding=True)
    rows, cols, wids, labels, offset = [], [], [], [], 0
    for i, eg in enumerate(batch):
        for j, w in enumerate(enc.word_ids(i)):
            if w is not None:
                rows.append(i), cols.append(j), wids.append(offset + w)
        labels += [tag_ids[t.pos_] for t in eg.reference]
        offset += len(eg.reference)
    return enc, torch.tensor(rows), torch.tensor(cols), torch.tensor(wids), torch.tensor(labels), offset


@app.command()
def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    train: Path = typer.Argument(..., exists=True, dir_okay=False),
    encoder: str = typer.Option("assets/encoders/multilingual-e5-small", "--encoder"),
    bottom_layers: List[int] = typer.Option([0], "--bottom-layers"),
    steps: int = typer.Option(12, "--steps", min=2),
    batch_sentences: int = typer.Option(32, "--batch-sentences", min=1),
    output: Optional[Path] = typer.Option(None, "--output"),
):
    """Median seconds per step, spaCy path vs plain torch, alternating on the same batches."""
    results = []
    for k in bottom_layers:
        config = load_config(config_path, overrides={
            "paths.train": str(train), "paths.dev": str(train), "paths.encoder": encoder,
            "initialize.after_init.bottom_layers": k,
        })
        nlp = init_nlp(config)
        optimizer = registry.resolve(config.interpolate()["training"])["optimizer"]
        batches = sorted_batches(nlp, train, steps + 2, batch_sentences)
        tags = sorted({t.pos_ for b in batches for eg in b for t in eg.reference} | set(
            nlp.get_pipe("morphologizer").labels))
        tag_ids = {t: i for i, t in enumerate(tags)}
        reference = TorchTagger(encoder, len(tags), k)
        reference.train()
        adamw = torch.optim.AdamW([p for p in reference.parameters() if p.requires_grad], lr=5e-5, weight_decay=0.01)
        tokenizer = AutoTokenizer.from_pretrained(encoder)
        spacy_times, torch_times = [], []
        for step, batch in enumerate(batches):
            t0 = time.perf_counter()
            nlp.update(batch, sgd=optimizer, drop=0.1)
            t1 = time.perf_counter()
            enc, rows, cols, wids, labels, n = torch_inputs(tokenizer, batch, tag_ids)
            loss = torch.nn.functional.cross_entropy(reference(enc, rows, cols, wids, n), labels)
            adamw.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
            adamw.step()
            t2 = time.perf_counter()
            if step >= 2:  # the first steps warm up allocators and Adam state
                spacy_times.append(t1 - t0)
                torch_times.append(t2 - t1)
        row = {
            "bottom_layers": k,
            "steps": len(spacy_times),
            "spacy_s_per_step": round(statistics.median(spacy_times), 3),
            "torch_s_per_step": round(statistics.median(torch_times), 3),
        }
        row["ratio"] = round(row["spacy_s_per_step"] / row["torch_s_per_step"], 2)
        typer.echo(json.dumps(row))
        results.append(row)
    report = {
        "benchmark": "fine-tuning step, spaCy path vs plain torch (alternating, same batches)",
        "config": str(config_path), "batch_sentences": batch_sentences,
        "threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "results": results,
    }
    if output:
        write_text_atomic(output, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    app()

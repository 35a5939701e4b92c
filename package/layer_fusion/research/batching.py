"""Length-bucketed batches of sentence indices (numpy only: the torch-only fine-tuning
path imports it on machines without spaCy)."""
from typing import List, Sequence

import numpy


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, rng: numpy.random.Generator,
                            chunk_batches: int = 50) -> List[List[int]]:
    """One epoch of batches with little padding: the sentences are shuffled, sorted by
    length within chunks of ``chunk_batches`` batches, cut into batches of ``batch_size``,
    and the batches shuffled. The same ``rng`` state gives the same batches."""
    perm = rng.permutation(len(lengths))
    chunk = batch_size * chunk_batches
    batches = []
    for c in range(0, len(perm), chunk):
        part = sorted(perm[c : c + chunk], key=lambda i: lengths[i])
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches

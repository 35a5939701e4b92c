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


def padded_word_batches(lengths: Sequence[int], max_padded_words: int, rng: numpy.random.Generator,
                        buffer: int = 256) -> List[List[int]]:
    """One epoch of batches like ``spacy.batch_by_padded.v1``: the sentences are shuffled,
    sorted by length within buffers of ``buffer`` sentences, and cut into batches whose
    padded size (sentences x longest length) stays within ``max_padded_words`` (a longer
    sentence gets a batch of its own); then the batches are shuffled."""
    perm = rng.permutation(len(lengths))
    batches: List[List[int]] = []
    for c in range(0, len(perm), buffer):
        batch: List[int] = []
        for i in sorted(perm[c : c + buffer], key=lambda i: lengths[i]):
            # Sorted ascending, so the newcomer is the batch's longest sentence.
            if batch and (len(batch) + 1) * lengths[i] > max_padded_words:
                batches.append(batch)
                batch = []
            batch.append(int(i))
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches

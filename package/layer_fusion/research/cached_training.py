"""Train and evaluate fusion heads on cached hidden states (frozen encoder).

A head is exactly what sits on a frozen transformer in a spaCy pipeline built by
``layer_fusion.FusionListener.v1`` + ``spacy.Tagger.v2``: the fusion module over the
selected layers, then a linear softmax layer over the 17 UPOS tags,

    p(tag | token t) = softmax(W y_t + b),   y_t = fusion(x_t^(k_1..k_n))

trained with cross-entropy and Adam. Model selection uses English dev only: the
epoch with the best dev accuracy is kept. ``head_export`` puts a trained head into
a spaCy pipeline, and its tests check that both paths tag alike.
"""
import contextlib
import copy
import functools
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import torch
from torch import nn

from .. import fusion as modules
from ..evaluation import TreebankResult
from ..layers.fusion_layer import pad_stack
from .batching import length_bucketed_batches
from .fusion_head import FusionHead, HeadSettings, layer_weights
from .hidden_cache import HiddenStateCache

def _batch(cache_layers: numpy.ndarray, offsets: numpy.ndarray, idx: Sequence[int]):
    """Pad sentences ``idx`` of a (n_tokens, n, H) array into (B, T, n, H) + mask."""
    sentences = [cache_layers[offsets[i] : offsets[i + 1]] for i in idx]
    x, mask, lengths = pad_stack(sentences, dtype=numpy.float32)
    return torch.from_numpy(x), torch.from_numpy(mask), lengths


def selected_layers(cache: HiddenStateCache, layers: Sequence[int]) -> numpy.ndarray:
    """The cache's selected hidden states, in RAM as float16: (n_tokens, n, H)."""
    return numpy.ascontiguousarray(cache.features[:, list(layers)])


# Heads train and predict on one torch thread, whatever OMP_NUM_THREADS says: the float
# reductions of some fusions (AIF) round differently with 2 threads, and after a few epochs
# English dev differs by ~0.1 point, enough to change a close choice of k*. Pinned, a rerun
# reproduces every run exactly (small heads lose little speed on one thread).
HEAD_THREADS = 1


@contextlib.contextmanager
def torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pinned_threads(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with torch_threads(HEAD_THREADS):
            return func(*args, **kwargs)

    return wrapper


@_pinned_threads
def predict(head: FusionHead, cache: HiddenStateCache, batch_sentences: int = 128,
            layers_in_ram: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """Predicted UPOS index per cached token: (n_tokens,)."""
    head.eval()
    feats = layers_in_ram if layers_in_ram is not None else selected_layers(cache, head.layers)
    order = numpy.argsort(cache.sentence_lengths(), kind="stable")
    out = numpy.zeros(len(cache.labels), dtype=numpy.int16)
    with torch.no_grad():
        for b in range(0, len(order), batch_sentences):
            idx = order[b : b + batch_sentences]
            x, mask, lengths = _batch(feats, cache.offsets, idx)
            pred = head(x, mask).argmax(-1).numpy()
            for j, (i, n) in enumerate(zip(idx, lengths)):
                out[cache.offsets[i] : cache.offsets[i] + n] = pred[j, :n]
    return out


def treebank_result(cache: HiddenStateCache, predictions: numpy.ndarray, name: str,
                    n_resamples: int = 1000, seed: int = 0) -> TreebankResult:
    """Per-sentence word and correct counts -> TreebankResult (same CIs as the spaCy path)."""
    correct_tokens = (predictions == cache.labels).astype(numpy.int64)
    sums = numpy.add.reduceat(correct_tokens, cache.offsets[:-1]) if len(correct_tokens) else []
    lengths = cache.sentence_lengths()
    sums = numpy.where(lengths > 0, sums, 0)
    genres = cache.meta.get("genres")
    result = TreebankResult(
        name=name, sent_words=lengths, sent_correct=sums, n_resamples=n_resamples, seed=seed,
        sent_genres=genres if genres and any(g is not None for g in genres) else None,
    )
    return result.compute_ci()


def accuracy(cache: HiddenStateCache, predictions: numpy.ndarray) -> float:
    return float((predictions == cache.labels).mean())


@_pinned_threads
def train_head(
    settings: HeadSettings,
    train: HiddenStateCache,
    dev: HiddenStateCache,
    log=print,
) -> Tuple[FusionHead, Dict]:
    """Train a head on ``train``; keep the epoch with the best English-dev accuracy.

    Returns the best head and a history dict (dev accuracy per epoch, seconds).
    """
    torch.manual_seed(settings.seed)
    rng = numpy.random.default_rng(settings.seed)
    head = FusionHead(settings, train.n_hidden_states, train.width)
    optimizer = torch.optim.Adam(head.parameters(), lr=settings.learn_rate,
                                 weight_decay=settings.weight_decay)
    train_feats = selected_layers(train, head.layers)
    dev_feats = selected_layers(dev, head.layers)
    labels = torch.from_numpy(train.labels.astype(numpy.int64))
    history = {"dev_accuracy": [], "seconds": 0.0}
    best, best_acc = None, -1.0
    start = time.perf_counter()
    lengths = train.sentence_lengths()
    for epoch in range(settings.epochs):
        head.train()
        for idx in length_bucketed_batches(lengths, settings.batch_sentences, rng):
            x, mask, lens = _batch(train_feats, train.offsets, idx)
            gold = torch.zeros(mask.shape, dtype=torch.long)
            for j, (i, n) in enumerate(zip(idx, lens)):
                gold[j, :n] = labels[train.offsets[i] : train.offsets[i] + n]
            logits = head(x, mask)
            loss = nn.functional.cross_entropy(logits[mask], gold[mask])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        dev_acc = accuracy(dev, predict(head, dev, layers_in_ram=dev_feats))
        history["dev_accuracy"].append(dev_acc)
        log(f"{settings.name()} epoch {epoch + 1}/{settings.epochs}: dev {dev_acc:.4f}")
        if dev_acc > best_acc:
            best_acc, best = dev_acc, copy.deepcopy(head.state_dict())
    head.load_state_dict(best)
    history["best_epoch"] = int(numpy.argmax(history["dev_accuracy"])) + 1
    history["best_dev_accuracy"] = best_acc
    history["seconds"] = round(time.perf_counter() - start, 2)
    return head, history


def mean_layer_weights(head: FusionHead, cache: HiddenStateCache, max_sentences: int = 500) -> Optional[List[float]]:
    """Mean weight per selected layer on (the first ``max_sentences``) cached sentences:
    AIF's M (and 1 - M), DLFA's g (and 1 - g), LayerAttention's a, ScalarMix's s."""
    if isinstance(head.fusion, modules.LastLayer):
        return None
    n = min(max_sentences, cache.n_sentences)
    feats = numpy.asarray(cache.features[: cache.offsets[n], head.layers])
    x, mask, _ = _batch(feats, cache.offsets[: n + 1], list(range(n)))
    return layer_weights(head, x, mask)

"""Train and evaluate fusion heads on cached hidden states (frozen encoder).

A head is exactly what sits on a frozen transformer in a spaCy pipeline built by
``layer_fusion.FusionListener.v1`` + ``spacy.Tagger.v2``: the fusion module over the
selected layers, then a linear softmax layer over the 17 UPOS tags,

    p(tag | token t) = softmax(W y_t + b),   y_t = fusion(x_t^(k_1..k_n))

trained with summed cross-entropy and the frozen spaCy configs' optimiser
(``HeadSettings``). Model selection uses English dev only: training stops when dev has
not improved for a few epochs, and the epoch with the best dev accuracy is kept.
``head_export`` puts a trained head into a spaCy pipeline, and its tests check that both
paths tag alike.
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
from .batching import padded_word_batches
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


def clip_each_gradient(parameters, max_norm: float) -> None:
    """Scale each parameter array's gradient to norm <= ``max_norm`` (thinc clips per array,
    unlike ``torch.nn.utils.clip_grad_norm_``, which clips their joint norm)."""
    for p in parameters:
        if p.grad is not None:
            norm = float(p.grad.norm())
            if norm >= max_norm:
                p.grad.mul_(max_norm / norm)


@_pinned_threads
def train_head(
    settings: HeadSettings,
    train: HiddenStateCache,
    dev: HiddenStateCache,
    log=print,
) -> Tuple[FusionHead, Dict]:
    """Train a head on ``train`` with the optimiser of ``HeadSettings``; evaluate English
    dev after every epoch, stop after ``settings.patience`` epochs without a better one (or
    after ``settings.epochs``), and keep the best epoch.

    Returns the best head and a history dict: dev accuracy per epoch, the best epoch, the
    epochs run, whether the best is the last allowed epoch (then the run may not have
    converged), and seconds.
    """
    torch.manual_seed(settings.seed)
    rng = numpy.random.default_rng(settings.seed)
    head = FusionHead(settings, train.n_hidden_states, train.width)
    optimizer = torch.optim.Adam(head.parameters(), lr=settings.learn_rate, betas=(0.9, 0.999), eps=1e-8,
                                 weight_decay=settings.weight_decay, decoupled_weight_decay=True)
    train_feats = selected_layers(train, head.layers)
    dev_feats = selected_layers(dev, head.layers)
    labels = torch.from_numpy(train.labels.astype(numpy.int64))
    history = {"dev_accuracy": [], "seconds": 0.0}
    best, best_acc, best_epoch = None, -1.0, 0
    start = time.perf_counter()
    lengths = train.sentence_lengths()
    for epoch in range(1, settings.epochs + 1):
        head.train()
        for idx in padded_word_batches(lengths, settings.batch_words, rng):
            x, mask, lens = _batch(train_feats, train.offsets, idx)
            gold = torch.zeros(mask.shape, dtype=torch.long)
            for j, (i, n) in enumerate(zip(idx, lens)):
                gold[j, :n] = labels[train.offsets[i] : train.offsets[i] + n]
            logits = head(x, mask)
            loss = nn.functional.cross_entropy(logits[mask], gold[mask], reduction="sum")
            optimizer.zero_grad()
            loss.backward()
            clip_each_gradient(head.parameters(), settings.grad_clip)
            optimizer.step()
        dev_acc = accuracy(dev, predict(head, dev, layers_in_ram=dev_feats))
        history["dev_accuracy"].append(dev_acc)
        log(f"{settings.name()} epoch {epoch}/{settings.epochs}: dev {dev_acc:.4f}")
        if dev_acc > best_acc:
            best_acc, best_epoch, best = dev_acc, epoch, copy.deepcopy(head.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    head.load_state_dict(best)
    history["best_epoch"] = best_epoch
    history["best_dev_accuracy"] = best_acc
    history["epochs_run"] = len(history["dev_accuracy"])
    history["max_epochs"] = settings.epochs
    history["patience"] = settings.patience
    history["peaked_at_last_allowed_epoch"] = best_epoch == settings.epochs
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

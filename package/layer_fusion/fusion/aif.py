import torch
from torch import nn


class _Bottleneck(nn.Module):
    """Two point-wise linear maps: compress H -> H/r, then expand H/r -> n_out.

        B(z) = W_2 ReLU(LN(W_1 z + b_1)) + b_2
    """

    def __init__(self, width: int, hidden: int, n_out: int):
        super().__init__()
        self.compress = nn.Linear(width, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.expand = nn.Linear(hidden, n_out)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.expand(torch.relu(self.norm(self.compress(z))))


class AIF(nn.Module):
    """Attentional information fusion with a global and a local branch.

    Following the paper's description (global and local information from two
    branches, multiplied element-wise with the features) and the multi-scale
    channel attention of Dai et al., "Attentional Feature Fusion" (WACV 2021),
    with tokens in place of pixels and LayerNorm in place of BatchNorm (batches of
    sentences are small and ragged):

        X_t   = sum_k x_t^(k)                                    initial integration
        G     = B_g( (1/T) sum_{t in doc} X_t )                  global branch, one per doc
        L_t   = B_l( X_t )                                       local branch, per token
        M_t   = sigmoid(G + L_t)                                 (H,) weights
        y_t   = M_t * x_t^(a) + (1 - M_t) * x_t^(b)              two layers [a, b]

    For n > 2 layers both branches output n*H logits and the weights are a softmax
    over layers, feature by feature: y_t = sum_k softmax_k(G + L_t)_k * x_t^(k)
    (for n = 2 this is the sigmoid form above, up to a shift of the logits).
    Padding tokens are excluded from the global mean. Parameters: about
    2 (H * H/r + H/r * n_out), n_out = H for n = 2 and n H otherwise (biases and
    LayerNorm aside).
    """

    min_layers = 2
    max_layers = None
    mixture_measure = "mean AIF weight over sample tokens and features"
    mixture_reads_inputs = True

    def __init__(self, n_layers: int, width: int, reduction: int = 4):
        super().__init__()
        if reduction < 1 or width % reduction:
            raise ValueError(
                f"AIF: reduction={reduction} must be >= 1 and divide width={width}"
            )
        self.n_layers = n_layers
        self.width = width
        n_out = width if n_layers == 2 else n_layers * width
        hidden = width // reduction
        self.global_branch = _Bottleneck(width, hidden, n_out)
        self.local_branch = _Bottleneck(width, hidden, n_out)

    def weights(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, n, H), (B, T) -> per-layer weights (B, T, n, H) summing to 1 over n."""
        integrated = layers.sum(dim=2)  # (B, T, H)
        m = mask.unsqueeze(-1).to(layers.dtype)  # (B, T, 1)
        context = (integrated * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # (B, H)
        logits = self.global_branch(context).unsqueeze(1) + self.local_branch(integrated)
        if self.n_layers == 2:
            first = torch.sigmoid(logits)
            return torch.stack([first, 1.0 - first], dim=2)
        B, T = logits.shape[:2]
        return torch.softmax(logits.view(B, T, self.n_layers, self.width), dim=2)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (self.weights(layers, mask) * layers).sum(dim=2)

    def mixture(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, n, H), (B, T) -> (n,): each layer's mean weight over real tokens and features."""
        return self.weights(layers, mask)[mask].mean(dim=(0, 2))

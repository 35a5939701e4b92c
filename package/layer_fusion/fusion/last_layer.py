import torch
from torch import nn


class LastLayer(nn.Module):
    """The baseline: pass one selected layer through unchanged.

        y_t = x_t^(l)

    With ``layers = [-1]`` this is what stock spacy-transformers listeners feed to a
    tagger. It takes exactly one layer (``layers = [k]`` makes it a single-layer
    probe of layer k) and has no parameters.
    """

    min_layers = 1
    max_layers = 1
    mixture_measure = "single layer, passed through"
    mixture_reads_inputs = False

    def __init__(self, n_layers: int, width: int):
        super().__init__()
        self.n_layers = n_layers
        self.width = width

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # layers: (B, T, 1, H) -> (B, T, H)
        return layers[:, :, 0, :]

    def mixture(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(n,) = (1,): the one layer takes all the weight."""
        return torch.ones(1, dtype=layers.dtype)

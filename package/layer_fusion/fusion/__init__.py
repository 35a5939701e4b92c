"""Fusion modules: small torch modules that turn a stack of selected transformer
layers into one feature vector per token.

Every module takes ``layers`` shaped (batch, tokens, n_layers, width) and a boolean
``mask`` shaped (batch, tokens) that is True for real tokens, and returns
(batch, tokens, width). One module per file, with its equation in the docstring.

Every module also reports how it weighs its layers, for inspection and reports:
``mixture(layers, mask)`` -> (n_layers,), the mean weight of each selected layer over
the real tokens (call it under ``torch.no_grad()`` in eval mode); ``mixture_measure``
says in words what was averaged, and ``mixture_reads_inputs`` whether the weights
depend on the input (False: ``layers`` may be any tensor of the right dtype).
"""
from .aif import AIF
from .dlfa import DLFA
from .last_layer import LastLayer
from .layer_attention import LayerAttention
from .scalar_mix import ScalarMix

__all__ = ["AIF", "DLFA", "LastLayer", "LayerAttention", "ScalarMix", "REGISTERED", "SETTINGS", "fusion_block"]

# The registered thinc layer of each fusion (architectures.py) and the settings every
# config, script and test of the project gives it: the one table of fusion names.
REGISTERED = {
    "LastLayer": "layer_fusion.LastLayer.v1",
    "DLFA": "layer_fusion.DLFA.v1",
    "AIF": "layer_fusion.AIF.v1",
    "ScalarMix": "layer_fusion.ScalarMix.v1",
    "LayerAttention": "layer_fusion.LayerAttention.v1",
}
SETTINGS = {"AIF": {"reduction": 4}, "ScalarMix": {"layer_dropout": 0.1}}


def fusion_block(name: str, **overrides) -> dict:
    """The config block of fusion ``name``, e.g. {"@layers": "layer_fusion.AIF.v1", "reduction": 4}."""
    if name not in REGISTERED:
        raise ValueError(f"fusion {name!r} is not one of {', '.join(REGISTERED)}")
    return {"@layers": REGISTERED[name], **SETTINGS.get(name, {}), **overrides}

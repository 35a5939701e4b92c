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

__all__ = ["AIF", "DLFA", "LastLayer", "LayerAttention", "ScalarMix", "MODULES", "REGISTERED", "SETTINGS",
           "check_layer_count", "fusion_block"]

# The one table of fusion names: each fusion's torch module, its registered thinc layer
# (architectures.py), and the settings every config, script and test of the project gives it.
MODULES = {cls.__name__: cls for cls in (LastLayer, DLFA, AIF, ScalarMix, LayerAttention)}
REGISTERED = {name: f"layer_fusion.{name}.v1" for name in MODULES}
SETTINGS = {"AIF": {"reduction": 4}, "ScalarMix": {"layer_dropout": 0.1}}


def check_layer_count(name: str, n_layers: int, setting: str = "layers", label: str = "") -> None:
    """Raise ValueError naming ``setting`` unless fusion ``name`` takes ``n_layers`` layers
    (each module's ``min_layers`` .. ``max_layers``; None = no upper bound). ``label``
    names the fusion in the message (default ``name``)."""
    cls = MODULES[name]
    lo, hi = cls.min_layers, cls.max_layers
    if n_layers < lo or (hi is not None and n_layers > hi):
        need = f"exactly {lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
        raise ValueError(f"{label or name} needs {need} layer(s) in '{setting}', got {n_layers}")


def fusion_block(name: str, **overrides) -> dict:
    """The config block of fusion ``name``, e.g. {"@layers": "layer_fusion.AIF.v1", "reduction": 4}."""
    if name not in REGISTERED:
        raise ValueError(f"fusion {name!r} is not one of {', '.join(REGISTERED)}")
    return {"@layers": REGISTERED[name], **SETTINGS.get(name, {}), **overrides}

"""Fusion modules: small torch modules that turn a stack of selected transformer
layers into one feature vector per token.

Every module takes ``layers`` shaped (batch, tokens, n_layers, width) and a boolean
``mask`` shaped (batch, tokens) that is True for real tokens, and returns
(batch, tokens, width). One module per file, with its equation in the docstring.
"""
from .aif import AIF
from .dlfa import DLFA
from .last_layer import LastLayer
from .layer_attention import LayerAttention
from .scalar_mix import ScalarMix

__all__ = ["AIF", "DLFA", "LastLayer", "LayerAttention", "ScalarMix"]

"""Registered architectures and layers: the front door of layer_fusion.

Each function here is a few lines that build smaller layers from
``layers/`` (transformer_model, word_alignment, listener, layer_pooling,
fusion_layer) and the torch modules in ``fusion/``. The names are
versioned; configs and other tools rely on them. They are found through the
``spacy_architectures`` and ``thinc_layers`` entry points, so ``spacy train``
needs no ``--code``.
"""
from typing import Callable, List

from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.data_classes import FullTransformerBatch
from thinc.api import Model, chain
from thinc.types import Floats2d, Ragged

from . import fusion as modules
from . import freezing  # noqa: F401  (registers layer_fusion.freeze_parameters.v1)
from .layers.fusion_layer import bind_fusion, fusion_layer
from .layers.layer_pooling import layer_pooling
from .layers.listener import FusionTransformerListener
from .layers.transformer_model import FusionTransformerModel


@registry.architectures("layer_fusion.TransformerModel.v1")
def TransformerModel(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[List[Doc], FullTransformerBatch]:
    """A pretrained Hugging Face transformer that outputs all hidden states and
    backpropagates through every hidden state that a listener sends gradients to.

    Same arguments as ``spacy-transformers.TransformerModel.v3``;
    ``output_hidden_states`` is always on. Use it for any transformer whose lower
    layers feed a ``FusionListener`` while it trains: the stock model drops those
    gradients without a word.
    """
    return FusionTransformerModel(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config
    )


@registry.architectures("layer_fusion.TransformerModel.v2")
def TransformerModel_v2(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    learn_rate_scale: float = 1.0,
    split_words: bool = False,
    trim_offsets: bool = False,
) -> Model[List[Doc], FullTransformerBatch]:
    """``layer_fusion.TransformerModel.v1`` for fine-tuning, with two settings:

    learn_rate_scale (float): the transformer's parameters train at the optimizer's
        learning rate times this (0.05 turns a head rate of 1e-3 into 5e-5 for the
        encoder; the schedule is shared).
    split_words (bool): tokenize every spaCy token on its own, as a pre-split word,
        instead of the span text (see layers/word_alignment.py). Training and tagging both
        go through it, so they always agree.
    trim_offsets (bool): without split_words, align the span text's wordpieces on
        offsets stripped of leading whitespace. Tokenizers whose offsets include the
        space before a word otherwise pool every token with its neighbour's first piece.
    """
    return FusionTransformerModel(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config,
        learn_rate_scale=learn_rate_scale, split_words=split_words, trim_offsets=trim_offsets,
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@registry.architectures("layer_fusion.FusionListener.v1")
def FusionListener(
    width: int,
    layers: List[int],
    fusion: Model,
    pooling: Model[Ragged, Floats2d],
    grad_factor: float = 1.0,
    upstream: str = "*",
) -> Model[List[Doc], List[Floats2d]]:
    """Listen to an upstream transformer and fuse selected hidden layers.

    Input: docs. Output: one (n_tokens, width) array per doc.

    width (int): the transformer's hidden size (384 for multilingual-e5-small,
        768 for mBERT and XLM-R base).
    layers (List[int]): hidden states to fuse; 0 is the embedding output, 1..L the
        transformer layers, negative indices count from the top (-1 = last). If in
        doubt: ``[-1]`` with LastLayer, ``[k, -1]`` with DLFA or AIF.
    fusion (Model): a fusion layer, e.g. ``layer_fusion.AIF.v1``.
    pooling (Model[Ragged, Floats2d]): reduces a token's wordpieces to one vector;
        ``reduce_mean.v1`` if in doubt.
    grad_factor (float): scales the gradient sent to the transformer. 0 sends none
        and skips computing it: use 0 when the encoder is frozen, which saves work in
        every training step (see layer_pooling._zero_gradient). Listeners of one
        transformer must agree on 0 vs non-zero: spacy-transformers sums their gradients
        position by position, and a grad_factor-0 listener sends one array per doc, not
        one per hidden state.
    upstream (str): name of the transformer component, or "*" for any.
    """
    # Checked here, not by spaCy's config validation: it accepts a number written as a
    # string ("0.5") and passes the string on, which failed deep in the first update.
    if not isinstance(layers, (list, tuple)) or not all(_is_int(k) for k in layers):
        raise ValueError(f"layers={layers!r} must be a list of integers, e.g. [4, -1]")
    if not layers:
        raise ValueError("layers is empty: name at least one hidden state, e.g. [-1]")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers={list(layers)} names a hidden state twice: a fusion needs different hidden states")
    if not _is_int(width) or width < 1:
        raise ValueError(f"width={width!r} must be the transformer's hidden size, an integer > 0")
    if isinstance(grad_factor, bool) or not isinstance(grad_factor, (int, float)):
        raise ValueError(f"grad_factor={grad_factor!r} must be a number (0: send the transformer no gradient)")
    bind_fusion(fusion, len(layers), width, setting=f"layers={list(layers)}", input_grad=grad_factor != 0)
    listener = FusionTransformerListener(upstream_name=upstream)
    listener.attrs["hidden_states"] = list(layers)  # what it reads: FusionTransformer keeps only these
    model = chain(listener, layer_pooling(layers, width, pooling, grad_factor), fusion)
    model.set_dim("nO", width)
    model.set_ref("listener", listener)
    model.set_ref("fusion", fusion)
    return model


@registry.layers("layer_fusion.LastLayer.v1")
def LastLayer() -> Model:
    """The selected single layer, unchanged: the stock baseline. See fusion/last_layer.py."""
    return fusion_layer("layer_fusion.LastLayer.v1", modules.LastLayer)


@registry.layers("layer_fusion.DLFA.v1")
def DLFA(init_bias: float = 0.0) -> Model:
    """Gated fusion of one lower layer with the last (layers = [k, -1]).
    y = g * x_k + (1 - g) * x_L, g = sigmoid(W [x_k; x_L] + b). See fusion/dlfa.py."""
    return fusion_layer("layer_fusion.DLFA.v1", modules.DLFA, init_bias=init_bias)


@registry.layers("layer_fusion.AIF.v1")
def AIF(reduction: int = 4) -> Model:
    """Attentional fusion with global (doc-pooled) and local (per-token) bottleneck
    branches: M = sigmoid(G + L), y = M * x_a + (1 - M) * x_b. See fusion/aif.py."""
    return fusion_layer("layer_fusion.AIF.v1", modules.AIF, reduction=reduction)


@registry.layers("layer_fusion.ScalarMix.v1")
def ScalarMix(layer_dropout: float = 0.1) -> Model:
    """ELMo/UDify: y = gamma * sum_k softmax(w)_k x_k, with layer dropout.
    See fusion/scalar_mix.py."""
    return fusion_layer("layer_fusion.ScalarMix.v1", modules.ScalarMix, layer_dropout=layer_dropout)


@registry.layers("layer_fusion.LayerAttention.v1")
def LayerAttention() -> Model:
    """Per-token softmax attention over layers: y_t = sum_k a_tk x_tk,
    a_t = softmax_k(v . x_tk + c). See fusion/layer_attention.py."""
    return fusion_layer("layer_fusion.LayerAttention.v1", modules.LayerAttention)

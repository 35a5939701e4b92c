"""Select hidden layers and pool their wordpieces onto spaCy tokens.

For one doc with hidden states h^(0..L), each (n_spans, n_wordpieces, H), and the
selected layers k_1..k_n, the output is

    X[t, j, :] = pool_{w in align(t)} h^(k_j)[w, :]        X: (n_tokens, n, H)

where align(t) lists the wordpiece rows of token t (rows of overlapping strided
spans included, so a token seen by two spans is pooled over both). All selected
layers go through one pooling call, as an (aligned pieces, n * H) matrix: with one
layer this is exactly what stock ``trfs2arrays`` computes.

Each layer is gathered at the aligned pieces before the layers are joined, not joined
over all (n_spans * n_wordpieces) positions first (stock ``apply_alignment`` on the
joined matrix): the positions are mostly padding when a doc's spans differ in length.
One text of 13,180 words has 642 spans padded to 286 pieces, 11% of them real, and
joining two layers there copied 536 MB (``scripts/bench_long_doc.py``).
"""
import functools
from typing import Callable, List, Optional, Sequence, Tuple, Union

from spacy_transformers.data_classes import TransformerData
from spacy_transformers.layers.trfs2arrays import concat_pooling_forward
from thinc.api import Model
from thinc.types import Floats2d, Floats3d, Ragged
from transformers.file_utils import ModelOutput

from ..layer_indices import resolve_layers
from .listener import NotAnnotated
from .transformer_model import LAST_HIDDEN_STATE, hidden_state_key


def layer_pooling(
    layers: Sequence[int],
    width: int,
    pooling: Model[Ragged, Floats2d],
    grad_factor: float,
) -> Model[List[Union[TransformerData, NotAnnotated]], List[Floats3d]]:
    # Settings live in the forward function, not in attrs: a saved model's attrs replace
    # those the config built it with (thinc's from_bytes). So a load-time override of
    # ``grad_factor`` takes effect, and one of ``layers`` survives for ``_check_config``
    # to compare with the layers the model was trained on (attrs["layers"]).
    return Model(
        "layer-pooling",
        functools.partial(forward, config_layers=tuple(layers), grad_factor=grad_factor),
        layers=[pooling],
        dims={"nO": width},
        attrs={"layers": list(layers)},
    )


def _check(model: Model, trf_data: TransformerData) -> List[int]:
    hidden_states = trf_data.model_output.get("hidden_states")
    if hidden_states is None:
        raise ValueError(
            "FusionListener needs every hidden state, but the transformer returned "
            "only the last one: use architecture 'layer_fusion.TransformerModel.v1' "
            "for the transformer component"
        )
    resolved = resolve_layers(model.attrs["layers"], len(hidden_states))
    found = trf_data.width
    if found != model.get_dim("nO"):
        raise ValueError(
            f"width={model.get_dim('nO')} does not match the transformer's "
            f"hidden size {found}"
        )
    return resolved


def _check_config(model: Model, config_layers: Tuple[int, ...]) -> None:
    """Raise when the model's layers (loaded with its weights) are not those its config
    asks for: a trained fusion reads the layers it was trained on, and an override such as
    ``spacy.load(path, config={... "layers": [2, -1]})`` would otherwise be ignored without
    a word while ``nlp.config`` shows it."""
    if list(model.attrs["layers"]) != list(config_layers):
        raise ValueError(
            f"layers={list(config_layers)} in the config, but this model was trained on layers "
            f"{list(model.attrs['layers'])}: a trained fusion cannot read other layers; load it "
            f"without overriding 'layers', or train a pipeline on the layers you want"
        )


def forward(model: Model, trf_datas: List[Union[TransformerData, NotAnnotated]], is_train: bool,
            config_layers: Optional[Tuple[int, ...]] = None, grad_factor: float = 1.0):
    if config_layers is not None:
        _check_config(model, config_layers)
    pooling = model.layers[0]
    width = model.get_dim("nO")
    n_sel = len(model.attrs["layers"])
    ops = model.ops
    outputs: List[Optional[Floats3d]] = [None] * len(trf_datas)
    aligned: List[Tuple[int, Ragged]] = []
    backprops: List[Tuple[int, Callable, List[int], TransformerData]] = []
    for i, trf_data in enumerate(trf_datas):
        if isinstance(trf_data, NotAnnotated):
            outputs[i] = ops.alloc3f(trf_data.n_tokens, n_sel, width)
            continue
        if LAST_HIDDEN_STATE not in trf_data.model_output:
            # A zero-length doc: the transformer skips those.
            outputs[i] = ops.alloc3f(0, n_sel, width)
            continue
        last = trf_data.model_output[LAST_HIDDEN_STATE]
        if last.size == 0:
            outputs[i] = ops.alloc3f(len(trf_data.align), n_sel, width)
            continue
        resolved = _check(model, trf_data)
        hidden = trf_data.model_output["hidden_states"]
        dst, get_d_src = gather_aligned(ops, trf_data.align, [ops.reshape2f(hidden[k], -1, width) for k in resolved])
        aligned.append((i, dst))
        backprops.append((i, get_d_src, resolved, trf_data))

    if aligned:
        pooled, backprop_pooling = concat_pooling_forward(
            pooling, [dst for _, dst in aligned], is_train
        )
    else:
        pooled, backprop_pooling = [], lambda d_pooled: []
    for (i, _), y in zip(aligned, pooled):
        outputs[i] = y.reshape(y.shape[0], n_sel, width)

    def backprop(d_outputs: List[Floats3d]) -> List[TransformerData]:
        if grad_factor == 0:
            return [_zero_gradient(ops, trf_data) for *_, trf_data in backprops]
        d_pooled = backprop_pooling(
            [d_outputs[i].reshape(d_outputs[i].shape[0], n_sel * width) for i, _ in aligned]
        )
        d_trf_datas = []
        for (i, get_d_src, resolved, trf_data), d_dst in zip(backprops, d_pooled):
            d_src = get_d_src(d_dst) * grad_factor  # (rows, n * H)
            hidden = trf_data.model_output["hidden_states"]
            # Not hidden[0]: fusion_transformer empties the hidden states no listener reads.
            shape = trf_data.model_output[LAST_HIDDEN_STATE].shape  # (n_spans, n_wordpieces, H)
            d_model_output = ModelOutput()
            d_model_output[LAST_HIDDEN_STATE] = ops.alloc(shape, dtype=d_src.dtype)
            d_layers = [None] * len(hidden)
            for j, k in enumerate(resolved):
                d_k = d_src[:, j * width : (j + 1) * width].reshape(shape)
                d_layers[k] = d_k if d_layers[k] is None else d_layers[k] + d_k
            for k, d_k in enumerate(d_layers):
                # Unused layers get zeros: positions must line up across docs.
                d_model_output[hidden_state_key(k)] = (
                    d_k if d_k is not None else ops.alloc(shape, dtype=d_src.dtype)
                )
            d_trf_datas.append(
                TransformerData(
                    model_output=d_model_output,
                    wordpieces=trf_data.wordpieces,
                    align=trf_data.align,
                )
            )
        return d_trf_datas

    return outputs, backprop


def gather_aligned(ops, align: Ragged, layers: List[Floats2d]) -> Tuple[Ragged, Callable]:
    """The aligned rows of the layers side by side: ``Y.data[i] = [L_1[a_i], ..., L_n[a_i]]``
    for a_i = ``align.data[i]``, each L_j (positions, H); Y's lengths are ``align``'s.

    The same as stock ``apply_alignment`` on the layers joined (positions, n * H), without
    that join. The backward returns the gradient of the join, (positions, n * H): layer j's
    in columns j*H:(j+1)*H, summed where a piece is aligned to several tokens. As stock, when
    no token has a piece each token gets one row of zeros, so that pooling has a row to pool."""
    indices = align.dataXd
    positions = layers[0].shape[0]
    joined_width = sum(layer.shape[1] for layer in layers)
    if not align.lengths.sum():
        n_tokens = align.lengths.shape[0]
        empty = Ragged(ops.alloc2f(n_tokens, joined_width), ops.alloc1i(n_tokens) + 1)
        return empty, lambda dY: ops.alloc2f(positions, joined_width)
    Y = Ragged(ops.xp.concatenate([layer[indices] for layer in layers], axis=1), ops.asarray(align.lengths))

    def backprop(dY: Ragged) -> Floats2d:
        dX = ops.alloc2f(positions, joined_width)  # float32, as stock
        ops.scatter_add(dX, indices, dY.dataXd)
        return dX

    return Y, backprop


def _zero_gradient(ops, trf_data: TransformerData) -> TransformerData:
    """The gradient of a listener with grad_factor 0: zeros for the last hidden state only.

    With a frozen encoder the transformer discards whatever it gets back, but each array
    costs: upstream, spacy-transformers squares and sums every one (for its loss) and
    stacks it for the batch. One array per doc keeps the stock contract and skips the
    pooling backward, the other hidden states and the fusion's input gradient.
    """
    d_model_output = ModelOutput()
    shape = trf_data.model_output[LAST_HIDDEN_STATE].shape
    d_model_output[LAST_HIDDEN_STATE] = ops.alloc(shape, dtype="f")
    return TransformerData(model_output=d_model_output, wordpieces=trf_data.wordpieces, align=trf_data.align)

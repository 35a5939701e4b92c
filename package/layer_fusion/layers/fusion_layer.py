"""The thinc side of a fusion module: padding ragged docs into one torch batch.

A fusion layer is created by a registered function (``layer_fusion.AIF.v1`` ...)
before the listener that owns it knows how many layers it will get. The torch
module is therefore built by ``bind_fusion``, which ``FusionListener`` calls in its
own constructor, so a pipeline built from its config always has the same
parameters and ``from_bytes`` / ``spacy.load`` find them.
"""
import functools
from typing import Callable, List, Tuple

import numpy
import torch
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch
from thinc.types import Floats2d, Floats3d

from ..fusion import check_layer_count

FusionInput = List[Floats3d]  # one (n_tokens, n_layers, width) array per doc
FusionOutput = List[Floats2d]  # one (n_tokens, width) array per doc


def fusion_layer(
    name: str,
    module_class: type,
    **module_kwargs,
) -> Model[FusionInput, FusionOutput]:
    """An unbound fusion layer; ``bind_fusion`` gives it its torch module."""
    return Model(
        name,
        forward,
        dims={"nO": None},
        attrs={
            "module_class": module_class,
            "module_kwargs": module_kwargs,
            "n_layers": None,
        },
    )


def bind_fusion(model: Model, n_layers: int, width: int, setting: str = "layers",
                input_grad: bool = True) -> Model:
    """Build the fusion's torch module for ``n_layers`` stacked layers of ``width``.

    input_grad: False when the listener sends no gradient upstream (grad_factor 0): then
    the fusion's backward computes its parameters' gradients only, not its input's. It
    lives in the wrapper's input conversion, not in ``attrs``: a saved model's attrs
    replace the config's on load (thinc's ``from_bytes``), and the config must decide.
    Raises ValueError naming ``setting`` if the fusion cannot take that many layers.
    """
    cls = model.attrs.get("module_class")
    if cls is None:
        raise ValueError(
            f"'fusion' must be a layer_fusion fusion layer (layer_fusion.LastLayer.v1, "
            f"DLFA.v1, AIF.v1, ScalarMix.v1, LayerAttention.v1), got {model.name!r}"
        )
    if model.layers:
        if model.attrs["n_layers"] == n_layers and model.get_dim("nO") == width:
            return model
        raise ValueError(f"fusion {model.name!r} is already bound to other dimensions")
    check_layer_count(cls.__name__, n_layers, setting, label=model.name)
    module = cls(n_layers, width, **model.attrs["module_kwargs"])
    wrapper = PyTorchWrapper_v2(
        module, convert_inputs=functools.partial(_pad_docs, input_grad=input_grad),
        convert_outputs=_unpad_docs,
    )
    model.layers.append(wrapper)
    model.attrs["n_layers"] = n_layers
    model.set_dim("nO", width)
    return model


def torch_module(model: Model) -> torch.nn.Module:
    """The bound torch module of a fusion layer (for inspection and tests)."""
    if not model.layers:
        raise ValueError(f"fusion {model.name!r} is not bound; see bind_fusion")
    return model.layers[0].shims[0]._model


def forward(model: Model, docs: FusionInput, is_train: bool) -> Tuple[FusionOutput, Callable]:
    if not model.layers:
        raise ValueError(
            f"fusion {model.name!r} is not bound: use it as the 'fusion' of "
            "layer_fusion.FusionListener.v1"
        )
    if not docs:
        return [], lambda d_docs: []
    fused, backprop = model.layers[0](docs, is_train)
    if not is_train:
        check_finite(model, fused)
    return fused, backprop


class NonFiniteFeaturesError(ValueError):
    """The fused features hold NaN or infinity at prediction time."""


def check_finite(model: Model, fused: FusionOutput) -> None:
    """Raise ``NonFiniteFeaturesError`` if any fused feature is NaN or infinite.

    Only at prediction time: a tagger's argmax over NaN scores silently gives its first
    label for every token, so a pipeline whose weights went NaN (a training run that
    diverged) would tag everything alike. Training steps are left alone (a mixed-precision
    grad scaler skips a step that overflows); spaCy's evaluation during training predicts,
    so a diverged run stops there with this error instead of saving NaN weights.
    """
    xp = model.ops.xp
    if bool(xp.stack([xp.isfinite(doc).all() for doc in fused]).all()):  # one device sync
        return
    raise NonFiniteFeaturesError(
        f"fusion {model.name!r} gave NaN or infinite features: the pipeline's weights are not "
        "finite (did its training diverge? spaCy's log then shows a loss of nan)"
    )


def _pad_docs(model: Model, docs: FusionInput, is_train: bool, input_grad: bool = True):
    """List of (n_i, L, H) -> ArgsKwargs(padded (B, T, L, H), mask (B, T))."""
    padded, mask, lengths = pad_stack(docs, model.ops.xp)
    input_grad = is_train and input_grad
    layers_t = xp2torch(padded, requires_grad=input_grad)
    mask_t = torch.from_numpy(mask).to(layers_t.device)

    def get_d_docs(d_inputs: ArgsKwargs) -> FusionInput:
        if not input_grad:
            return [None] * len(lengths)
        d_padded = torch2xp(d_inputs.args[0])
        return [d_padded[i, :n] for i, n in enumerate(lengths)]

    return ArgsKwargs(args=(layers_t, mask_t), kwargs={}), get_d_docs


def _unpad_docs(model: Model, inputs_outputs, is_train: bool):
    """Padded (B, T, H) -> list of (n_i, H), and the reverse for gradients."""
    docs_in, output_t = inputs_outputs
    lengths = [int(d.shape[0]) for d in docs_in]
    output = torch2xp(output_t)
    docs = [output[i, :n] for i, n in enumerate(lengths)]

    def get_d_output(d_docs: FusionOutput) -> ArgsKwargs:
        if not output_t.requires_grad:
            # No parameters and no input gradient (LastLayer with grad_factor 0): nothing to do.
            return ArgsKwargs(args=((),), kwargs={"grad_tensors": ()})
        xp = model.ops.xp
        d_padded = xp.zeros(output.shape, dtype=output.dtype)
        for i, d in enumerate(d_docs):
            d_padded[i, : d.shape[0]] = d
        return ArgsKwargs(args=(output_t,), kwargs={"grad_tensors": (xp2torch(d_padded),)})

    return docs, get_d_output


def pad_stack(arrays, xp=numpy, dtype=None):
    """List of (n_i, L, H) arrays -> padded (B, T, L, H) with T = max n_i (zeros after
    each doc), its mask (B, T) (True for real tokens, a numpy array) and the lengths."""
    lengths = [int(a.shape[0]) for a in arrays]
    padded = xp.zeros((len(arrays), max(lengths)) + tuple(arrays[0].shape[1:]), dtype=dtype or arrays[0].dtype)
    for i, a in enumerate(arrays):
        padded[i, : lengths[i]] = a
    return padded, numpy_mask(lengths), lengths


def numpy_mask(lengths: List[int]) -> numpy.ndarray:
    """(B, max(lengths)) boolean mask, True for real tokens."""
    mask = numpy.zeros((len(lengths), max(lengths) if lengths else 0), dtype=bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    return mask

"""Run a loaded pipeline's encoder in int8 on the CPU (inference only).

``quantize_encoder(nlp)`` replaces every ``nn.Linear`` of each transformer component's
Hugging Face model by a dynamically quantized one (``torch.ao.quantization.quantize_dynamic``):
weights stored as int8, activations quantized on the fly per batch, matrix products in int8,
outputs in fp32. Per-channel weight scales (one per output row) by default: per-tensor
scales move the hidden states more (scripts/bench_inference.py measures both).
Embeddings, LayerNorm and the fusion/tagger heads stay fp32.

The pipeline's ``meta["layer_fusion"]["encoder_dtype"]`` records the change, so metrics
and tagged output can say what produced them. Training a quantized model is not supported.
"""
from __future__ import annotations

from typing import Any, Dict

SCHEMES = ("per_channel", "per_tensor")


def _transformer_shims(nlp):
    from spacy_transformers import Transformer

    for name, pipe in nlp.pipeline:
        if isinstance(pipe, Transformer):
            yield name, pipe.model.layers[0].shims[0]


def quantize_encoder(nlp, scheme: str = "per_channel") -> Dict[str, Any]:
    """Quantize the Linear layers of every transformer component of ``nlp`` to int8.

    Returns (and stores in ``nlp.meta["layer_fusion"]``) what was done. Raises ValueError
    for an unknown scheme, a pipeline without a transformer, or one already quantized.
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    if scheme not in SCHEMES:
        raise ValueError(f"quantization scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    shims = list(_transformer_shims(nlp))
    if not shims:
        raise ValueError("the pipeline has no transformer component to quantize")
    info = nlp.meta.setdefault("layer_fusion", {})
    if info.get("encoder_dtype") == "int8":
        raise ValueError("the pipeline's encoder is already quantized")
    qconfig = per_channel_dynamic_qconfig if scheme == "per_channel" else default_dynamic_qconfig
    n_linear = 0
    for _, shim in shims:
        model = shim._model
        n_linear += sum(isinstance(m, torch.nn.Linear) for m in model.modules())
        model.eval()
        # In place: the default deep copy would hold a second fp32 copy of every weight, and
        # the shim's HFObjects would keep the first one alive.
        shim._model = quantize_dynamic(model, {torch.nn.Linear: qconfig}, dtype=torch.qint8, inplace=True)
    info.update(
        encoder_dtype="int8",
        quantization=f"torch.ao dynamic qint8, {scheme.replace('_', '-')} weight scales, "
        f"{n_linear} Linear layers; embeddings, LayerNorm and heads fp32",
    )
    return dict(info)

"""Run a loaded pipeline's encoder in int8 on the CPU (inference only).

``quantize_encoder(nlp, scheme)`` makes the matrix products of each transformer component's
Hugging Face model int8: weights stored as int8, activations quantized on the fly per batch
(one scale per tensor), products in int8, outputs in fp32. Two engines:

- ``torch.ao.quantization.quantize_dynamic`` replaces ``nn.Linear`` layers in place. Its
  x86 kernels round activations to 7 bits (``reduce_range``, see ``layer_fusion.onnx_encoder``).
- ONNX Runtime (schemes ``onnx_*``): the encoder is exported to ONNX in
  a temporary folder, its MatMul nodes quantized, and an ``OnnxEncoder`` replaces the torch
  model (whose fp32 weights are then freed). Activations keep 8 bits. The int8 model is
  built once per machine and encoder (``layer_fusion.int8_cache``).

Schemes:

- ``per_channel``: every Linear, one weight scale per output row;
- ``per_tensor``: every Linear, one weight scale per matrix (faster here);
- ``ffn_out_fp32``: ``per_tensor``, except the feed-forward output projections (the Linear
  layers with more inputs than outputs), which stay fp32. Their inputs (after GELU) carry
  the largest outliers, and rounding them per tensor moves the hidden states most
  (Bondarenko et al. 2021, arXiv 2109.12948);
- ``ffn_out_fp32_per_channel``: the same layers kept fp32, the others per-channel;
- ``onnx_per_channel`` and ``onnx_ffn_out_fp32_per_channel``: the same as ``per_channel``
  and ``ffn_out_fp32_per_channel``, run by ONNX Runtime.

``scripts/bench_inference.py`` measures how far each scheme moves the hidden states, and
how fast it runs; ``spacy project run evaluate-int8`` measures its accuracy.

Embeddings, LayerNorm and the fusion/tagger heads stay fp32.

The pipeline's ``meta["layer_fusion"]`` records the change (``encoder_dtype``,
``quantization``, ``int8_scheme``, ``int8_fp32_kept``, and for ONNX Runtime
``int8_reduce_range``) and the vector instructions its kernels run on (``int8_cpu``,
``cpu_kernels``), so metrics and tagged output can say what produced them. A
quantized pipeline is for tagging only: saving, loading into or training it raises
``inference_only.InferenceOnlyError``.
"""
from __future__ import annotations

from typing import Any, Dict, List

from .inference_only import mark_inference_only

TORCH_SCHEMES = ("per_channel", "per_tensor", "ffn_out_fp32", "ffn_out_fp32_per_channel")
ONNX_SCHEMES = ("onnx_per_channel", "onnx_ffn_out_fp32_per_channel")
SCHEMES = TORCH_SCHEMES + ONNX_SCHEMES
# What ``--int8`` uses (layer-fusion tag and evaluate), chosen by the protocol of
# docs/selection_protocol.md ("The --int8 scheme"): of the schemes at least 1.5x the bare
# fp32 encoder (reports/bench/inference.md), the smallest drop on the reference-language
# dev sets (metrics/finetuned_int8_<scheme>/).
DEFAULT_SCHEME = "onnx_ffn_out_fp32_per_channel"
# Step 3 of that protocol: the chosen scheme is also within 0.3 points of fp32 on the
# low-resource macro-average (-0.15; -0.16 in an earlier run on another CPU: int8 tags
# depend on it, see cpu_kernels), so ``layer-fusion tag`` runs int8 unless ``--fp32``.
INT8_BY_DEFAULT = True


def cpu_kernels() -> str:
    """The vector instructions this process computes with, e.g. ``"torch AVX512, VNNI"``:
    ATen's dispatch level (``torch.backends.cpu.get_cpu_capability()``; the environment
    variable ``ATEN_CPU_CAPABILITY`` can lower it) and whether the CPU has VNNI (ONNX
    Runtime's int8 path depends on it, ``onnx_encoder.cpu_has_vnni``).

    Why it is recorded: an int8 encoder's tags depend on it. Activations are rounded to 8
    (or 7) bits, so the last-bit differences between two kernels' fp32 sums move some
    values across a rounding step, and some tags change; in fp32 such differences rarely
    change an argmax. ``scripts/bench_int8_cpu.py`` measures it."""
    import torch

    from .onnx_encoder import cpu_has_vnni

    return f"torch {torch.backends.cpu.get_cpu_capability()}, {'VNNI' if cpu_has_vnni() else 'no VNNI'}"


def ffn_output_projections(model) -> List[str]:
    """Names of the Linear layers of ``model`` with more inputs than outputs: in BERT-style
    encoders, the feed-forward output projections (``encoder.layer.N.output.dense``)."""
    import torch

    return [n for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m.in_features > m.out_features]


def transformer_shims(nlp):
    """(name, PyTorchShim of the HF model) of each transformer component."""
    from spacy_transformers import Transformer

    for name, pipe in nlp.pipeline:
        if isinstance(pipe, Transformer):
            yield name, pipe.model.layers[0].shims[0]


def quantize_encoder(nlp, scheme: str = DEFAULT_SCHEME) -> Dict[str, Any]:
    """Quantize the Linear layers of every transformer component of ``nlp`` to int8.

    Returns (and stores in ``nlp.meta["layer_fusion"]``) what was done. Raises ValueError
    for an unknown scheme, a pipeline without a transformer, or one already quantized.
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    if scheme not in SCHEMES:
        raise ValueError(f"quantization scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    shims = list(transformer_shims(nlp))
    if not shims:
        raise ValueError("the pipeline has no transformer component to quantize")
    info = nlp.meta.setdefault("layer_fusion", {})
    if info.get("encoder_dtype") == "int8":
        raise ValueError("the pipeline's encoder is already quantized")
    if scheme in ONNX_SCHEMES:
        from .onnx_encoder import import_onnxruntime

        import_onnxruntime()  # a missing onnxruntime leaves the pipeline as it was, unmarked
    # Marked before any change: a quantization that fails half-way leaves no pipeline to save.
    mark_inference_only(nlp, f"its encoder is int8, scheme {scheme} (quantize_encoder)",
                        components=[name for name, _ in shims])
    if scheme in ONNX_SCHEMES:
        return _quantize_with_onnxruntime(shims, scheme, info)
    per_channel = scheme.endswith("per_channel")
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    n_linear, kept = 0, []
    for _, shim in shims:
        model = shim._model
        model.eval()
        names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
        keep = set(ffn_output_projections(model)) if scheme.startswith("ffn_out_fp32") else set()
        n_linear += len(names)
        kept += sorted(keep, key=names.index)
        # In place: the default deep copy would hold a second fp32 copy of every weight, and
        # the shim's HFObjects would keep the first one alive.
        spec = {n: qconfig for n in names if n not in keep}
        shim._model = quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    scales = "per-channel" if per_channel else "per-tensor"
    what = (f"{n_linear - len(kept)} of {n_linear} Linear layers (the {len(kept)} feed-forward output "
            "projections kept fp32)" if kept else f"{n_linear} Linear layers")
    info.update(
        encoder_dtype="int8",
        quantization=f"torch.ao dynamic qint8, {scales} weight scales, {what}; embeddings, LayerNorm and heads fp32",
        int8_scheme=scheme,
        int8_fp32_kept=kept,
        int8_cpu=cpu_kernels(),
    )
    return dict(info)


def _quantize_with_onnxruntime(shims, scheme: str, info: Dict[str, Any]) -> Dict[str, Any]:
    """Replace each shim's torch model by an ``OnnxEncoder`` running its int8 export, built
    once per machine (``layer_fusion.int8_cache``)."""
    from .file_rows import row_lookup
    from .heap import trim_heap
    from .int8_cache import cached_build
    from .onnx_encoder import OnnxEncoder, build_int8_encoder, cpu_has_vnni, import_onnxruntime

    _, ort = import_onnxruntime()
    keep_ffn_out = "ffn_out_fp32" in scheme
    reduce_range = not cpu_has_vnni()
    n_linear, kept = 0, []
    for _, shim in shims:
        model = shim._model
        onnx_model, built, _ = cached_build(model, keep_ffn_out, reduce_range,
                                            lambda: build_int8_encoder(model, keep_ffn_out, reduce_range))
        n_linear += built["n_linear"]
        kept += built["kept"]
        encoder = OnnxEncoder(onnx_model, model.config, built["n_states"], row_lookup(model.get_input_embeddings()))
        # Drop every reference to the torch model before the session is made, so that its
        # fp32 weights (and, with FileRows, its word-embedding table) are freed first.
        shim._model = encoder
        shim._hfmodel.transformer = encoder
        del model
        encoder.check()
    # The export and quantization freed hundreds of MiB in many blocks: hand them back
    # (heap.py). Measured: about 200 MiB less resident after quantizing multilingual-e5-small.
    trim_heap()
    what = (f"{n_linear - len(kept)} of {n_linear} Linear layers (MatMul nodes; the {len(kept)} feed-forward "
            "output projections kept fp32)" if kept else f"{n_linear} Linear layers (MatMul nodes)")
    info.update(
        encoder_dtype="int8",
        quantization=(f"ONNX Runtime {ort.__version__} dynamic int8, 8-bit activations, per-channel weight scales"
                      f"{' (7-bit weights: no VNNI)' if reduce_range else ''}, {what}; "
                      "embeddings, LayerNorm and heads fp32"),
        int8_scheme=scheme,
        int8_fp32_kept=kept,
        int8_reduce_range=reduce_range,
        int8_cpu=cpu_kernels(),
    )
    return dict(info)

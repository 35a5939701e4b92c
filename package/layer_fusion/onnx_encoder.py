"""Run a pipeline's Hugging Face encoder under ONNX Runtime, with int8 matrix products.

Why not only torch: ``torch.ao`` dynamic int8 ``Linear`` always rounds its activations to
7 bits on x86 (``reduce_range=True``, hard-coded in its forward), because its AVX2 kernels
would overflow 16-bit partial sums with 8-bit activations. ONNX Runtime quantizes the
activations to the full 8 bits (uint8, one scale and zero point per tensor and batch) and,
on CPUs with VNNI instructions, accumulates in 32 bits, so nothing overflows. Half the
rounding step on every activation moves the hidden states much less
(``reports/bench/inference.md``).

``export_encoder(model, path)`` writes the encoder *after its word-embedding lookup* as
ONNX: inputs ``inputs_embeds`` (batch, wordpieces, H), ``attention_mask`` and
``token_type_ids`` (batch, wordpieces); outputs ``hidden_state_0..L`` (batch, wordpieces,
H), the embeddings and every layer's output. The lookup stays in torch: the word
embeddings are most of a multilingual encoder's weights (250,002 x 384 of
multilingual-e5-small's 118M parameters), a lookup costs nothing to run, and leaving them
out keeps the export, its quantization and the session small in memory. Where the table
is still the weights file's bytes, its rows are read from the file (``layer_fusion.file_rows``),
so the table does not become resident either.
``quantize_onnx`` rewrites its MatMul nodes to int8 (``onnxruntime.quantization
.quantize_dynamic``): weights int8, symmetric, one scale per output column
(``per_channel``) or per matrix; activations uint8, quantized on the fly.
``OnnxEncoder`` runs the result behind the call the pipeline makes on a Hugging Face model
and returns the same ``BaseModelOutput``. It is inference only: no gradients, no training.

On an x86 CPU without VNNI, 8-bit activations times 8-bit weights can saturate ONNX
Runtime's 16-bit intermediate sums; there the weights are quantized to 7 bits instead
(``reduce_range``), as ONNX Runtime's documentation advises, and ``reduce_range`` says so.
"""
from __future__ import annotations

import logging
import os
import platform
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import torch

INPUT_NAMES = ("inputs_embeds", "attention_mask", "token_type_ids")
INSTALL_HINT = "int8 with ONNX Runtime needs onnx and onnxruntime: pip install onnx onnxruntime"


class OnnxRuntimeMissing(ImportError):
    """onnx or onnxruntime, which int8 with ONNX Runtime runs on, cannot be imported."""


def import_onnxruntime():
    """``(onnx, onnxruntime)`` (dependencies of spacy-layer-fusion), or OnnxRuntimeMissing
    (an ImportError) that says how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise OnnxRuntimeMissing(f"{INSTALL_HINT} ({err})") from err
    return onnx, onnxruntime


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has 8-bit dot products accumulating in 32 bits (x86 AVX512-VNNI or
    AVX-VNNI). Non-x86 CPUs count as having them: the saturation issue is x86's
    ``vpmaddubsw``. Unknown (no /proc/cpuinfo) counts as not having them, the safe side."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return True
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_vnni" in flags or "avx_vnni" in flags


class _HiddenStates(torch.nn.Module):
    """The encoder as a function of its three inputs (word embeddings, not ids) to the tuple
    of its hidden states."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs_embeds, attention_mask, token_type_ids):
        out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         output_hidden_states=True, return_dict=True)
        return tuple(out.hidden_states)


def export_encoder(model, path: Path) -> int:
    """Write ``model`` (a Hugging Face encoder) to ``path`` as ONNX with dynamic batch and
    length axes. Returns the number of hidden states it outputs (layers + 1)."""
    n_states = model.config.num_hidden_layers + 1
    outputs = [f"hidden_state_{i}" for i in range(n_states)]
    example = torch.ones((2, 8), dtype=torch.long)
    embeds = torch.zeros((2, 8, model.config.hidden_size))
    axes = {name: {0: "batch", 1: "wordpieces"} for name in (*INPUT_NAMES, *outputs)}
    was_training, n_threads = model.training, torch.get_num_threads()
    model.eval()
    # One thread: a trace run on several would start GNU OpenMP's thread pool, and workers
    # forked later (``nlp.pipe(n_process=2)``) deadlock on it.
    torch.set_num_threads(1)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing warns that the attention mask's constant 1.0 becomes a constant: it is one.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # ... and that it is the legacy exporter: chosen on purpose, see below.
            warnings.simplefilter("ignore", DeprecationWarning)
            # The TorchScript exporter: it needs neither onnxscript nor a dynamo trace, and
            # handles the BERT family's data-dependent masks with dynamic axes.
            torch.onnx.export(_HiddenStates(model), (embeds, example, torch.zeros_like(example)), str(path),
                              input_names=list(INPUT_NAMES), output_names=outputs, dynamic_axes=axes,
                              opset_version=17, dynamo=False)
    finally:
        torch.set_num_threads(n_threads)
        model.train(was_training)
    return n_states


def linear_matmuls(onnx_model) -> List[Tuple[str, Tuple[int, int]]]:
    """(name, weight shape (in, out)) of each MatMul node with a constant 2-D weight: the
    encoder's Linear layers. The attention products (activations times activations) are
    MatMul nodes too; they are not quantized, as in torch."""
    shapes = {init.name: tuple(init.dims) for init in onnx_model.graph.initializer}
    found = []
    for node in onnx_model.graph.node:
        weight = next((shapes[i] for i in node.input if i in shapes), None) if node.op_type == "MatMul" else None
        if weight is not None and len(weight) == 2:
            found.append((node.name, weight))
    return found


def ffn_output_matmuls(onnx_model) -> List[str]:
    """Names of the Linear MatMul nodes with more inputs than outputs: the feed-forward
    output projections, as ``layer_fusion.quantization.ffn_output_projections`` finds them
    in torch."""
    return [name for name, (n_in, n_out) in linear_matmuls(onnx_model) if n_in > n_out]


def quantize_onnx(src: Path, dst: Path, per_channel: bool, keep_fp32: Sequence[str] = (),
                  reduce_range: Optional[bool] = None) -> bool:
    """Quantize the MatMul nodes of ``src`` (except ``keep_fp32``) to int8 into ``dst``.
    Returns the ``reduce_range`` used (default: only where the CPU lacks VNNI)."""
    import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
    # It logs a root-logger warning suggesting shape-inference pre-processing, which only
    # matters for static quantization; silence warnings for the call only, then give back
    # the caller's own setting (not NOTSET, which would undo an application's logging.disable).
    before = logging.root.manager.disable
    logging.disable(max(before, logging.WARNING))
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
                         reduce_range=reduce_range, op_types_to_quantize=["MatMul"],
                         nodes_to_exclude=list(keep_fp32))
    finally:
        logging.disable(before)
    return reduce_range


def build_int8_encoder(model, keep_ffn_out: bool, reduce_range: bool) -> Tuple[bytes, Dict[str, Any]]:
    """Export ``model`` (a Hugging Face encoder) and quantize its Linear MatMul nodes to int8,
    per-channel, the feed-forward output projections kept fp32 with ``keep_ffn_out``.

    Returns the int8 model's serialized bytes and what the build found: ``n_states``
    (hidden states out), ``n_linear`` (Linear MatMul nodes) and ``kept`` (nodes left fp32)."""
    import tempfile

    onnx, _ = import_onnxruntime()
    with tempfile.TemporaryDirectory(prefix="layer-fusion-onnx-") as tmp:
        fp32_path, int8_path = Path(tmp) / "encoder.onnx", Path(tmp) / "encoder.int8.onnx"
        n_states = export_encoder(model, fp32_path)
        graph = onnx.load(str(fp32_path), load_external_data=False)
        n_linear = len(linear_matmuls(graph))
        kept = ffn_output_matmuls(graph) if keep_ffn_out else []
        del graph
        quantize_onnx(fp32_path, int8_path, per_channel=True, keep_fp32=kept, reduce_range=reduce_range)
        return int8_path.read_bytes(), {"n_states": n_states, "n_linear": n_linear, "kept": kept}


def session_options(threads: int):
    """ONNX Runtime options: ``threads`` for each operator, one operator at a time, and no
    spinning between operators when OpenMP is asked to wait passively (as this project
    runs it on shared CPUs)."""
    _, ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxEncoder(torch.nn.Module):
    """An ONNX Runtime session behind the call ``model(input_ids=..., attention_mask=...,
    token_type_ids=...)`` that spacy-transformers makes, returning a ``BaseModelOutput``
    with ``last_hidden_state`` and ``hidden_states`` as CPU float tensors (batch,
    wordpieces, H). ``word_embeddings`` looks the ids up first (the original model's input
    embedding module, or a ``file_rows.FileRows`` over its table); ``config`` is the
    original model's (the pipeline reads its limits).

    ``onnx_model`` is the serialized model, or the path of a file holding it (an int8 cache
    entry, which then stays out of this process's memory). The session is made from it in
    each process on first use, with ``torch.get_num_threads()`` threads: a session inherited
    through ``fork`` (``nlp.pipe(n_process=2)``) would wait forever on its parent's thread
    pool, and a session cannot be pickled (``spawn``)."""

    def __init__(self, onnx_model: Union[bytes, Path], config, n_states: int, word_embeddings: torch.nn.Module):
        super().__init__()
        self.onnx_model = onnx_model
        self.config = config
        self.n_states = n_states
        self.word_embeddings = word_embeddings
        self._session, self._session_pid, self._input_names = None, None, set()
        self.eval()

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def _new_session(self, threads: int):
        _, ort = import_onnxruntime()
        model = self.onnx_model if isinstance(self.onnx_model, bytes) else str(self.onnx_model)
        return ort.InferenceSession(model, session_options(threads), providers=["CPUExecutionProvider"])

    @property
    def onnx_bytes(self) -> bytes:
        """The serialized model."""
        return self.onnx_model if isinstance(self.onnx_model, bytes) else Path(self.onnx_model).read_bytes()

    def check(self) -> None:
        """Load the model into a throwaway one-thread session (no thread pool for a later fork
        to inherit), so that a broken model fails now rather than mid-tagging."""
        self._new_session(1)

    @property
    def session(self):
        if self._session is None or self._session_pid != os.getpid():
            self._session = self._new_session(torch.get_num_threads())
            self._session_pid = os.getpid()
            self._input_names = {i.name for i in self._session.get_inputs()}
        return self._session

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_session"] = state["_session_pid"] = None
        return state

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **_ignored):
        from transformers.modeling_outputs import BaseModelOutput

        if torch.is_grad_enabled() and self.training:
            raise RuntimeError("the ONNX Runtime encoder is inference only: it cannot be trained")
        with torch.no_grad():
            embeds = self.word_embeddings(input_ids.cpu()).numpy()
        ids = input_ids.cpu().numpy()
        mask = numpy.ones_like(ids) if attention_mask is None else attention_mask.cpu().numpy()
        types = numpy.zeros_like(ids) if token_type_ids is None else token_type_ids.cpu().numpy()
        inputs = (embeds.astype(numpy.float32, copy=False), mask.astype(numpy.int64), types.astype(numpy.int64))
        session = self.session
        feed = {k: v for k, v in zip(INPUT_NAMES, inputs) if k in self._input_names}
        states = tuple(torch.from_numpy(h) for h in session.run(None, feed))
        return BaseModelOutput(last_hidden_state=states[-1], hidden_states=states)

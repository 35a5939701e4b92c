"""What a trained fusion pipeline learned: its encoder, selected layers and fusion weights.

For each FusionListener in the pipeline (a model node with the refs "listener" and "fusion",
its selected layers in the node named "layer-pooling"), ``inspect_pipeline`` reports one
weight per selected layer:

* ScalarMix: s = softmax(w) and gamma (parameters only, no text needed).
* AIF: mean over sample tokens and features of its per-layer weights ``AIF.weights``.
* DLFA: mean gate g over sample tokens and features: [g, 1 - g] for [lower, last].
* LayerAttention: mean attention a_t over sample tokens.
* LastLayer: 1.0.

Token-dependent weights are measured on ``SAMPLE_SENTENCES`` (a few short sentences in
several languages and scripts, NFC), with every padding position masked out.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy
import torch
from spacy.language import Language
from thinc.api import Model

from .atomic_write import atomic_output
from .layers.fusion_layer import pad_stack, torch_module
from .layer_indices import resolve_layers

SAMPLE_SENTENCES: Tuple[Tuple[str, str], ...] = (
    ("en", "The children walked to the old house after school."),
    ("de", "Der Hund schläft unter dem großen Tisch."),
    ("yo", "Ọmọ náà lọ sí ilé ìwé ní òwúrọ̀."),
    ("tl", "Pumunta ang bata sa bahay ng kanyang lola."),
    ("ta", "குழந்தை பள்ளிக்கு நடந்து சென்றது."),
    ("kk", "Бала мектепке жаяу барды."),
    ("hi", "बच्चा स्कूल से घर गया।"),
    ("eu", "Umeak etxera joan ziren eskolatik."),
    ("vi", "Đứa trẻ đi bộ về nhà sau giờ học."),
    ("th", "เด็กเดินกลับบ้านหลังเลิกเรียน"),
)


@dataclass
class EncoderInfo:
    component: str
    name: str
    hidden_size: Optional[int]
    n_hidden_states: Optional[int]  # embedding output + one per layer


@dataclass
class FusionInfo:
    component: str
    fusion: str  # registered name, e.g. "layer_fusion.AIF.v1"
    layers: List[int]  # as configured
    resolved: Optional[List[int]]  # 0..L, when the number of hidden states is known
    weights: List[float]  # one per selected layer
    measure: str  # how ``weights`` was obtained
    gamma: Optional[float] = None
    n_tokens: int = 0  # sample tokens measured (0: parameters only)


@dataclass
class Inspection:
    encoders: List[EncoderInfo] = field(default_factory=list)
    fusions: List[FusionInfo] = field(default_factory=list)


def find_fusion_listeners(nlp: Language) -> List[Tuple[str, Model]]:
    """(component name, FusionListener node) for every fusion listener in the pipeline."""
    found = []
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if not isinstance(model, Model):
            continue
        for node in model.walk():
            if node.has_ref("fusion") and node.has_ref("listener"):
                found.append((name, node))
    return found


def _transformers(nlp: Language) -> List[Tuple[str, object]]:
    return [
        (name, pipe)
        for name, pipe in nlp.pipeline
        if isinstance(getattr(pipe, "model", None), Model) and "get_spans" in pipe.model.attrs
    ]


def encoder_info(name: str, pipe) -> EncoderInfo:
    model = pipe.model
    config = getattr(model.transformer, "config", None) if model.attrs.get("has_transformer") else None
    layers = getattr(config, "num_hidden_layers", None)
    return EncoderInfo(
        component=name,
        name=str(model.attrs.get("name", "?")),
        hidden_size=getattr(config, "hidden_size", None),
        n_hidden_states=layers + 1 if layers is not None else None,
    )


class NoEnabledTransformer(ValueError):
    """A fusion whose weights depend on its inputs, in a pipeline with no enabled transformer."""


def inspect_pipeline(nlp: Language, samples: Optional[Iterable[str]] = None) -> Inspection:
    """Encoders and learned fusion weights of ``nlp`` (see the module docstring), measured
    on ``samples`` (default: ``SAMPLE_SENTENCES``)."""
    if samples is None:
        samples = [text for _, text in SAMPLE_SENTENCES]
    samples = [unicodedata.normalize("NFC", s) for s in samples]
    trfs = _transformers(nlp)
    result = Inspection(encoders=[encoder_info(name, pipe) for name, pipe in trfs])
    listeners = find_fusion_listeners(nlp)
    if not listeners:
        return result
    docs = []
    if trfs:
        with nlp.select_pipes(enable=[name for name, _ in trfs]):
            docs = list(nlp.pipe(samples))
    for component, node in listeners:
        if not trfs and torch_module(node.get_ref("fusion")).mixture_reads_inputs:
            disabled = [name for name in nlp.disabled if name not in dict(nlp.pipeline)]
            raise NoEnabledTransformer(
                f"the {component}'s fusion weighs the transformer's hidden states, but no transformer "
                f"component is enabled" + (f" (disabled: {', '.join(disabled)}; enable it)" if disabled else ""))
        result.fusions.append(_fusion_info(component, node, docs, result.encoders))
    return result


def _fusion_info(component: str, node: Model, docs, encoders: List[EncoderInfo]) -> FusionInfo:
    fusion = node.get_ref("fusion")
    pooling = next(n for n in node.walk() if n.name == "layer-pooling")
    layers = list(pooling.attrs["layers"])
    n_states = next((e.n_hidden_states for e in encoders if e.n_hidden_states), None)
    resolved = resolve_layers(layers, n_states) if n_states else None
    module = torch_module(fusion)
    info = FusionInfo(component, fusion.name, layers, resolved, weights=[], measure=module.mixture_measure)
    if hasattr(module, "gamma"):
        info.gamma = float(module.gamma.detach())
    dtype = next(module.parameters(), torch.zeros(())).dtype
    if module.mixture_reads_inputs:
        layers_t, mask_t = _fusion_inputs(node, pooling, docs)
        info.n_tokens = int(mask_t.sum())
        layers_t = layers_t.to(dtype)
    else:
        layers_t, mask_t = torch.zeros((0, 0, len(layers), 0), dtype=dtype), torch.zeros((0, 0), dtype=torch.bool)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        info.weights = [float(x) for x in module.mixture(layers_t, mask_t)]
    module.train(was_training)
    return info


def _fusion_inputs(node: Model, pooling: Model, docs) -> Tuple[torch.Tensor, torch.Tensor]:
    """The stacked selected layers (B, T, n, H) of ``docs`` and their mask (B, T)."""
    listener = node.get_ref("listener")
    stacked = pooling.predict(listener.predict(docs))  # one (n_tokens, n, H) per doc
    stacked = [numpy.asarray(x) for x in stacked if x.shape[0] > 0]
    if not stacked:
        raise ValueError("the sample sentences gave no tokens to measure the fusion on")
    padded, mask, _ = pad_stack(stacked, dtype="float32")
    return torch.from_numpy(padded), torch.from_numpy(mask)


def layer_label(info: FusionInfo, j: int) -> str:
    layer = info.layers[j]
    if info.resolved is not None and info.resolved[j] != layer:
        return f"{layer} (= {info.resolved[j]})"
    return str(layer)


def plot_weights(inspection: Inspection, path: Union[str, Path]) -> Path:
    """Bar chart of each fusion's per-layer weights, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fusions = inspection.fusions
    if not fusions:
        raise ValueError("the pipeline has no fusion listener to plot")
    fig, axes = plt.subplots(1, len(fusions), figsize=(4 + 1.2 * max(len(f.weights) for f in fusions) * len(fusions), 3.5), squeeze=False)
    for ax, info in zip(axes[0], fusions):
        labels = [layer_label(info, j) for j in range(len(info.weights))]
        ax.bar(range(len(info.weights)), info.weights, color="tab:blue")
        ax.set_xticks(range(len(info.weights)), labels)
        ax.set_xlabel("hidden state (0 = embeddings)")
        ax.set_ylabel("weight")
        ax.set_ylim(0, max(1.0, max(info.weights, default=1.0)))
        title = f"{info.component}: {info.fusion.split('.')[-2] if '.' in info.fusion else info.fusion}"
        if info.gamma is not None:
            title += f" (gamma {info.gamma:.3f})"
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    try:  # through a temp file: a full disk leaves no truncated image (nor replaces a good one)
        with atomic_output(path, "wb") as handle:
            fig.savefig(handle, dpi=120, format=path.suffix.lstrip(".").lower() or None)
    finally:
        plt.close(fig)
    return path


def table_rows(info: FusionInfo) -> List[Sequence[str]]:
    rows = [(layer_label(info, j), f"{w:.4f}") for j, w in enumerate(info.weights)]
    if info.gamma is not None:
        rows.append(("gamma", f"{info.gamma:.4f}"))
    return rows

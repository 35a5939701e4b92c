"""Freeze parts of a transformer component after initialization.

Freezing here means ``requires_grad = False``: the parameter gets no gradient, so
the optimizer skips it entirely. (``grad_factor = 0`` does not freeze: Adam's
weight decay, ``w -= lr * L2 * w``, still moves every parameter it sees.)
Freezing the 250k x 384 word-embedding matrix of multilingual-e5-small also
saves its Adam moments (about 0.8 GB) and most of the backward cost.
"""
from typing import Callable, List

from spacy.language import Language
from spacy.util import registry

from .line_printer import LinePrinter

msg = LinePrinter()


@registry.callbacks("layer_fusion.freeze_parameters.v1")
def create_freeze_parameters(
    component: str = "transformer",
    patterns: List[str] = ["embeddings.word_embeddings"],
) -> Callable[[Language], Language]:
    """An ``[initialize.after_init]`` callback: freeze every parameter of the
    transformer in ``component`` whose name contains one of ``patterns``
    (Hugging Face parameter names, e.g. "embeddings.word_embeddings", or
    "encoder.layer.0." for the first layer; "" freezes everything)."""

    def freeze_parameters(nlp: Language) -> Language:
        if component not in nlp.component_names:
            raise ValueError(
                f"freeze_parameters: component='{component}' is not in the pipeline "
                f"{nlp.component_names}"
            )
        transformer = nlp.get_pipe(component).model.transformer
        frozen = [
            (name, p)
            for name, p in transformer.named_parameters()
            if any(pattern in name for pattern in patterns)
        ]
        if not frozen:
            raise ValueError(
                f"freeze_parameters: patterns={patterns} match no parameter of '{component}'"
            )
        for _, p in frozen:
            p.requires_grad_(False)
        n_frozen = sum(p.numel() for _, p in frozen)
        n_total = sum(p.numel() for p in transformer.parameters())
        msg.info(
            f"Froze {n_frozen:,} of {n_total:,} parameters of '{component}' "
            f"({len(frozen)} tensors matching {patterns})"
        )
        return nlp

    return freeze_parameters


@registry.callbacks("layer_fusion.freeze_encoder.v1")
def create_freeze_encoder(
    component: str = "transformer",
    bottom_layers: int = 0,
) -> Callable[[Language], Language]:
    """An ``[initialize.after_init]`` callback for fine-tuning on a budget: freeze the
    word embeddings, and with ``bottom_layers = k > 0`` the whole embedding block and
    transformer layers 0..k-1 as well.

    Nothing below layer k then requires a gradient, so torch records no autograd
    graph there: the frozen part costs a forward pass only, and hidden states
    0..k carry no gradient (the transformer model skips them in backward).
    k = 0 freezes only the 250k-row word-embedding matrix (most of the Adam memory).
    """
    if bottom_layers < 0:
        raise ValueError(f"freeze_encoder: bottom_layers={bottom_layers} must be >= 0")

    def freeze_encoder(nlp: Language) -> Language:
        # component_names, not pipe_names: a sourced transformer (the UPOS stage of a
        # sequential run) is disabled while spaCy initializes the other components.
        if component not in nlp.component_names:
            raise ValueError(
                f"freeze_encoder: component='{component}' is not in the pipeline {nlp.component_names}"
            )
        transformer = nlp.get_pipe(component).model.transformer
        n_layers = transformer.config.num_hidden_layers
        if bottom_layers > n_layers:
            raise ValueError(
                f"freeze_encoder: bottom_layers={bottom_layers}, but '{component}' has only "
                f"{n_layers} layers"
            )
        patterns = ["embeddings.word_embeddings"]
        if bottom_layers > 0:
            patterns = ["embeddings."] + [f"encoder.layer.{i}." for i in range(bottom_layers)]
        return create_freeze_parameters(component, patterns)(nlp)

    return freeze_encoder

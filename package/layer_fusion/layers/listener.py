"""The listener node of a fusion pipeline: receives TransformerData from upstream."""
from dataclasses import dataclass
from typing import List, Union

from spacy.errors import Errors
from spacy.tokens import Doc
from spacy_transformers.data_classes import TransformerData
from spacy_transformers.layers.listener import TransformerListener


@dataclass(frozen=True)
class NotAnnotated:
    """Stands in for the TransformerData of a doc the transformer has not seen."""

    n_tokens: int


class FusionTransformerListener(TransformerListener):
    """A ``TransformerListener`` (so the Transformer component finds it and feeds it
    during training) that, at prediction time, passes ``NotAnnotated(len(doc))`` for a doc that the
    transformer did not annotate instead of a zero-filled last layer. The layer
    after it then knows to emit zeros for every selected layer.
    """

    name = "fusion-transformer-listener"

    def __init__(self, upstream_name: str):
        super().__init__(upstream_name)
        self._func = forward


def forward(model: FusionTransformerListener, docs: List[Doc], is_train: bool):
    if is_train and model._batch_id is not None:
        model.verify_inputs(docs)
        return model._outputs, model.backprop_and_clear
    outputs: List[Union[TransformerData, NotAnnotated]] = []
    for doc in docs:
        trf_data = doc._.get("trf_data") if doc.has_extension("trf_data") else None
        if trf_data is None and is_train:
            # Training with a frozen transformer: it must be an annotating component.
            raise ValueError(Errors.E203.format(name="transformer"))
        outputs.append(trf_data if trf_data is not None else NotAnnotated(len(doc)))
    return outputs, lambda d_outputs: []

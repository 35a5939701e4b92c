"""Pipelines changed for tagging only refuse to be saved, loaded into or trained.

``quantize_encoder`` (int8 matrix products) and ``embeddings_from_files`` (word embeddings
read from the encoder's files) change a loaded pipeline's encoder in ways its
serialization does not know: an int8 encoder's state dict does not fit the fp32 model its
config builds, and a file-backed embedding table is not in the state dict at all. Saving
such a pipeline used to write a folder that no longer loads (over the original, when saved
in place), and ``to_bytes``/``from_bytes`` restored a pipeline that tagged garbage.

``mark_inference_only(nlp, reason, components)`` makes the ``REFUSED`` methods of ``nlp``
(saving, loading into, initializing, training), and the ``REFUSED_BY_COMPONENTS`` methods of
the changed components (one saved or loaded alone), raise ``InferenceOnlyError`` before
anything is read or written. The refusals are instance attributes of picklable objects, so
a pickled copy (``nlp.pipe(n_process=...)`` with spawn) refuses too.
"""
from __future__ import annotations

from typing import Iterable

REFUSED = ("to_disk", "to_bytes", "from_disk", "from_bytes", "initialize", "update", "rehearse", "resume_training")
REFUSED_BY_COMPONENTS = ("to_disk", "to_bytes", "from_disk", "from_bytes", "initialize", "update", "rehearse")


class InferenceOnlyError(RuntimeError):
    """An operation a pipeline changed for tagging only cannot do."""


class _Refusal:
    def __init__(self, operation: str, reasons, owner: str = "nlp"):
        self.operation = operation
        self.owner = owner  # "nlp", or the component's name
        self.reasons = reasons  # shared by the refusals of one pipeline: a later mark adds to it

    def __call__(self, *args, **kwargs):
        raise InferenceOnlyError(
            f"{self.owner}.{self.operation}: this pipeline was changed for tagging only "
            f"({'; '.join(self.reasons)}). Load it again with spacy.load to save or train it"
        )


def mark_inference_only(nlp, reason: str, components: Iterable[str] = ()) -> None:
    """Make ``nlp`` refuse ``REFUSED`` operations, and its components named in ``components``
    (those changed) ``REFUSED_BY_COMPONENTS``, saying ``reason`` (what was changed)."""
    existing = nlp.__dict__.get("to_disk")
    if isinstance(existing, _Refusal):
        reasons = existing.reasons
        if reason not in reasons:
            reasons.append(reason)
    else:
        reasons = [reason]
        for operation in REFUSED:
            setattr(nlp, operation, _Refusal(operation, reasons))
    for name in components:
        pipe = nlp.get_pipe(name)
        for operation in REFUSED_BY_COMPONENTS:
            setattr(pipe, operation, _Refusal(operation, reasons, owner=f"nlp.get_pipe({name!r})"))

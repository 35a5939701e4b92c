"""Pipelines changed for tagging only refuse to be saved, loaded into or trained.

``quantize_encoder`` (int8 matrix products) and ``embeddings_from_files`` (word embeddings
read from the encoder's files) change a loaded pipeline's encoder in ways its
serialization does not know: an int8 encoder's state dict does not fit the fp32 model its
config builds, and a file-backed embedding table is not in the state dict at all. Saving
such a pipeline used to write a folder that no longer loads (over the original, when saved
in place), and ``to_bytes``/``from_bytes`` restored a pipeline that tagged garbage.

``mark_inference_only(nlp, reason)`` makes the ``REFUSED`` methods of ``nlp`` (saving,
loading into, initializing, training) raise ``InferenceOnlyError`` before anything is read
or written. The refusals are instance attributes of picklable objects, so a pickled copy
(``nlp.pipe(n_process=...)`` with spawn) refuses too. The components' own methods (a
component saved alone) are not guarded.
"""
from __future__ import annotations

REFUSED = ("to_disk", "to_bytes", "from_disk", "from_bytes", "initialize", "update", "rehearse", "resume_training")


class InferenceOnlyError(RuntimeError):
    """An operation a pipeline changed for tagging only cannot do."""


class _Refusal:
    def __init__(self, operation: str, reasons):
        self.operation = operation
        self.reasons = reasons  # shared by the refusals of one pipeline: a later mark adds to it

    def __call__(self, *args, **kwargs):
        raise InferenceOnlyError(
            f"nlp.{self.operation}: this pipeline was changed for tagging only ({'; '.join(self.reasons)}). "
            "Load it again with spacy.load to save or train it"
        )


def mark_inference_only(nlp, reason: str) -> None:
    """Make ``nlp`` refuse ``REFUSED`` operations, saying ``reason`` (what was changed)."""
    existing = nlp.__dict__.get("to_disk")
    if isinstance(existing, _Refusal):
        if reason not in existing.reasons:
            existing.reasons.append(reason)
        return
    reasons = [reason]
    for operation in REFUSED:
        setattr(nlp, operation, _Refusal(operation, reasons))

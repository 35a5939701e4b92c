"""Hidden-state indices as configs give them: 0 is the embedding output, 1..L the
transformer layers, negative indices count from the top (-1 = the last layer).

Shared by the spaCy path (``layers.layer_pooling``) and the torch-only research path
(``research.fusion_head``), so both accept and reject the same ``layers``.
"""
from typing import List, Sequence


def resolve_layers(layers: Sequence[int], n_hidden_states: int) -> List[int]:
    """Map negative indices (from the top) to 0..n_hidden_states-1, or raise ValueError."""
    bad = [k for k in layers if not -n_hidden_states <= k < n_hidden_states]
    if bad:
        raise ValueError(
            f"layers={list(layers)}: {bad} out of range for a transformer with "
            f"{n_hidden_states} hidden states (use 0..{n_hidden_states - 1}, 0 = "
            f"embedding output, or -{n_hidden_states}..-1 from the top)"
        )
    return [k % n_hidden_states for k in layers]

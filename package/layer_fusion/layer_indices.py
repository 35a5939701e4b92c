"""Hidden-state indices as configs give them: 0 is the embedding output, 1..L the
transformer layers, negative indices count from the top (-1 = the last layer).

Shared by the spaCy path (``layers.layer_pooling``) and the torch-only research path
(``research.fusion_head``), so both accept and reject the same ``layers``.
"""
from typing import List, Sequence


def resolve_layers(layers: Sequence[int], n_hidden_states: int) -> List[int]:
    """Map negative indices (from the top) to 0..n_hidden_states-1, or raise ValueError if
    one is out of range or two name the same hidden state."""
    bad = [k for k in layers if not -n_hidden_states <= k < n_hidden_states]
    if bad:
        raise ValueError(
            f"layers={list(layers)}: {bad} out of range for a transformer with "
            f"{n_hidden_states} hidden states (use 0..{n_hidden_states - 1}, 0 = "
            f"embedding output, or -{n_hidden_states}..-1 from the top)"
        )
    resolved = [k % n_hidden_states for k in layers]
    if len(set(resolved)) != len(resolved):
        # [4, 4], or [6, -1] on 7 hidden states: a fusion of one hidden state with itself
        raise ValueError(
            f"layers={list(layers)} names a hidden state twice (as {resolved} of a transformer with "
            f"{n_hidden_states} hidden states): a fusion needs different hidden states"
        )
    return resolved

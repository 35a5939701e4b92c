"""The encoder's inference over a batch larger than the component's bound: in passes of whole
rows, each within the bound, written into one output, which keeps only the hidden states
that will be read.

Why. ``FusionTransformer.pipe`` keeps a batch of several docs within ``max_batch_items``
padded wordpieces, but never splits a doc, so ``nlp(text)`` on a long text was one forward
pass over all its windows: every layer's activations for every window at once, and all 13
hidden states kept, each padded to the doc's widest window. 1,000 sentences of English-EWT
test as one text (13,180 words) took 6.7 GB at the peak (``scripts/bench_long_doc.py``).

Rows (encoder windows) do not attend to each other, so a pass over some rows gives them the
output that one pass over all gives them: up to floating-point summation order in fp32; an
int8 encoder scales its activations per pass, so its output depends on a pass's rows, as it
already depended on a batch's. Rows are grouped by length, shortest first
(``length_order.padded_batches``), and each pass is cut to its longest row, so a pass pads
less than the whole batch did. Padding must be on the right (``attention_mask`` ones, then
zeros): a batch padded otherwise runs in one pass.

``FusionTransformer.predict`` turns this on for the length of its call, in its thread
(``PASSES``, a context variable, so that two threads tagging with one pipeline do not see
each other's setting); the shim (``averaging_shim.py``) reads it.

Packed output. Kept in the padded layout, a long text's states are still mostly padding:
its windows are its sentences, and every one is padded to the widest (13,180 words of
English-EWT: 642 windows padded to 286 pieces, 11% of them real; 268 MB per state). Where
the forward that builds the batch can take it (``word_alignment._forward`` asks, through
``PassSettings.pack``), ``predict_packed`` writes only the rows' real positions, row after
row: each state is (1, N, H), N the sum of the rows' lengths, and ``packed_batch.py`` builds
the batch around it.

Output: the encoder's output class with

    last_hidden_state   (rows, W, H)
    hidden_states       L + 1 tensors (rows, W, H), in the encoder's order
    pooler_output       (rows, H), when the encoder gives one

W: the batch's width (``input_ids.shape[1]``). Padding positions, which no token is aligned
to, hold zeros. A hidden state not
in ``keep`` is empty, (rows, 0, H): code that reads it fails or reads nothing, instead of
reading zeros taken for the encoder's (the component empties it when it sets the
annotations anyway, as it does every hidden state no listener reads). ``last_hidden_state``
is the same tensor as ``hidden_states[-1]`` where the encoder gives it so (BERT, XLM-R), and
its own otherwise (ModernBERT's last hidden state comes before its final norm).

An encoder whose hidden states are not all (rows, W, H) (CANINE downsamples some), or that
gives outputs other than these (attentions), runs in one pass.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch

from ..length_order import padded_batches

# The outputs that passes can be written into; an encoder that gives others (attentions)
# runs in one pass.
_COMBINED = {"last_hidden_state", "hidden_states", "pooler_output"}


@dataclass
class PassSettings:
    """What ``FusionTransformer.predict`` sets for its call (``PASSES``).

    max_items: the bound, padded positions per pass.
    keep: the hidden states to fill (indices into ``hidden_states``); None: all of them.
    pack: set by a forward that builds its batch around a packed output, for its call.
    packed_lengths: set by the shim when the output it returned is packed: the rows' lengths."""

    max_items: int
    keep: Optional[List[int]] = None
    pack: bool = False
    packed_lengths: Optional[List[int]] = None


# The settings of the FusionTransformer.predict call running in this context; None otherwise.
PASSES: ContextVar[Optional[PassSettings]] = ContextVar("layer_fusion_passes", default=None)


def predict_in_passes(run: Callable[[Dict[str, Any]], Any], kwargs: Dict[str, Any], max_items: int,
                      keep: Optional[Iterable[int]] = None):
    """``run(kwargs)``'s output, computed in passes of at most ``max_items`` padded positions
    (rows x longest row; a row longer than that is a pass alone).

    run: the encoder's inference on keyword arguments (``input_ids`` (rows, W), and
        ``attention_mask``, ``token_type_ids`` of the same shape; others passed as given).
    keep: the hidden states to fill (indices into ``hidden_states``, negative ones from the
        end); None: all of them."""
    return _passes(run, kwargs, max_items, keep, pack=False)[0]


def predict_packed(run: Callable[[Dict[str, Any]], Any], kwargs: Dict[str, Any], max_items: int,
                   keep: Optional[Iterable[int]] = None) -> Tuple[Any, Optional[List[int]]]:
    """``(output, lengths)``: as ``predict_in_passes``, but each state holds only the rows'
    real positions, row after row, (1, N, H) with N = sum(lengths):

        packed[0, start_r + j] = padded[r, j]    for j < lengths[r],  start_r = sum(lengths[:r])

    ``pooler_output`` stays (rows, H). lengths[r]: row r's ``attention_mask`` ones (at least 1).
    Where the batch runs in one pass (see the module docstring) the output is padded, and
    lengths None."""
    return _passes(run, kwargs, max_items, keep, pack=True)


def _passes(run, kwargs, max_items, keep, pack: bool):
    ids = kwargs["input_ids"]
    n_rows, width = ids.shape
    mask = kwargs.get("attention_mask")
    if mask is not None and bool((mask[:, 1:] > mask[:, :-1]).any()):
        return run(kwargs), None  # not padded on the right: a row cut to its length would lose tokens
    lengths = mask.sum(dim=1).tolist() if mask is not None else [width] * n_rows
    lengths = [max(1, int(n)) for n in lengths]
    starts = [0]  # where each row begins in a flattened state
    for n in lengths:
        starts.append(starts[-1] + n)
    if not pack:
        starts = [r * width for r in range(n_rows + 1)]
    outputs: Optional[Dict[str, Any]] = None
    output_type = None
    for batch in padded_batches(lengths, max_items):
        rows = torch.tensor(batch, dtype=torch.long, device=ids.device)
        longest = max(lengths[i] for i in batch)
        out = run({k: _rows(v, rows, longest, ids.shape) for k, v in kwargs.items()})
        if outputs is None:
            if set(k for k, v in out.items() if v is not None) - _COMBINED or not _combinable(out, len(batch), longest):
                return run(kwargs), None
            output_type = type(out)
            outputs = _allocate(out, n_rows, 1 if pack else n_rows, starts[-1] if pack else width, keep)
        _write(outputs, out, batch, lengths, starts, longest)
        del out  # not held while the next pass runs
    return output_type(**outputs), (lengths if pack else None)


def _rows(value: Any, rows: torch.Tensor, longest: int, shape) -> Any:
    """``value``'s ``rows``, cut to ``longest`` positions, when it is a (rows, W) input."""
    if torch.is_tensor(value) and tuple(value.shape) == tuple(shape):
        return value.index_select(0, rows)[:, :longest]
    return value


def _combinable(out, rows: int, longest: int) -> bool:
    """Whether every state of a pass's output (``rows`` rows cut to ``longest``) is
    (rows, longest, H) with the last hidden state's H and dtype, so that passes can be written
    into one tensor per state."""
    last = out["last_hidden_state"]
    shape = (rows, longest, last.shape[-1])
    states = [last, *(out.get("hidden_states") or ())]
    return all(tuple(s.shape) == shape and s.dtype == last.dtype for s in states)


def _allocate(out, n_rows: int, state_rows: int, width: int, keep: Optional[Iterable[int]]) -> Dict[str, Any]:
    """Zeroed outputs for all ``n_rows`` rows, shaped as ``out`` (the first pass's): states
    (state_rows, width, H), the hidden states not kept empty, (state_rows, 0, H); the pooled
    output (n_rows, ...)."""
    last = out["last_hidden_state"]
    hidden_size = last.shape[-1]

    def zeros(positions: int = width) -> torch.Tensor:
        return torch.zeros((state_rows, positions, hidden_size), dtype=last.dtype, device=last.device)

    outputs: Dict[str, Any] = {"last_hidden_state": zeros()}
    hidden = out.get("hidden_states")
    if hidden is not None:
        n = len(hidden)
        kept = set(range(n)) if keep is None else {i % n for i in keep if -n <= i < n}
        shared = hidden[-1] is last  # as the encoder gives them, one tensor or two
        states = [zeros() if i in kept and not (i == n - 1 and shared) else zeros(0) for i in range(n)]
        if shared and n - 1 in kept:
            states[n - 1] = outputs["last_hidden_state"]
        outputs["hidden_states"] = tuple(states)
    pooled = out.get("pooler_output")
    if pooled is not None:
        outputs["pooler_output"] = torch.zeros((n_rows, *pooled.shape[1:]), dtype=pooled.dtype, device=pooled.device)
    return outputs


def _write(outputs: Dict[str, Any], out, batch: List[int], lengths: List[int], starts: List[int],
           longest: int) -> None:
    """Copy a pass's output for rows ``batch`` into ``outputs``, each state seen flattened,
    (state rows x positions, H): row r's first lengths[r] positions to [starts[r],
    starts[r] + lengths[r]) (r * W for the padded layout, the rows before it for the packed)."""
    device = out["last_hidden_state"].device
    source = torch.cat([torch.arange(lengths[r]) + i * longest for i, r in enumerate(batch)]).to(device)
    target = torch.cat([torch.arange(lengths[r]) + starts[r] for r in batch]).to(device)
    last = outputs["last_hidden_state"]
    pairs = [(last, out["last_hidden_state"])]
    pairs += [(state, got) for state, got in zip(outputs.get("hidden_states", ()), out.get("hidden_states") or ())
              if state.shape[1] and state is not last]  # kept, and not written as last_hidden_state
    for state, got in pairs:
        state.view(-1, state.shape[-1]).index_copy_(0, target, got.reshape(-1, got.shape[-1]).index_select(0, source))
    if "pooler_output" in outputs:
        outputs["pooler_output"][torch.tensor(batch, dtype=torch.long, device=device)] = out["pooler_output"]

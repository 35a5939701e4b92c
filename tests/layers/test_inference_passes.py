"""layers/inference_passes.py: a batch run in passes of whole rows gives each row the output
one pass gives it, keeps only the hidden states asked for, and falls back to one pass for
outputs it cannot combine. The encoder here is a small pure-torch stand-in whose rows do
not see each other, as an encoder's windows do not."""
import pytest
import torch
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling

from layer_fusion.layers.inference_passes import predict_in_passes, predict_packed

N_STATES = 4


def _encoder(calls, pooled=False, attentions=False, normed_last=False, downsampled=False):
    """Hidden state l of a row: a masked running sum of its embedded ids, times l + 1.
    normed_last: ``last_hidden_state`` is the last hidden state halved, a tensor of its own
    (ModernBERT's comes after a final norm); downsampled: hidden state 1 keeps every other
    position (CANINE's are shorter)."""
    torch.manual_seed(0)
    table = torch.randn(50, 6)

    def run(kwargs):
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        calls.append(tuple(ids.shape))
        x = (table[ids] * mask[..., None]).cumsum(dim=1) + kwargs["token_type_ids"][..., None]
        states = tuple(x * (layer + 1) for layer in range(N_STATES))
        if downsampled:
            states = (states[0], states[1][:, ::2], *states[2:])
        last = states[-1] / 2 if normed_last else states[-1]
        extra = {"attentions": (x.sum(-1),)} if attentions else {}
        if pooled:
            return BaseModelOutputWithPooling(last_hidden_state=last, hidden_states=states,
                                              pooler_output=states[-1][:, 0].tanh(), **extra)
        return BaseModelOutput(last_hidden_state=last, hidden_states=states, **extra)

    return run


def _inputs(lengths, width):
    torch.manual_seed(1)
    ids = torch.randint(1, 50, (len(lengths), width))
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    ids = ids * mask  # padding id 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids) + 1,
            "output_hidden_states": True}


LENGTHS = [3, 9, 2, 9, 5, 1, 7, 4]


@pytest.mark.parametrize("pooled", [False, True])
def test_passes_give_every_row_its_one_pass_output(pooled):
    kwargs = _inputs(LENGTHS, 9)
    calls = []
    one = _encoder(calls, pooled)(kwargs)
    calls.clear()
    got = predict_in_passes(_encoder(calls, pooled), kwargs, max_items=18)
    assert type(got) is type(one) and len(calls) > 1
    assert all(rows * width <= 18 for rows, width in calls), calls  # within the bound
    assert sum(rows for rows, _ in calls) == len(LENGTHS)  # each row once
    assert {width for _, width in calls} <= set(LENGTHS) and min(width for _, width in calls) < 9  # cut to its longest row
    for got_state, one_state in zip(got.hidden_states, one.hidden_states):
        assert got_state.shape == one_state.shape
        for row, n in enumerate(LENGTHS):
            torch.testing.assert_close(got_state[row, :n], one_state[row, :n])  # padding aside
    assert got.last_hidden_state is got.hidden_states[-1]
    if pooled:
        torch.testing.assert_close(got.pooler_output, one.pooler_output)


def test_a_row_over_the_bound_is_a_pass_alone():
    calls = []
    got = predict_in_passes(_encoder(calls), _inputs([9, 2, 2], 9), max_items=4)
    assert sorted(calls) == [(1, 9), (2, 2)]
    assert got.last_hidden_state.shape == (3, 9, 6)


def test_only_the_hidden_states_kept_are_filled_the_others_are_empty():
    """Not zeros, which a reader would take for the encoder's: (rows, 0, H), no memory."""
    kwargs = _inputs(LENGTHS, 9)
    one = _encoder([])(kwargs)
    got = predict_in_passes(_encoder([]), kwargs, max_items=18, keep=[1, -1])
    for layer, state in enumerate(got.hidden_states):
        if layer in (1, N_STATES - 1):
            assert state.shape == one.hidden_states[layer].shape
            for row, n in enumerate(LENGTHS):
                torch.testing.assert_close(state[row, :n], one.hidden_states[layer][row, :n])
        else:
            assert state.shape == (len(LENGTHS), 0, 6)
    last_not_kept = predict_in_passes(_encoder([]), kwargs, max_items=18, keep=[0])
    torch.testing.assert_close(last_not_kept.last_hidden_state[0, :3], one.last_hidden_state[0, :3])
    assert last_not_kept.hidden_states[-1].shape == (len(LENGTHS), 0, 6)


@pytest.mark.parametrize("keep", [None, [-1], [0]])
def test_a_last_hidden_state_of_its_own_stays_its_own(keep):
    """An encoder whose ``last_hidden_state`` is not its last hidden state (a final norm
    between them): each keeps its own values; they were one tensor, the last hidden state
    overwritten by ``last_hidden_state``."""
    kwargs = _inputs(LENGTHS, 9)
    one = _encoder([], normed_last=True)(kwargs)
    got = predict_in_passes(_encoder([], normed_last=True), kwargs, max_items=18, keep=keep)
    last_kept = keep is None or -1 in keep
    assert got.last_hidden_state is not got.hidden_states[-1]
    assert got.hidden_states[-1].shape[1] == (9 if last_kept else 0)
    for row, n in enumerate(LENGTHS):
        torch.testing.assert_close(got.last_hidden_state[row, :n], one.last_hidden_state[row, :n])
        if last_kept:
            torch.testing.assert_close(got.hidden_states[-1][row, :n], one.hidden_states[-1][row, :n])


def test_hidden_states_of_another_width_fall_back_to_one_pass():
    """CANINE-like: a hidden state shorter than the input cannot be written row by row into
    (rows, W, H); the batch runs in one pass, as before passes existed."""
    kwargs = _inputs(LENGTHS, 9)
    calls = []
    got = predict_in_passes(_encoder(calls, downsampled=True), kwargs, max_items=18)
    assert calls[-1] == (len(LENGTHS), 9)
    one = _encoder([], downsampled=True)(kwargs)
    assert [tuple(s.shape) for s in got.hidden_states] == [tuple(s.shape) for s in one.hidden_states]
    torch.testing.assert_close(got.hidden_states[1], one.hidden_states[1])


def test_an_output_passes_cannot_combine_falls_back_to_one_pass():
    kwargs = _inputs(LENGTHS, 9)
    calls = []
    got = predict_in_passes(_encoder(calls, attentions=True), kwargs, max_items=18)
    assert calls[-1] == (len(LENGTHS), 9)  # the whole batch, after the first pass showed attentions
    torch.testing.assert_close(got.attentions[0], _encoder([], attentions=True)(kwargs).attentions[0])


def test_a_batch_not_padded_on_the_right_runs_in_one_pass():
    kwargs = _inputs([3, 5], 5)
    kwargs["attention_mask"] = kwargs["attention_mask"].flip(1)  # padded on the left
    calls = []
    predict_in_passes(_encoder(calls), kwargs, max_items=5)
    assert calls == [(2, 5)]


@pytest.mark.parametrize("keep,normed_last", [(None, False), ([1, -1], False), ([1], True)])
def test_packed_passes_hold_each_rows_real_positions_row_after_row(keep, normed_last):
    """``predict_packed``: state[0, start_r + j] = the one-pass state[r, j] for j < length_r;
    a state not kept is empty; ``last_hidden_state`` keeps its own values where it is its
    own; the pooled output stays a row each."""
    kwargs = _inputs(LENGTHS, 9)
    one = _encoder([], pooled=True, normed_last=normed_last)(kwargs)
    calls = []
    got, lengths = predict_packed(_encoder(calls, pooled=True, normed_last=normed_last), kwargs, max_items=18,
                                  keep=keep)
    assert lengths == LENGTHS and len(calls) > 1
    starts = [sum(LENGTHS[:r]) for r in range(len(LENGTHS))]
    kept = set(range(N_STATES)) if keep is None else {k % N_STATES for k in keep}
    states = [("last", got.last_hidden_state, one.last_hidden_state)]
    states += [(layer, state, want) for layer, (state, want) in enumerate(zip(got.hidden_states, one.hidden_states))]
    for layer, state, want in states:
        if layer != "last" and layer not in kept:
            assert state.shape == (1, 0, 6)
            continue
        assert state.shape == (1, sum(LENGTHS), 6)
        for row, n in enumerate(LENGTHS):
            torch.testing.assert_close(state[0, starts[row]:starts[row] + n], want[row, :n])
    assert (got.last_hidden_state is got.hidden_states[-1]) == (not normed_last and N_STATES - 1 in kept)
    torch.testing.assert_close(got.pooler_output, one.pooler_output)


def test_packed_passes_that_fall_back_to_one_pass_say_so():
    """Where the batch runs in one pass the output is padded, and no lengths come back."""
    kwargs = _inputs(LENGTHS, 9)
    got, lengths = predict_packed(_encoder([], attentions=True), kwargs, max_items=18)
    assert lengths is None and got.last_hidden_state.shape == (len(LENGTHS), 9, 6)

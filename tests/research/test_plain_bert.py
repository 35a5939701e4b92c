"""The plain-torch BERT encoder against ``transformers.BertModel`` on the same weights:
every hidden state, the gradients of the trainable part, and what freezing leaves alone."""
import pytest
import torch
from transformers import BertConfig, BertModel

from layer_fusion.research.plain_bert import PlainBert

CONFIG = dict(vocab_size=50, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
              intermediate_size=37, max_position_embeddings=40, hidden_act="gelu")


def _pair():
    torch.manual_seed(0)
    reference = BertModel(BertConfig(**CONFIG, attn_implementation="eager"), add_pooling_layer=False)
    with torch.no_grad():  # non-trivial LayerNorm and bias values
        for p in reference.parameters():
            p.add_(0.1 * torch.randn_like(p))
    plain = PlainBert(CONFIG)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith(("position_ids", "token_type_ids"))}
    plain.load_state_dict(state, strict=True)
    return reference, plain


def _batch():
    ids = torch.randint(0, 50, (3, 11), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 11, dtype=torch.bool)
    mask[1, 7:] = False
    mask[2, 3:] = False
    return ids, mask


def test_hidden_states_equal_bertmodel():
    reference, plain = _pair()
    ids, mask = _batch()
    reference.eval(), plain.eval()
    with torch.no_grad():
        want = reference(input_ids=ids, attention_mask=mask.long(), output_hidden_states=True).hidden_states
        got = plain(ids, mask)
    assert len(got) == len(want) == 5
    for k, (g, w) in enumerate(zip(got, want)):
        # Padded positions differ by design (never pooled): compare real wordpieces only.
        torch.testing.assert_close(g[mask], w[mask], rtol=1e-5, atol=1e-5, msg=f"hidden state {k}")


@pytest.mark.parametrize("k", [0, 2])
def test_gradients_equal_bertmodel_with_bottom_layers_frozen(k):
    reference, plain = _pair()
    ids, mask = _batch()
    reference.eval(), plain.eval()  # no dropout: the two draw different masks
    plain.freeze(k)
    reference.embeddings.word_embeddings.weight.requires_grad_(False)
    if k:
        for module in [reference.embeddings, *reference.encoder.layer[:k]]:
            module.requires_grad_(False)
    weights = torch.randn(5, 32, generator=torch.Generator().manual_seed(2))

    def loss(states):
        return sum((s[mask] * w).sum().sin() for s, w in zip(states, weights))

    loss(reference(input_ids=ids, attention_mask=mask.long(), output_hidden_states=True).hidden_states).backward()
    states = plain(ids, mask, frozen_below=k)
    # k = 0 trains the position and type embeddings and their LayerNorm: state 0 has a gradient.
    expected = [False] * (k + 1) + [True] * (4 - k) if k else [True] * 5
    assert [s.requires_grad for s in states] == expected
    loss(states).backward()
    ref_params = dict(reference.named_parameters())
    # float32 sums in another order: tolerance relative to the largest gradient (the key
    # bias's true gradient is 0, softmax being shift-invariant, so it holds rounding only).
    scale = max(float(p.grad.abs().max()) for p in ref_params.values() if p.grad is not None)
    n_checked = 0
    for name, p in plain.named_parameters():
        want = ref_params[name]
        assert p.requires_grad == want.requires_grad, name
        if p.requires_grad:
            torch.testing.assert_close(p.grad, want.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)
            n_checked += 1
        else:
            assert p.grad is None, name
    assert n_checked == 16 * (4 - k) + (4 if k == 0 else 0)


def test_freeze_rejects_more_layers_than_the_encoder_has():
    with pytest.raises(ValueError, match="bottom_layers = 5"):
        PlainBert(CONFIG).freeze(5)

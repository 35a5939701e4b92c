"""The torch fusion modules against their docstring equations."""
import pytest
import torch
import torch.nn.functional as F

from layer_fusion.fusion import AIF, DLFA, LastLayer, LayerAttention, ScalarMix

B, T, H = 2, 5, 8


def _inputs(n_layers: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    layers = torch.randn(B, T, n_layers, H, generator=g)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 3:] = False
    return layers, mask


@pytest.mark.parametrize(
    "module,n",
    [(LastLayer(1, H), 1), (DLFA(2, H), 2), (AIF(2, H, reduction=2), 2), (AIF(3, H, reduction=2), 3),
     (ScalarMix(4, H), 4), (LayerAttention(4, H), 4)],
)
def test_output_shape(module, n):
    layers, mask = _inputs(n)
    assert module(layers, mask).shape == (B, T, H)


def test_last_layer_is_identity():
    layers, mask = _inputs(1)
    assert torch.equal(LastLayer(1, H)(layers, mask), layers[:, :, 0])


def test_dlfa_equation():
    layers, mask = _inputs(2)
    m = DLFA(2, H)
    torch.nn.init.normal_(m.gate.weight)
    x, y = layers[:, :, 0], layers[:, :, 1]
    g = torch.sigmoid(torch.cat([x, y], -1) @ m.gate.weight.T + m.gate.bias)
    torch.testing.assert_close(m(layers, mask), g * x + (1 - g) * y)
    # Zero-initialised: the plain average of the two layers.
    torch.testing.assert_close(DLFA(2, H)(layers, mask), (x + y) / 2)


def _bottleneck(branch, z):
    """B(z) = W_2 ReLU(LN(W_1 z + b_1)) + b_2, from the parameters alone."""
    hidden = F.linear(z, branch.compress.weight, branch.compress.bias)
    hidden = F.layer_norm(hidden, hidden.shape[-1:], branch.norm.weight, branch.norm.bias, branch.norm.eps)
    return F.linear(torch.relu(hidden), branch.expand.weight, branch.expand.bias)


def _aif_logits(m, layers):
    """G + L_t of AIF's docstring, the global context averaged over the real tokens of `_inputs`."""
    X = layers.sum(dim=2)
    ctx = torch.stack([X[0].mean(0), X[1, :3].mean(0)])  # padding excluded
    return _bottleneck(m.global_branch, ctx).unsqueeze(1) + _bottleneck(m.local_branch, X)


def test_aif_two_layers_is_sigmoid_mixture():
    layers, mask = _inputs(2)
    m = _randomized(AIF(2, H, reduction=2))
    x, y = layers[:, :, 0], layers[:, :, 1]
    M = torch.sigmoid(_aif_logits(m, layers))
    torch.testing.assert_close(m(layers, mask), M * x + (1 - M) * y)


def test_aif_many_layers_is_a_softmax_over_layers_feature_by_feature():
    layers, mask = _inputs(3)
    m = _randomized(AIF(3, H, reduction=2))
    logits = _aif_logits(m, layers)  # (B, T, 3 H): layer k's logits are features k H .. (k + 1) H
    w = torch.softmax(torch.stack([logits[..., k * H:(k + 1) * H] for k in range(3)], dim=2), dim=2)
    torch.testing.assert_close(m.weights(layers, mask), w)
    torch.testing.assert_close(m(layers, mask), sum(w[:, :, k] * layers[:, :, k] for k in range(3)))
    assert not torch.allclose(w, torch.full_like(w, 1 / 3))  # the parameters matter

def test_aif_ignores_padding():
    """A doc's output must not depend on how much padding its batch adds."""
    layers, _ = _inputs(2)
    m = AIF(2, H, reduction=2)
    short = layers[1:, :3]
    alone = m(short, torch.ones(1, 3, dtype=torch.bool))
    padded = torch.zeros(1, T, 2, H)
    padded[:, :3] = short
    mask = torch.zeros(1, T, dtype=torch.bool)
    mask[:, :3] = True
    torch.testing.assert_close(m(padded, mask)[:, :3], alone)


def test_scalar_mix_equation_and_dropout():
    layers, mask = _inputs(4)
    m = ScalarMix(4, H, layer_dropout=0.5).eval()
    with torch.no_grad():
        m.scalars.copy_(torch.tensor([0.1, -0.3, 2.0, 0.5]))
        m.gamma.fill_(1.7)
    s = torch.softmax(m.scalars, 0)
    expected = 1.7 * sum(s[k] * layers[:, :, k] for k in range(4))
    torch.testing.assert_close(m(layers, mask), expected)
    m.train()
    g = torch.Generator().manual_seed(3)
    weights = [m.layer_weights(generator=g) for _ in range(50)]
    assert any((w == 0).any() for w in weights)  # some layers dropped
    assert all(torch.isclose(w.sum(), torch.tensor(1.0)) for w in weights)  # never all


def test_layer_attention_equation():
    layers, mask = _inputs(3)
    m = LayerAttention(3, H)
    torch.testing.assert_close(m(layers, mask), layers.mean(dim=2))  # zero init: uniform
    torch.nn.init.normal_(m.score.weight)
    a = torch.softmax(layers @ m.score.weight[0] + m.score.bias, dim=2)
    torch.testing.assert_close(m(layers, mask), (a.unsqueeze(-1) * layers).sum(2))


def test_bad_settings_name_the_setting():
    with pytest.raises(ValueError, match="reduction"):
        AIF(2, 10, reduction=3)
    with pytest.raises(ValueError, match="layer_dropout"):
        ScalarMix(2, H, layer_dropout=1.0)


def _randomized(module):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return module.eval()


@pytest.mark.parametrize(
    "module,n",
    [(LastLayer(1, H), 1), (DLFA(2, H), 2), (AIF(2, H, reduction=2), 2), (AIF(3, H, reduction=2), 3),
     (ScalarMix(4, H), 4), (LayerAttention(4, H), 4)],
)
def test_mixture_is_a_distribution_over_layers_of_real_tokens(module, n):
    module = _randomized(module)
    layers, mask = _inputs(n)
    with torch.no_grad():
        weights = module.mixture(layers, mask)
        assert weights.shape == (n,) and torch.all(weights >= 0)
        torch.testing.assert_close(weights.sum(), torch.tensor(1.0))
        noisy = layers.clone()
        noisy[~mask] = 1000.0  # padding must not move the measure
        torch.testing.assert_close(module.mixture(noisy, mask), weights)
    assert isinstance(module.mixture_measure, str) and module.mixture_measure


def test_mixture_equations():
    layers, mask = _inputs(4)
    with torch.no_grad():
        dlfa = _randomized(DLFA(2, H))
        x, y = layers[:, :, 0], layers[:, :, 1]
        g = torch.sigmoid(torch.cat([x, y], -1) @ dlfa.gate.weight.T + dlfa.gate.bias)[mask].mean()
        torch.testing.assert_close(dlfa.mixture(layers[:, :, :2], mask), torch.stack([g, 1 - g]))
        attention = _randomized(LayerAttention(4, H))
        a = torch.softmax(layers @ attention.score.weight[0] + attention.score.bias, dim=-1)
        torch.testing.assert_close(attention.mixture(layers, mask), a[mask].mean(0))
        mix = _randomized(ScalarMix(4, H))
        torch.testing.assert_close(mix.mixture(layers, mask), torch.softmax(mix.scalars, 0))
        aif = _randomized(AIF(3, H, reduction=2))
        logits = _aif_logits(aif, layers[:, :, :3])
        w = torch.softmax(torch.stack([logits[..., k * H:(k + 1) * H] for k in range(3)], dim=2), dim=2)
        torch.testing.assert_close(aif.mixture(layers[:, :, :3], mask), w[mask].mean(dim=(0, 2)))
        assert LastLayer(1, H).mixture(layers[:, :, :1], mask).tolist() == [1.0]

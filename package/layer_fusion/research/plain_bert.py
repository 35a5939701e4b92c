"""A BERT encoder in plain torch, with Hugging Face's parameter names.

The accelerator grid (``scripts/accelerator_grid.py``) runs where spaCy is absent and the
installed ``transformers`` may be another major version than this project pins. This
module needs torch alone and loads a ``BertModel`` state dict (``bert.`` prefix and pooler
removed) with ``load_state_dict(strict=True)``. ``tests/research/test_plain_bert.py``
checks every hidden state against ``transformers.BertModel`` on the same weights.

    h^(0)   = LayerNorm(E_word[ids] + E_pos[0..S-1] + E_type[0])               (B, S, H)
    a       = LayerNorm(h + W_o MultiHead(h W_q, h W_k, h W_v; mask))          per layer l
    h^(l+1) = LayerNorm(a + W_2 gelu(W_1 a))

Dropout (``hidden_dropout_prob`` after the embeddings and both residual branches,
``attention_probs_dropout_prob`` on the attention weights) is active in train mode.

``frozen_below = k`` runs the embeddings and layers 0..k-1 under ``torch.no_grad()``:
they cost a forward pass only, and hidden states 0..k carry no gradient.
"""
from __future__ import annotations

from typing import List

import torch
from torch import nn
from torch.nn import functional as F


class Embeddings(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        H = config["hidden_size"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], H)
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], H)
        self.token_type_embeddings = nn.Embedding(config.get("type_vocab_size", 2), H)
        self.LayerNorm = nn.LayerNorm(H, eps=config.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(config.get("hidden_dropout_prob", 0.1))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, S, H); positions start at 0 and the token type is 0, as in BertModel."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None] + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _Linear(nn.Module):
    """A ``dense`` (and optionally a ``LayerNorm``) sub-module, named as in Hugging Face."""

    def __init__(self, n_in: int, n_out: int, eps: float = 0.0):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        if eps:
            self.LayerNorm = nn.LayerNorm(n_out, eps=eps)


class _SelfAttention(nn.Module):
    def __init__(self, H: int):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)


class _Attention(nn.Module):
    def __init__(self, H: int, eps: float):
        super().__init__()
        self.self = _SelfAttention(H)
        self.output = _Linear(H, H, eps)


class Layer(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        H, eps = config["hidden_size"], config.get("layer_norm_eps", 1e-12)
        self.n_heads = config["num_attention_heads"]
        self.attention = _Attention(H, eps)
        self.intermediate = _Linear(H, config["intermediate_size"])
        self.output = _Linear(config["intermediate_size"], H, eps)
        self.p_hidden = config.get("hidden_dropout_prob", 0.1)
        self.p_attention = config.get("attention_probs_dropout_prob", 0.1)
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"plain_bert: hidden_act {config['hidden_act']!r} is not supported (gelu only)")

    def forward(self, h: torch.Tensor, attention_bias: torch.Tensor) -> torch.Tensor:
        """(B, S, H), additive bias (B, 1, 1, S) -> (B, S, H)."""
        B, S, H = h.shape
        heads = lambda x: x.view(B, S, self.n_heads, H // self.n_heads).transpose(1, 2)
        sa = self.attention.self
        context = F.scaled_dot_product_attention(
            heads(sa.query(h)), heads(sa.key(h)), heads(sa.value(h)), attn_mask=attention_bias,
            dropout_p=self.p_attention if self.training else 0.0)
        context = context.transpose(1, 2).reshape(B, S, H)
        out = self.attention.output
        a = out.LayerNorm(h + F.dropout(out.dense(context), self.p_hidden, self.training))
        up = F.gelu(self.intermediate.dense(a))
        return self.output.LayerNorm(a + F.dropout(self.output.dense(up), self.p_hidden, self.training))


class _Encoder(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config["num_hidden_layers"]))


class PlainBert(nn.Module):
    """``BertModel(config, add_pooling_layer=False)`` returning all hidden states."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = dict(config)
        self.embeddings = Embeddings(config)
        self.encoder = _Encoder(config)

    @property
    def num_hidden_layers(self) -> int:
        return len(self.encoder.layer)

    @property
    def hidden_size(self) -> int:
        return self.config["hidden_size"]

    def freeze(self, bottom_layers: int) -> None:
        """requires_grad = False for the word embeddings, and with k = bottom_layers > 0
        for the whole embedding block and layers 0..k-1 (as ``freeze_encoder.v1``)."""
        if not 0 <= bottom_layers <= self.num_hidden_layers:
            raise ValueError(f"bottom_layers = {bottom_layers}: expected 0..{self.num_hidden_layers}")
        self.embeddings.word_embeddings.weight.requires_grad_(False)
        if bottom_layers:
            for module in [self.embeddings, *self.encoder.layer[:bottom_layers]]:
                module.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, frozen_below: int = 0) -> List[torch.Tensor]:
        """(B, S) ids and boolean mask -> L + 1 hidden states, (B, S, H) each."""
        bias = torch.zeros(attention_mask.shape, dtype=torch.float32, device=input_ids.device)
        bias = bias.masked_fill(~attention_mask.bool(), torch.finfo(torch.float32).min)[:, None, None, :]
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen_below == 0):
            states = [self.embeddings(input_ids)]
        for i, layer in enumerate(self.encoder.layer):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i >= frozen_below):
                states.append(layer(states[-1], bias))
        return states

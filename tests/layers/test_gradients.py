"""Transformer gradients through the spaCy path equal a pure-torch reference.

The reference runs the same Hugging Face module on the same wordpieces, pools
wordpieces onto tokens with torch ops, applies the same fusion module per doc and
backpropagates a fixed random projection of the output. Stock spacy-transformers
fails this check (its backward pass starts from the last layer only).
"""
from typing import Dict, List

import numpy
import pytest
import torch
from pipelines import FUSIONS, make_nlp, synthetic_examples

from layer_fusion.layers.fusion_layer import torch_module

TEXTS = [
    "the big cat sat on the red mat",
    "a dog ran to the house",
    "ọmọ wá sí ilé",
    "",
    "the cat",
]


def _transformer_grads(nlp) -> Dict[str, torch.Tensor]:
    hf = nlp.get_pipe("transformer").model.transformer
    return {n: p.grad.detach().clone() for n, p in hf.named_parameters() if p.grad is not None}


def _zero_grads(nlp) -> None:
    for p in nlp.get_pipe("transformer").model.transformer.parameters():
        p.grad = None
    for p in torch_module(nlp.get_pipe("morphologizer").model.get_ref("tok2vec").get_ref("fusion")).parameters():
        p.grad = None


def _projections(docs, width: int) -> List[numpy.ndarray]:
    rng = numpy.random.default_rng(0)
    return [rng.standard_normal((len(doc), width)).astype("float32") for doc in docs]


def spacy_path_grads(nlp, docs, width: int):
    """Gradients w.r.t. the transformer's parameters via Transformer.update + listener."""
    from spacy.training import Example

    _zero_grads(nlp)
    trf = nlp.get_pipe("transformer")
    tok2vec = nlp.get_pipe("morphologizer").model.get_ref("tok2vec")
    trf.update([Example(doc, doc.copy()) for doc in docs], drop=0.0, sgd=None)
    outputs, backprop = tok2vec.begin_update(docs)
    backprop([r.copy() for r in _projections(docs, width)])
    return outputs, _transformer_grads(nlp)


def torch_reference_grads(nlp, docs, width: int, layers: List[int]):
    """The same computation written directly in torch."""
    _zero_grads(nlp)
    trf = nlp.get_pipe("transformer")
    hf = trf.model.transformer
    fusion = torch_module(nlp.get_pipe("morphologizer").model.get_ref("tok2vec").get_ref("fusion"))
    batch = trf.model.predict(docs)  # wordpieces and alignment only
    wp = batch.wordpieces
    hf.train()
    out = hf(
        input_ids=torch.tensor(wp.input_ids, dtype=torch.long),
        attention_mask=torch.tensor(wp.attention_mask),
        output_hidden_states=True,
    )
    hidden = out.hidden_states
    loss = torch.zeros(())
    outputs = []
    for doc, trf_data, proj in zip(docs, batch.doc_data, _projections(docs, width)):
        if len(doc) == 0:
            outputs.append(numpy.zeros((0, width), dtype="float32"))
            continue
        spans = [s for s in batch.spans[docs.index(doc)]]
        first_span = sum(len(batch.spans[j]) for j in range(docs.index(doc)))
        doc_hidden = [h[first_span : first_span + len(spans)].reshape(-1, width) for h in hidden]
        lengths = trf_data.align.lengths
        rows = trf_data.align.dataXd
        tokens = []
        start = 0
        for n in lengths:
            idx = torch.tensor(rows[start : start + n], dtype=torch.long)
            start += n
            tokens.append(torch.stack([doc_hidden[k][idx].mean(dim=0) for k in layers], dim=0))
        stacked = torch.stack(tokens, dim=0).unsqueeze(0)  # (1, T, n, H)
        mask = torch.ones(stacked.shape[:2], dtype=torch.bool)
        y = fusion(stacked, mask)[0]
        outputs.append(y.detach().numpy())
        loss = loss + (y * torch.from_numpy(proj)).sum()
    loss.backward()
    return outputs, _transformer_grads(nlp)


def max_relative_difference(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> float:
    """max over parameters of max|a - b| / max|b|.

    The denominator is floored at 1e-3 of the largest reference gradient: some
    gradients are zero in exact arithmetic (attention key biases: softmax is
    shift-invariant) and hold only rounding noise, whose ratio means nothing.
    """
    assert a.keys() == b.keys() and a
    floor = 1e-3 * max(float(g.abs().max()) for g in b.values())
    return max(
        float((a[n] - b[n]).abs().max()) / max(float(b[n].abs().max()), floor) for n in b
    )


def _prepare(model_dir, fusion, architecture):
    nlp = make_nlp(model_dir, fusion, architecture=architecture, window=6, stride=4)
    examples = synthetic_examples(nlp, 10)
    nlp.initialize(lambda: examples)
    docs = [nlp.make_doc(t) for t in TEXTS]
    return nlp, docs


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_gradients_match_pure_torch(tiny_model, fusion):
    nlp, docs = _prepare(tiny_model, fusion, "layer_fusion.TransformerModel.v1")
    layers = [k % 4 for k in FUSIONS[fusion]["layers"]]
    ours, grads = spacy_path_grads(nlp, docs, 32)
    ref, ref_grads = torch_reference_grads(nlp, docs, 32, layers)
    for y, r in zip(ours, ref):
        numpy.testing.assert_allclose(y, r, rtol=1e-5, atol=1e-6)
    # The embeddings must receive gradient through the lower layers too.
    assert any("embeddings" in n for n in grads)
    assert max_relative_difference(grads, ref_grads) < 1e-5


def test_stock_transformer_fails_the_gradient_check(tiny_bert):
    """The same check on stock spacy-transformers: lower-layer gradients are silently
    lost (no error), so the gradients differ from the reference."""
    nlp, docs = _prepare(tiny_bert, "DLFA", "spacy-transformers.TransformerModel.v3")
    _, grads = spacy_path_grads(nlp, docs, 32)
    _, ref_grads = torch_reference_grads(nlp, docs, 32, [1, 3])
    assert max_relative_difference(grads, ref_grads) > 1e-2


def test_grad_factor_scales_the_transformer_gradients(tiny_model):
    """grad_factor = 0.5 (the intermediate-task configs use 0.1): the transformer receives
    half the pure-torch gradient; the listener's output is unchanged."""
    nlp = make_nlp(tiny_model, "DLFA", window=6, stride=4, grad_factor=0.5)
    nlp.initialize(lambda: synthetic_examples(nlp, 10))
    docs = [nlp.make_doc(t) for t in TEXTS]
    layers = [k % 4 for k in FUSIONS["DLFA"]["layers"]]
    ours, grads = spacy_path_grads(nlp, docs, 32)
    ref, ref_grads = torch_reference_grads(nlp, docs, 32, layers)
    for y, r in zip(ours, ref):
        numpy.testing.assert_allclose(y, r, rtol=1e-5, atol=1e-6)
    assert max_relative_difference(grads, {n: 0.5 * g for n, g in ref_grads.items()}) < 1e-5

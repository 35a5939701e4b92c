"""FusionListener outputs: shapes, edge cases, and equality with the stock listener."""
import numpy
import pytest
import spacy
from pipelines import FUSIONS, make_nlp, synthetic_examples
from spacy.util import registry
from thinc.api import reduce_mean

LONG_TEXT = " ".join(["the big cat sat on the red mat and the dog ran to the house"] * 4)


def _initialized(model_dir, fusion, **kwargs):
    nlp = make_nlp(model_dir, fusion, **kwargs)
    examples = synthetic_examples(nlp, 10)
    nlp.initialize(lambda: examples)
    return nlp


def _token_vectors(nlp, docs):
    docs = list(nlp.get_pipe("transformer").pipe(docs))
    return nlp.get_pipe("morphologizer").model.get_ref("tok2vec").predict(docs)


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_shapes_zero_length_and_strided_docs(tiny_model, fusion):
    # window 6 / stride 4: the long doc spans many overlapping windows.
    nlp = _initialized(tiny_model, fusion, window=6, stride=4)
    docs = [nlp.make_doc(t) for t in ["", "the cat sat", LONG_TEXT, ""]]
    vectors = _token_vectors(nlp, docs)
    assert [v.shape for v in vectors] == [(len(d), 32) for d in docs]
    assert numpy.isfinite(vectors[2]).all()
    # Every token of the long doc is covered by some window: no zero rows.
    assert (numpy.abs(vectors[2]).sum(axis=1) > 0).all()
    tagged = list(nlp.pipe(["", LONG_TEXT]))
    assert len(tagged[0]) == 0 and all(t.pos_ for t in tagged[1])


def test_all_empty_batch(tiny_bert):
    nlp = _initialized(tiny_bert, "AIF")
    docs = list(nlp.pipe(["", ""]))
    assert [len(d) for d in docs] == [0, 0]


@pytest.mark.parametrize("window,stride", [(128, 96), (6, 4)])
def test_last_layer_equals_stock_listener(tiny_model, window, stride):
    """LastLayer with layers=[-1] gives exactly the stock TransformerListener output,
    computed by a stock spacy-transformers pipeline on the same weights."""
    ours = _initialized(tiny_model, "LastLayer", window=window, stride=stride)
    stock = spacy.blank("xx")
    stock.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": str(tiny_model),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": window, "stride": stride},
    }})
    stock.initialize()
    listener = registry.architectures.get("spacy-transformers.TransformerListener.v1")(
        pooling=reduce_mean(), grad_factor=1.0
    )
    listener.get_ref("listener").set_dim("nO", 32)
    # No empty doc here: stock gives it shape (0, 0), we give (0, width).
    texts = ["the cat sat on the mat", LONG_TEXT, "ọmọ wá sí ilé"]
    stock_vectors = listener.predict(list(stock.pipe(texts)))
    our_vectors = _token_vectors(ours, [ours.make_doc(t) for t in texts])
    for a, b in zip(our_vectors, stock_vectors):
        assert a.shape == b.shape
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_weights_that_are_not_finite_are_an_error_not_one_tag_everywhere(tiny_model, fusion):
    """A tagger's argmax over NaN scores is its first label for every token: a pipeline
    whose weights went NaN must say so instead. Training is left to spaCy (it logs nan)."""
    import torch

    from layer_fusion.layers.fusion_layer import NonFiniteFeaturesError, torch_module
    from pipelines import torch_transformer

    nlp = _initialized(tiny_model, fusion)
    assert all(t.pos_ for t in nlp("the cat sat"))
    fusion_module = torch_module(nlp.get_pipe("morphologizer").model.get_ref("tok2vec").get_ref("fusion"))
    # The fusion's own weights where it has any (LastLayer has none), else the encoder's.
    poisoned = list(fusion_module.parameters()) or list(torch_transformer(nlp).parameters())
    with torch.no_grad():
        poisoned[0].fill_(float("nan"))
    with pytest.raises(NonFiniteFeaturesError, match="weights are not finite"):
        nlp("the cat sat")
    with pytest.raises(NonFiniteFeaturesError):
        list(nlp.pipe(["", "a dog", "the mat"]))


@pytest.mark.parametrize("lengths", [[2, 1, 3, 0], [0, 0]])
def test_gathering_each_layer_at_the_alignment_equals_stock_alignment_of_the_joined_layers(lengths):
    from spacy_transformers.align import apply_alignment
    from thinc.api import NumpyOps
    from thinc.types import Ragged

    from layer_fusion.layers.layer_pooling import gather_aligned

    ops = NumpyOps()
    rng = numpy.random.default_rng(0)
    layers = [rng.normal(size=(7, 3)).astype("f") for _ in range(2)]
    # Piece 4 is aligned to two tokens: its gradient is the sum of both.
    indices = numpy.array([0, 4, 4, 5, 1, 6], dtype="i")[: sum(lengths)]
    align = Ragged(indices, numpy.array(lengths, dtype="i"))
    stock, stock_backprop = apply_alignment(ops, align, numpy.concatenate(layers, axis=1))
    gathered, backprop = gather_aligned(ops, align, layers)
    numpy.testing.assert_array_equal(gathered.dataXd, stock.dataXd)
    numpy.testing.assert_array_equal(gathered.lengths, stock.lengths)
    d_gathered = Ragged(rng.normal(size=gathered.dataXd.shape).astype("f"), gathered.lengths)
    numpy.testing.assert_array_equal(backprop(d_gathered), stock_backprop(d_gathered))

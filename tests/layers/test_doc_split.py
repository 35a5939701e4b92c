"""SplitBatch.split_by_doc against the stock FullTransformerBatch.split_by_doc."""
import numpy
from pipelines import synthetic_examples, v2_nlp
from spacy.tokens import Doc
from spacy.vocab import Vocab
from spacy_transformers.data_classes import FullTransformerBatch

from layer_fusion.layers.doc_split import SplitBatch, doc_offsets


def test_doc_offsets_number_docs_in_order_of_first_appearance():
    vocab = Vocab()
    first, second = Doc(vocab, words=["a", "b", "c"]), Doc(vocab, words=["d", "e"])
    assert doc_offsets([second[0:1], first[1:3], second[1:2]]) == {second: 0, first: 2}


def test_split_by_doc_equals_stock_with_overlapping_spans_and_an_empty_doc(tiny_xlmr):
    nlp = v2_nlp(tiny_xlmr, window=4, stride=3)  # overlapping windows on every doc of 5+ words
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    docs = [
        Doc(nlp.vocab, words="the big red dog sat on the mat .".split()),
        Doc(nlp.vocab, words=[]),
        Doc(nlp.vocab, words="a cat ran".split()),
        Doc(nlp.vocab, words="one two three four five six seven".split()),
    ]
    batch = nlp.get_pipe("transformer").model.predict(docs)
    assert isinstance(batch, SplitBatch)
    stock = FullTransformerBatch(
        spans=batch.spans, wordpieces=batch.wordpieces, model_output=batch.model_output, align=batch.align
    )
    ours, theirs = batch.split_by_doc(), stock.split_by_doc()
    assert len(ours) == len(theirs) == len(docs)
    for doc, a, b in zip(docs, ours, theirs):
        assert len(a.align) == len(b.align) == len(doc)
        numpy.testing.assert_array_equal(a.align.data, b.align.data)
        numpy.testing.assert_array_equal(a.align.lengths, b.align.lengths)
        numpy.testing.assert_array_equal(a.wordpieces.input_ids, b.wordpieces.input_ids)
        assert list(a.model_output.keys()) == list(b.model_output.keys())
        for key in b.model_output.keys():
            x, y = a.model_output[key], b.model_output[key]
            if isinstance(y, list):
                assert len(x) == len(y)
                for u, v in zip(x, y):
                    numpy.testing.assert_array_equal(u, v)
            else:
                numpy.testing.assert_array_equal(x, y)
    assert "hidden_states" in ours[0].model_output  # the split covers the fused layers too

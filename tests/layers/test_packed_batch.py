"""PackedBatch: each doc's packed TransformerData gives every token the wordpiece values the
stock split gives it, with overlapping windows, several docs and an empty one."""
import numpy
import torch
from pipelines import synthetic_examples, v2_nlp
from spacy.tokens import Doc
from spacy_transformers.data_classes import FullTransformerBatch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from layer_fusion.layers.packed_batch import PackedBatch


def _docs(vocab):
    return [
        Doc(vocab, words="the big red dog sat on the mat .".split()),
        Doc(vocab, words=[]),
        Doc(vocab, words="a cat ran".split()),
        Doc(vocab, words="one two three four five six seven".split()),
    ]


def _packed(state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(rows, W, H) -> (1, real positions, H), row after row (the order of state[mask])."""
    return state[mask][None]


def _gathered(trf_data, state) -> numpy.ndarray:
    """Each token's wordpiece rows of ``state``, by its alignment."""
    assert trf_data.align.dataXd.ndim == 1  # as stock: a gather with (n, 1) indices gives (n, 1, H)
    return numpy.asarray(state).reshape(-1, state.shape[-1])[trf_data.align.dataXd]


def test_each_doc_gathers_what_the_stock_split_gives_it(tiny_xlmr):
    nlp = v2_nlp(tiny_xlmr, window=4, stride=3)  # overlapping windows on every doc of 5+ words
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    docs = _docs(nlp.vocab)
    batch = nlp.get_pipe("transformer").model.predict(docs)
    stock = FullTransformerBatch(spans=batch.spans, wordpieces=batch.wordpieces, model_output=batch.model_output,
                                 align=batch.align)
    out = batch.model_output
    mask = torch.as_tensor(batch.wordpieces.attention_mask).bool()
    lengths = [int(n) for n in mask.sum(dim=1)]
    assert min(lengths) < mask.shape[1]  # some rows padded
    states = tuple(_packed(h, mask) if i in (1, len(out.hidden_states) - 1) else h[:1, :0]
                   for i, h in enumerate(out.hidden_states))
    packed_output = BaseModelOutputWithPooling(last_hidden_state=states[-1], hidden_states=states,
                                               pooler_output=out.last_hidden_state[:, 0])
    packed = PackedBatch.around(batch.spans, batch.wordpieces, packed_output, batch.align, lengths)
    ours, theirs = packed.split_by_doc(), stock.split_by_doc()
    assert len(ours) == len(theirs) == len(docs)
    window = 0
    for doc, a, b in zip(docs, ours, theirs):
        assert len(a.align) == len(b.align) == len(doc)
        if not len(doc):
            assert a.model_output == {} and b.model_output == {}
            continue
        numpy.testing.assert_array_equal(a.align.lengths, b.align.lengths)
        rows = b.wordpieces.input_ids.shape[0]
        real = sum(lengths[window:window + rows])
        assert a.model_output["last_hidden_state"].shape == (1, real, 32)
        for layer in (1, -1):
            numpy.testing.assert_array_equal(_gathered(a, a.model_output["hidden_states"][layer]),
                                             _gathered(b, b.model_output["hidden_states"][layer]))
        assert a.model_output["hidden_states"][0].shape == (1, 0, 32)
        numpy.testing.assert_array_equal(a.model_output["pooler_output"],
                                         numpy.asarray(out.last_hidden_state[window:window + rows, 0]))
        assert a.wordpieces.lengths == [real]
        assert a.wordpieces.strings == [[p for row, n in zip(b.wordpieces.strings, lengths[window:window + rows])
                                         for p in row[:n]]]
        numpy.testing.assert_array_equal(a.wordpieces.input_ids[0], b.wordpieces.input_ids[b.wordpieces.attention_mask > 0])
        window += rows

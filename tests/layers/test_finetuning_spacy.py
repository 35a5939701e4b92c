"""Fine-tuning in the spaCy path: TransformerModel.v2 (word-level tokenization,
learning-rate scale) and the freeze_encoder callback."""
import numpy
import pytest
import spacy
import torch
from pipelines import V2, listener_config, synthetic_examples, torch_transformer, transformer_config, v2_nlp
from spacy.tokens import Doc
from spacy_transformers.align import get_token_positions
from thinc.api import SGD

from layer_fusion.freezing import create_freeze_encoder
from layer_fusion.layers.word_alignment import tokenize_words, word_alignment

def test_word_alignment_gives_each_token_its_own_pieces(tiny_xlmr):
    nlp = v2_nlp(tiny_xlmr)
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    model = nlp.get_pipe("transformer").model
    tokenizer = model.tokenizer
    doc = Doc(nlp.vocab, words=["The", "cat", ",", "sat", "on", "mats", "."], spaces=[1, 0, 1, 1, 1, 0, 0])
    spans = [doc[:]]
    encoding = tokenize_words(tokenizer, spans)
    align = word_alignment(spans, encoding)
    pieces = encoding["input_texts"][0]
    lengths = align.lengths.tolist()
    assert len(lengths) == len(doc)
    start = 0
    for token, n in zip(doc, lengths):
        rows = align.dataXd[start:start + n].tolist()
        start += n
        alone = tokenizer([token.text], is_split_into_words=True, add_special_tokens=False)
        expected = tokenizer.convert_ids_to_tokens(alone["input_ids"])
        assert [pieces[j] for j in rows] == expected, token.text


def test_word_alignment_covers_overlapping_strided_spans(tiny_xlmr):
    nlp = v2_nlp(tiny_xlmr, window=4, stride=3)
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    doc = Doc(nlp.vocab, words="the big red dog sat on the mat .".split())
    spans = nlp.get_pipe("transformer").model.attrs["get_spans"]([doc])[0]
    assert len(spans) > 1
    encoding = tokenize_words(nlp.get_pipe("transformer").model.tokenizer, spans)
    align = word_alignment(spans, encoding)
    width = encoding["input_ids"].shape[1]
    seen_in = {}
    start = 0
    for token, n in zip(doc, align.lengths.tolist()):
        seen_in[token.i] = {j // width for j in align.dataXd[start:start + n].tolist()}
        start += n
    for token in doc:
        owners = {k for k, span in enumerate(spans) if span.start <= token.i < span.end}
        assert seen_in[token.i] == owners, token.text


def test_word_alignment_matches_stock_token_positions_across_docs(tiny_xlmr):
    """Several docs, spans out of doc order, overlapping and leaving tokens uncovered:
    the rows per token equal a loop over stock ``get_token_positions``."""
    nlp = v2_nlp(tiny_xlmr)
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    first = Doc(nlp.vocab, words="the big red dog sat on the mat .".split())
    second = Doc(nlp.vocab, words="a cat ran home quickly".split())
    spans = [second[1:4], first[0:3], first[2:6], second[0:2]]  # first[6:] and second[4] uncovered
    encoding = tokenize_words(nlp.get_pipe("transformer").model.tokenizer, spans)
    align = word_alignment(spans, encoding)
    positions = get_token_positions(spans)
    width = encoding["input_ids"].shape[1]
    expected = [set() for _ in positions]
    for i, span in enumerate(spans):
        for j, w in enumerate(encoding.word_ids(i)):
            if w is not None:
                expected[positions[span[w]]].add(i * width + j)
    assert align.lengths.tolist() == [len(rows) for rows in expected]
    assert align.dataXd.tolist() == [j for rows in expected for j in sorted(rows)]
    assert align.lengths.tolist()[len(second) + 6:] == [0, 0, 0]  # stock order: second doc first


def test_split_words_pipeline_tags_and_round_trips(tiny_xlmr, tmp_path):
    nlp = v2_nlp(tiny_xlmr)
    examples = synthetic_examples(nlp, 20)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    texts = ["the big dog sat on a mat .", "a red cat ran to the house ."]
    before = [[t.pos_ for t in d] for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("transformer").model.attrs["init_args"]["split_words"] is True
    assert [[t.pos_ for t in d] for d in loaded.pipe(texts)] == before


@pytest.mark.parametrize("bottom_layers", [0, 2])
def test_freeze_encoder_freezes_the_bottom_and_trains_the_top(tiny_bert, bottom_layers):
    nlp = v2_nlp(tiny_bert, fusion="DLFA", layers=[1, -1])
    examples = synthetic_examples(nlp, 20)
    optimizer = nlp.initialize(lambda: examples)
    create_freeze_encoder("transformer", bottom_layers)(nlp)
    before = {k: v.detach().clone() for k, v in torch_transformer(nlp).state_dict().items()}
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    after = torch_transformer(nlp).state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    frozen = ["embeddings.word_embeddings"] if bottom_layers == 0 else \
        ["embeddings."] + [f"encoder.layer.{i}." for i in range(bottom_layers)]
    for k in before:
        is_frozen = any(p in k for p in frozen)
        if k.startswith("pooler.") or k.endswith("_ids"):
            continue  # unused by the tagger (no gradient) or buffers
        assert (k not in moved) == is_frozen, k
    # nothing below layer k records an autograd graph
    trf = nlp.get_pipe("transformer").model
    batch, _ = trf.begin_update([examples[0].predicted])
    hidden = batch.model_output.hidden_states
    # hidden state i is the output of layer i - 1 (0: embeddings; with k = 0 the position
    # embeddings and LayerNorm still train, so every hidden state carries a gradient)
    expected = [i > bottom_layers if bottom_layers else True for i in range(len(hidden))]
    assert [h.requires_grad for h in hidden] == expected


def test_freeze_encoder_rejects_more_layers_than_the_model_has(tiny_bert):
    nlp = v2_nlp(tiny_bert)
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    with pytest.raises(ValueError, match="bottom_layers=9, but 'transformer' has only 3 layers"):
        create_freeze_encoder("transformer", 9)(nlp)


def test_learn_rate_scale_scales_the_transformer_update_only(tiny_bert):
    """With plain SGD (w -= lr * g, no L2) and the same gradients, the transformer's
    step must be exactly `scale` times the unscaled one, and the tagger's the unscaled one."""
    grads, deltas, tagger_deltas = None, {}, {}
    for scale in (1.0, 0.25):
        spacy.util.fix_random_seed(0)
        nlp = v2_nlp(tiny_bert, learn_rate_scale=scale)
        nlp.initialize(lambda: synthetic_examples(nlp, 5))
        trf = torch_transformer(nlp)
        if grads is None:
            generator = torch.Generator().manual_seed(0)
            grads = {k: torch.randn(p.shape, generator=generator) for k, p in trf.named_parameters()}
        before = {k: p.detach().clone() for k, p in trf.named_parameters()}
        for k, p in trf.named_parameters():
            p.grad = grads[k].clone()
        sgd = SGD(0.1, L2=0.0, grad_clip=0.0)  # one optimizer, as in training: the scale must not stick to it
        nlp.get_pipe("transformer").model.finish_update(sgd)
        deltas[scale] = {k: p.detach() - before[k] for k, p in trf.named_parameters()}
        # The tagger's own parameters (thinc's), given the same gradients under both scales.
        tagger = nlp.get_pipe("morphologizer").model
        params = [(node, name) for node in tagger.walk() for name in node.param_names if node.has_param(name)]
        assert params
        rng = numpy.random.RandomState(0)
        tagger_before = [node.get_param(name).copy() for node, name in params]
        tagger_grads = [rng.standard_normal(w.shape).astype(w.dtype) for w in tagger_before]
        for (node, name), g in zip(params, tagger_grads):
            node.set_grad(name, g.copy())
        tagger.finish_update(sgd)
        tagger_deltas[scale] = [node.get_param(name) - w for (node, name), w in zip(params, tagger_before)]
    for k, full in deltas[1.0].items():
        torch.testing.assert_close(full, -0.1 * grads[k], rtol=1e-3, atol=1e-6)
        torch.testing.assert_close(deltas[0.25][k], 0.25 * full, rtol=1e-3, atol=1e-6)
    for full, scaled, g in zip(tagger_deltas[1.0], tagger_deltas[0.25], tagger_grads):
        numpy.testing.assert_allclose(full, -0.1 * g, rtol=1e-3, atol=1e-6)
        numpy.testing.assert_array_equal(scaled, full)


def test_learn_rate_scale_must_be_positive(tiny_bert):
    with pytest.raises(ValueError, match="learn_rate_scale=0"):
        v2_nlp(tiny_bert, learn_rate_scale=0)


def test_trimmed_offsets_align_each_piece_to_one_token():
    """Offsets that include the space before a word (a bare Metaspace pre-tokenizer) make
    the stock alignment pool every token with its neighbour's first piece; trimmed
    offsets give each piece to one token."""
    from spacy_transformers.align import get_alignment_via_offset_mapping

    from layer_fusion.layers.word_alignment import trimmed_offsets

    doc = Doc(spacy.blank("xx").vocab, words=["From", "the", "AP", "comes"])
    # pieces: <s> ▁From ▁the ▁AP ▁comes </s>, offsets as the multilingual-e5-small tokenizer gives them
    offsets = numpy.array([[(0, 0), (0, 4), (4, 8), (8, 11), (11, 17), (0, 0)]])
    stock = get_alignment_via_offset_mapping([doc[:]], offsets)
    assert stock.lengths.tolist() == [2, 2, 2, 1]  # the bug: "From" also gets "▁the"
    trimmed = trimmed_offsets([doc.text], offsets)
    assert trimmed[0].tolist() == [[0, 0], [0, 4], [5, 8], [9, 11], [12, 17], [0, 0]]
    fixed = get_alignment_via_offset_mapping([doc[:]], trimmed)
    assert fixed.lengths.tolist() == [1, 1, 1, 1] and fixed.dataXd.tolist() == [1, 2, 3, 4]


def test_trim_offsets_pipeline_trains_and_round_trips(tiny_xlmr, tmp_path):
    nlp = spacy.blank("xx")
    trf = transformer_config(tiny_xlmr, V2)
    trf["model"].update(split_words=False, trim_offsets=True)
    nlp.add_pipe("transformer", config=trf)
    nlp.add_pipe("morphologizer", config={"model": {
        "@architectures": "spacy.Tagger.v2", "nO": None, "tok2vec": listener_config(32, "LastLayer")}})
    examples = synthetic_examples(nlp, 20)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(2):
        nlp.update(examples, sgd=optimizer)
    before = [t.pos_ for t in nlp("the big dog sat on a mat .")]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("transformer").model.attrs["init_args"]["trim_offsets"] is True
    assert [t.pos_ for t in loaded("the big dog sat on a mat .")] == before

"""The fusion_transformer component: saved with its weights in model.safetensors, loaded
with the encoder built on the meta device and the weights assigned from the file."""
import hashlib
import sys

import numpy
import pytest
import spacy
import torch
from pipelines import synthetic_examples, trained_fusion_transformer

from layer_fusion.layers.inference_passes import PASSES
from layer_fusion.transformer_component import WEIGHTS, FusionTransformer

TEXTS = ["the big cat sat on a red mat .", "a dog ran to the house"]


def _trained(model_dir, factory="fusion_transformer"):
    return trained_fusion_transformer(model_dir, factory)


def _outputs(nlp):
    trf = nlp.get_pipe("transformer").model
    hidden = trf.predict([nlp.make_doc(t) for t in TEXTS]).model_output.hidden_states
    return [[t.pos_ for t in doc] for doc in nlp.pipe(TEXTS)], [torch.as_tensor(h).clone() for h in hidden]


def test_round_trip_is_exact_and_the_weights_live_in_safetensors(tiny_xlmr, tmp_path):
    nlp = _trained(tiny_xlmr)
    tags, hidden = _outputs(nlp)
    nlp.to_disk(tmp_path / "p")
    folder = tmp_path / "p" / "transformer"
    assert (folder / WEIGHTS).is_file() and (folder / "hf" / "config.json").is_file()
    assert (folder / "model").stat().st_size < 10_000  # the weights are not in the thinc bytes
    loaded = spacy.load(tmp_path / "p")
    assert isinstance(loaded.get_pipe("transformer"), FusionTransformer)
    tags2, hidden2 = _outputs(loaded)
    assert tags2 == tags
    for a, b in zip(hidden, hidden2):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    params = dict(loaded.get_pipe("transformer").model.transformer.named_parameters())
    assert all(p.device.type == "cpu" for p in params.values())  # nothing left on the meta device
    for name, p in nlp.get_pipe("transformer").model.transformer.named_parameters():
        assert torch.equal(params[name], p), name
    # stock serialization (nlp.to_bytes, the stock component) still works after a lean load
    original = nlp.get_pipe("transformer").model.layers[0].shims[0]._hfmodel.vocab_file_contents
    assert original  # the tiny XLM-R has a sentencepiece.bpe.model
    assert loaded.get_pipe("transformer").model.layers[0].shims[0]._hfmodel.vocab_file_contents == original
    again = spacy.blank("xx").from_config(loaded.config).from_bytes(loaded.to_bytes())
    assert _outputs(again)[0] == tags


def test_training_a_loaded_pipeline_leaves_the_file_alone(tiny_xlmr, tmp_path):
    _trained(tiny_xlmr).to_disk(tmp_path / "p")
    weights = tmp_path / "p" / "transformer" / WEIGHTS
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    nlp = spacy.load(tmp_path / "p")
    before = {k: v.clone() for k, v in nlp.get_pipe("transformer").model.transformer.state_dict().items()}
    optimizer = nlp.resume_training()
    for _ in range(3):
        nlp.update(synthetic_examples(nlp, 10), sgd=optimizer)
    after = nlp.get_pipe("transformer").model.transformer.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == digest  # copy-on-write, not write-through
    nlp.to_disk(tmp_path / "q")  # and saves what it learned
    reloaded = spacy.load(tmp_path / "q").get_pipe("transformer").model.transformer.state_dict()
    assert all(torch.equal(reloaded[k], after[k]) for k in after)


def test_a_folder_saved_by_the_stock_component_still_loads(tiny_xlmr, tmp_path):
    nlp = _trained(tiny_xlmr, factory="transformer")
    tags, hidden = _outputs(nlp)
    nlp.to_disk(tmp_path / "stock")
    config = tmp_path / "stock" / "config.cfg"
    config.write_text(config.read_text().replace('factory = "transformer"', 'factory = "fusion_transformer"'))
    loaded = spacy.load(tmp_path / "stock")
    assert isinstance(loaded.get_pipe("transformer"), FusionTransformer)
    assert not (tmp_path / "stock" / "transformer" / WEIGHTS).exists()
    tags2, hidden2 = _outputs(loaded)
    assert tags2 == tags and all(torch.equal(a, b) for a, b in zip(hidden, hidden2))


def test_weights_that_do_not_fit_name_the_file(tiny_xlmr, tiny_bert, tmp_path):
    from safetensors.torch import save_file

    _trained(tiny_xlmr).to_disk(tmp_path / "p")
    other = _trained(tiny_bert).get_pipe("transformer").model.transformer.state_dict()
    save_file({k: v.contiguous() for k, v in other.items()}, str(tmp_path / "p" / "transformer" / WEIGHTS))
    with pytest.raises(ValueError, match=r"transformer/model.safetensors: weights do not fit the encoder"):
        spacy.load(tmp_path / "p")


def test_pipe_cuts_batches_by_padded_wordpieces_and_keeps_results(tiny_xlmr):
    """A doc of few tokens and many wordpieces gets a forward pass of its own under a small
    ``max_batch_items``; every doc's hidden states equal those of tagging it alone."""
    nlp = _trained(tiny_xlmr)
    trf = nlp.get_pipe("transformer")
    tok = trf.model.tokenizer
    texts = TEXTS + ["a cat", "xqzvw" * 30 + " ran", "the dog"]  # one huge word: many pieces
    pieces = [len(tok([t.text for t in nlp.make_doc(x)], is_split_into_words=True)["input_ids"]) for x in texts]
    trf.cfg["max_batch_items"] = 2 * max(p for p, x in zip(pieces, texts) if "xqzvw" not in x)
    seen = []
    predict = trf.predict
    trf.predict = lambda docs: seen.append([d.text for d in docs]) or predict(docs)
    docs = list(trf.pipe((nlp.make_doc(x) for x in texts), batch_size=len(texts)))
    trf.predict = predict
    assert sorted(x for batch in seen for x in batch) == sorted(texts)
    for batch in seen:
        longest = max(pieces[texts.index(x)] for x in batch)
        assert len(batch) == 1 or len(batch) * longest <= trf.cfg["max_batch_items"], batch
    assert [texts[-2]] in seen  # the huge word alone
    assert len(seen) > 2
    for text, doc in zip(texts, docs):
        alone = torch.as_tensor(trf.predict([nlp.make_doc(text)]).doc_data[0].model_output.last_hidden_state)
        batched = torch.as_tensor(doc._.trf_data.model_output.last_hidden_state)
        torch.testing.assert_close(batched[:, : alone.shape[1]], alone, rtol=1e-4, atol=1e-5)  # padding aside


def test_the_bound_counts_a_row_per_window_of_each_doc(tiny_xlmr):
    """With windows inside sentences, a doc of three sentences is three rows of the forward
    pass: no pass exceeds ``max_batch_items`` padded wordpieces, counted per window (counted
    per doc, two of these docs fit the bound as docs and made six rows of the long sentence's
    width, twice the bound), and every doc's hidden states equal those of tagging it alone."""
    from layer_fusion.sentence_spans import configure_sentence_strided_spans

    nlp = _trained(tiny_xlmr)
    nlp.add_pipe("sentencizer", first=True)
    trf = nlp.get_pipe("transformer")
    trf.model.attrs["get_spans"] = configure_sentence_strided_spans(128, 96)
    texts = ["the big cat sat on a red mat near the house . a . b ."] * 4 + ["a dog ran to the house ."] * 2
    docs = [nlp.get_pipe("sentencizer")(nlp.make_doc(x)) for x in texts]
    assert [len(list(d.sents)) for d in docs] == [3, 3, 3, 3, 1, 1]
    tok = trf.model.tokenizer
    widths = [len(tok([t.text for t in s], is_split_into_words=True)["input_ids"]) for d in docs for s in d.sents]
    trf.cfg["max_batch_items"] = 3 * max(widths)  # one three-sentence doc
    shapes = []
    hook = trf.model.layers[0].shims[0]._model.register_forward_hook(
        lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        tagged = list(trf.pipe(iter(docs), batch_size=len(docs)))
    finally:
        hook.remove()
    assert sum(rows for rows, _ in shapes) == 4 * 3 + 2
    assert all(rows * width <= trf.cfg["max_batch_items"] for rows, width in shapes), shapes
    for doc in tagged:
        alone = nlp.get_pipe("sentencizer")(nlp.make_doc(doc.text))
        expected = torch.as_tensor(trf.predict([alone]).doc_data[0].model_output.last_hidden_state)
        got = torch.as_tensor(doc._.trf_data.model_output.last_hidden_state)
        torch.testing.assert_close(got[:, : expected.shape[1]], expected, rtol=1e-4, atol=1e-5)  # padding aside


def test_docs_keep_only_the_hidden_states_their_listeners_read(tiny_xlmr):
    """The DLFA listener reads two hidden states: the others are emptied and the tags do not
    change; with a listener that does not say what it reads, every hidden state stays."""
    nlp = _trained(tiny_xlmr)
    trf = nlp.get_pipe("transformer")
    read = trf.hidden_states_read()
    assert read is not None and len(read) == 2
    full = trf.predict([nlp.make_doc(TEXTS[0])]).doc_data[0].model_output["hidden_states"]
    keep = {i % len(full) for i in read}
    docs = list(nlp.pipe(TEXTS))
    doc = trf(nlp.make_doc(TEXTS[0]))
    hidden = doc._.trf_data.model_output["hidden_states"]
    assert len(hidden) == len(full)
    for i, (h, f) in enumerate(zip(hidden, full)):
        if i in keep:
            numpy.testing.assert_allclose(h, f, rtol=1e-5, atol=1e-6)
        else:
            assert h.size == 0 and h.base is None  # no view keeping the batch's array alive
    tags_pruned = [[t.pos_ for t in d] for d in docs]
    trf.listener_map["morphologizer"][0].attrs.pop("hidden_states")
    assert trf.hidden_states_read() is None
    whole = trf(nlp.make_doc(TEXTS[0]))._.trf_data.model_output["hidden_states"]
    assert all(h.size > 0 for h in whole)
    assert [[t.pos_ for t in d] for d in nlp.pipe(TEXTS)] == tags_pruned


def test_each_tensor_is_mapped_on_its_own_as_safetensors_loads_it(tiny_xlmr, tmp_path):
    from safetensors.torch import load_file

    from layer_fusion.transformer_component import map_tensors

    _trained(tiny_xlmr).to_disk(tmp_path / "p")
    path = tmp_path / "p" / "transformer" / WEIGHTS
    mapped, reference = map_tensors(path), load_file(str(path))
    assert sorted(mapped) == sorted(reference)
    for name, tensor in reference.items():
        assert torch.equal(mapped[name], tensor), name


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process's mappings from /proc")
def test_a_dropped_tensor_unmaps_its_pages(tiny_xlmr, tmp_path):
    """int8 keeps only the word embeddings of the mapped file: the rest must not stay resident."""
    import gc

    from layer_fusion.transformer_component import map_tensors

    _trained(tiny_xlmr).to_disk(tmp_path / "p")
    path = tmp_path / "p" / "transformer" / WEIGHTS
    mapped = map_tensors(path)

    def file_mappings():
        with open("/proc/self/maps") as f:
            return [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in f if str(path) in line]

    page = 4096
    kept = mapped.pop("embeddings.word_embeddings.weight")
    keep = (kept.data_ptr() // page * page, -(-(kept.data_ptr() + kept.nbytes) // page) * page)
    dropped = [(t.data_ptr(), t.data_ptr() + t.nbytes) for t in mapped.values() if t.numel() > 0]
    assert dropped

    def mapped_outside_keep(start, end):
        return any(a < end and start < b and not (keep[0] <= start and end <= keep[1]) for a, b in file_mappings())

    assert all(mapped_outside_keep(*r) for r in dropped)  # mapped while they live
    del mapped
    gc.collect()
    # Every page of a dropped tensor outside the kept tensor's pages is unmapped.
    for start, end in dropped:
        outside = [(max(start, a), min(end, b)) for a, b in ((start, keep[0]), (keep[1], end)) if max(start, a) < min(end, b)]
        assert not any(mapped_outside_keep(a, b) for a, b in outside), (start, end)
    kept.add_(1.0)  # copy-on-write: the file does not change
    assert torch.equal(map_tensors(path)["embeddings.word_embeddings.weight"] + 1.0, kept)


@pytest.mark.parametrize("split_words", [False, True])
def test_nlp_does_not_pass_on_transformers_false_indexing_error_warning(tiny_xlmr, split_words):
    """transformers logs that a sequence over ``model_max_length`` "will result in indexing
    errors"; the forward pass truncates such a sequence first (and says so itself when a
    token loses its features), so that message would only mislead."""
    import logging

    nlp = trained_fusion_transformer(tiny_xlmr, split_words=split_words, steps=1)
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    from layer_fusion.transformer_component import WordpieceTruncationWarning

    try:
        # one token of about 600 wordpieces: "b" after it gets no features, and our own warning says so
        with pytest.warns(WordpieceTruncationWarning, match="LineTagger"):
            doc = nlp("a " + "zqxjkvwzqxjkvw" * 60 + " b")
    finally:
        logger.removeHandler(handler)
    assert len(doc) == 3 and all(t.pos_ for t in doc)
    assert not [r for r in records if "indexing errors" in r.getMessage()], [r.getMessage() for r in records]


def test_nlp_warns_when_a_window_is_cut_and_line_tagger_does_not_need_to(tiny_xlmr):
    """nlp(text) leaves the tokens past a window cut at 512 wordpieces without features: it
    says so, naming LineTagger, which chunks such text so that every window fits."""
    import warnings

    from layer_fusion.tagging import LineTagger
    from layer_fusion.transformer_component import WordpieceTruncationWarning

    nlp = trained_fusion_transformer(tiny_xlmr, steps=1)
    rare = " ".join(["qzxkwvjqzxkwvj"] * 300)  # 128-token windows of about 1,400 wordpieces
    huge = "zqxjkvwzqxjkvw" * 60  # one token of about 600 wordpieces
    with pytest.warns(WordpieceTruncationWarning, match="layer_fusion.tagging.LineTagger"):
        doc = nlp(rare)
    assert 0 in doc._.trf_data.align.lengths  # the reason for the warning: tokens without wordpieces
    with pytest.warns(WordpieceTruncationWarning):  # in a batch, after a doc that fits
        docs = list(nlp.pipe(["a dog", rare]))
    assert 0 not in docs[0]._.trf_data.align.lengths and 0 in docs[1]._.trf_data.align.lengths
    with warnings.catch_warnings():
        warnings.simplefilter("error", WordpieceTruncationWarning)
        nlp("the cat sat on the mat " * 20)
        nlp(huge)  # one token alone keeps its first wordpieces
        # windows of 513 wordpieces (128 tokens, stride 96): each cut token is inside the next,
        # overlapping window, so every token keeps features; several docs in one batch
        slight = " ".join((["qzxk"] * 127 + ["qzx"]) * 3)
        docs = list(nlp.pipe([slight, "a dog", slight]))
        assert all(n > 0 for doc in docs for n in doc._.trf_data.align.lengths)
        records = list(LineTagger(nlp, batch_size=8).tag([rare, f"the cat {huge} sat"]))
    assert [len(r.tags) for r in records] == [300, 4]


def test_readme_loading_without_the_tagger_keeps_every_hidden_state(tiny_xlmr, tmp_path):
    """README: exclude the tagger to read all hidden states (loaded, it narrows them)."""
    _trained(tiny_xlmr).to_disk(tmp_path / "p")

    def sizes(nlp):
        return [numpy.asarray(h).size for h in nlp(TEXTS[0])._.trf_data.model_output["hidden_states"]]

    excluded = sizes(spacy.load(tmp_path / "p", exclude=["morphologizer"]))
    assert len(excluded) == 4 and all(excluded)
    with_tagger = spacy.load(tmp_path / "p")
    with_tagger(TEXTS[0])
    narrowed = sizes(with_tagger)
    assert len(narrowed) == 4 and 0 in narrowed


@pytest.mark.parametrize("value", [0, -5, "2048"])
def test_max_batch_items_must_be_a_positive_integer(tiny_xlmr, value):
    """0 or less made every doc a batch of its own, silently."""
    from pipelines import V2, transformer_config

    config = transformer_config(tiny_xlmr, V2)
    config["max_batch_items"] = value
    with pytest.raises(ValueError, match=rf"max_batch_items={value!r} must be an integer >= 1"):
        spacy.blank("xx").add_pipe("fusion_transformer", config=config)


@pytest.mark.parametrize("split_words", [False, True])
def test_a_doc_over_the_bound_runs_in_passes_with_the_same_tags_and_states(tiny_xlmr, split_words):
    """``nlp(text)`` on a doc whose windows exceed ``max_batch_items`` (one batch, which
    ``pipe`` cannot cut): the encoder runs in passes within the bound, and the tags, the
    listener's features and the hidden states it reads equal those of one pass (the bound
    lifted). With words tokenized one by one (the shipped forward) the states come packed,
    (1, real pieces, H), row after row; with the stock forward padded. A direct
    ``model.predict`` afterwards is stock: every hidden state, one pass, padded."""
    from layer_fusion.sentence_spans import configure_sentence_strided_spans

    nlp = trained_fusion_transformer(tiny_xlmr, split_words=split_words)
    nlp.add_pipe("sentencizer", first=True)
    trf = nlp.get_pipe("transformer")
    trf.model.attrs["get_spans"] = configure_sentence_strided_spans(128, 96)
    text = " ".join(["the big cat sat on a red mat near the house .", "a dog ran .", "xqzvw" * 8 + " sat ."] * 6)
    shapes = []
    hook = trf.model.layers[0].shims[0]._model.register_forward_hook(
        lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        trf.cfg["max_batch_items"] = 10**9
        one = nlp(text)
        assert len(shapes) == 1 and shapes[0][0] == 18  # a row per sentence, one pass
        shapes.clear()
        trf.cfg["max_batch_items"] = 2 * shapes_width(one)  # two of the widest windows per pass
        passes = nlp(text)
    finally:
        hook.remove()
    assert len(shapes) > 2 and sum(rows for rows, _ in shapes) == 18
    assert all(rows * width <= trf.cfg["max_batch_items"] for rows, width in shapes), shapes
    assert [t.pos_ for t in passes] == [t.pos_ for t in one]
    features = nlp.get_pipe("morphologizer").model.get_ref("tok2vec").predict
    numpy.testing.assert_allclose(features([passes])[0], features([one])[0], rtol=1e-4, atol=1e-5)
    n_states = len(one._.trf_data.model_output["hidden_states"])
    read = {i % n_states for i in trf.hidden_states_read()}
    assert 0 < len(read) < n_states
    lengths = one._.trf_data.wordpieces.lengths
    starts = numpy.cumsum([0] + lengths)
    for layer, (got, want) in enumerate(zip(passes._.trf_data.model_output["hidden_states"],
                                            one._.trf_data.model_output["hidden_states"])):
        if layer not in read:
            assert got.size == 0 == want.size
            continue
        assert got.shape == ((1, sum(lengths), want.shape[2]) if split_words else want.shape)
        for row, n in enumerate(lengths):
            numpy.testing.assert_allclose(got[0, starts[row]:starts[row + 1]] if split_words else got[row, :n],
                                          want[row, :n], rtol=1e-4, atol=1e-5)
    if split_words:
        wordpieces = passes._.trf_data.wordpieces
        assert wordpieces.lengths == [sum(lengths)]
        assert wordpieces.strings[0] == [p for row, n in zip(one._.trf_data.wordpieces.strings, lengths) for p in row[:n]]
    assert PASSES.get() is None  # set for the component's call only
    direct = trf.model.predict([passes])
    assert direct.wordpieces.input_ids.shape[0] == direct.model_output.last_hidden_state.shape[0] == 18
    assert len(direct.model_output.hidden_states) == n_states
    assert all(h.stride(0) != 0 for h in direct.model_output.hidden_states)


def test_a_packed_doc_and_a_padded_one_are_tagged_in_one_batch_and_backpropagate(tiny_xlmr):
    """A long text over the bound comes packed, a short one padded, and the tagger gets both in
    one batch (``nlp.pipe``): their alignments were (n, 1) and (n,), and joining their
    features failed. A listener that learns on annotated docs (a frozen, annotating
    transformer) backpropagates through a packed doc too."""
    from layer_fusion.sentence_spans import configure_sentence_strided_spans

    nlp = trained_fusion_transformer(tiny_xlmr, split_words=True)
    nlp.add_pipe("sentencizer", first=True)
    trf = nlp.get_pipe("transformer")
    trf.model.attrs["get_spans"] = configure_sentence_strided_spans(128, 96)  # a row per sentence
    texts = [" ".join(["the big cat sat on a red mat near the house .", "a dog ran ."] * 5), "a cat sat ."]
    trf.cfg["max_batch_items"] = 10**9
    one = list(nlp.pipe(texts))
    trf.cfg["max_batch_items"] = 60
    docs = list(nlp.pipe(texts))
    assert docs[0]._.trf_data.wordpieces.input_ids.shape[0] == 1 < one[0]._.trf_data.wordpieces.input_ids.shape[0]
    assert [[t.pos_ for t in doc] for doc in docs] == [[t.pos_ for t in doc] for doc in one]
    assert all(doc._.trf_data.align.dataXd.ndim == 1 for doc in docs)
    tok2vec = nlp.get_pipe("morphologizer").model.get_ref("tok2vec")
    features, backprop = tok2vec.begin_update(docs)
    backprop([numpy.ones_like(f) for f in features])


def shapes_width(doc) -> int:
    """The padded width of ``doc``'s encoder windows."""
    return int(doc._.trf_data.wordpieces.input_ids.shape[1])


@pytest.mark.parametrize("split_words", [False, True])
def test_in_passes_the_component_computes_what_its_listeners_or_its_annotation_setter_read(tiny_xlmr, split_words):
    """``FusionTransformer.predict`` over the bound: the hidden states the listener reads are
    the encoder's, the others empty (not zeros that a reader takes for the encoder's); with
    an annotation setter of the component's own, which may read any, all are the encoder's,
    in the stock padded layout (with words tokenized one by one, the listeners' states come
    packed: the real pieces, row after row, which is the order of ``state[mask]``)."""
    nlp = trained_fusion_transformer(tiny_xlmr, split_words=split_words)
    trf = nlp.get_pipe("transformer")
    docs = [nlp.make_doc(" ".join(["the big cat sat on a red mat near the house ."] * 4)) for _ in range(6)]
    one = [torch.as_tensor(h) for h in trf.model.predict(docs).model_output.hidden_states]  # stock, one pass
    trf.cfg["max_batch_items"] = 2 * one[0].shape[1]  # two windows per pass
    read = {i % len(one) for i in trf.hidden_states_read()}
    assert 0 < len(read) < len(one)
    mask = torch.as_tensor(trf.model.predict(docs).wordpieces.attention_mask).bool()
    for setter in ("listeners", "own"):
        if setter == "own":
            trf.set_extra_annotations = lambda docs, predictions: None
        packed = split_words and setter == "listeners"
        got = [torch.as_tensor(h) for h in trf.predict(docs).model_output.hidden_states]
        for layer, (state, want) in enumerate(zip(got, one)):
            if layer in read or setter == "own":
                assert state.shape == ((1, int(mask.sum()), want.shape[2]) if packed else want.shape)
                torch.testing.assert_close(state[0] if packed else state[mask], want[mask], rtol=1e-4, atol=1e-5)
            else:
                assert state.shape == (1 if packed else want.shape[0], 0, want.shape[2])


def test_tagging_leaves_the_encoder_in_evaluation_mode(tiny_xlmr):
    """thinc's ``predict`` switched the encoder back to training mode on its way out: with two
    threads tagging with one pipeline, one's forward pass ran with dropout on whenever the
    other's ended first. Training still switches it to training mode."""
    nlp = _trained(tiny_xlmr)
    encoder = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    assert encoder.training  # as the updates left it
    nlp("the big cat sat on a red mat .")
    assert not encoder.training
    nlp.update(synthetic_examples(nlp, 4), sgd=None)
    assert encoder.training


@pytest.mark.parametrize("damage", ["missing", "lfs pointer", "truncated"])
def test_a_lost_or_damaged_weights_file_is_named_when_loading(tiny_xlmr, tmp_path, damage):
    """An interrupted copy or a git-LFS pointer in place of ``model.safetensors``: the pipeline
    loaded without weights and failed on the first text (or with a MemoryError reading a
    pointer's bytes as the header size). Now loading fails, naming the file."""
    nlp = _trained(tiny_xlmr)
    nlp.to_disk(tmp_path / "p")
    weights = tmp_path / "p" / "transformer" / WEIGHTS
    expected = {"missing": f"{weights}: missing", "lfs pointer": f"{weights}: not a safetensors file",
                "truncated": f"{weights}: truncated"}[damage]
    if damage == "missing":
        weights.unlink()
    elif damage == "lfs pointer":
        weights.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 470000000\n")
    else:
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    with pytest.raises((OSError, ValueError)) as raised:
        spacy.load(tmp_path / "p")
    assert str(raised.value).startswith(expected), raised.value

"""Training, freezing, serialization and configuration errors of fusion pipelines."""
import numpy
import pytest
import spacy
import torch
from pipelines import listener_config, make_nlp, synthetic_examples, transformer_config
from spacy.training import Example

from layer_fusion.layers.fusion_layer import torch_module
from layer_fusion.layers.transformer_model import hidden_state_key


def _fusion(nlp) -> torch.nn.Module:
    return torch_module(nlp.get_pipe("morphologizer").model.get_ref("tok2vec").get_ref("fusion"))


def _state(module: torch.nn.Module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _train(nlp, steps: int = 5, frozen: bool = False):
    examples = synthetic_examples(nlp, 30)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        if frozen:
            nlp.update(examples, sgd=optimizer, exclude=["transformer"], annotates=["transformer"])
        else:
            nlp.update(examples, sgd=optimizer)
    return examples


@pytest.mark.parametrize("factory", ["transformer", "fusion_transformer"])
@pytest.mark.parametrize("fusion", ["DLFA", "AIF", "ScalarMix", "LayerAttention"])
def test_frozen_transformer_trains_only_the_fusion(tiny_bert, fusion, factory):
    """spaCy's recipe for a frozen encoder (``frozen_components`` + ``annotating_components``),
    with the listener's gradient on (grad_factor 1). ``fusion_transformer`` leaves the docs only
    the hidden states its listeners read (the others empty), and the listener's backward pass
    must still give every layer a gradient of the full shape."""
    nlp = make_nlp(tiny_bert, fusion, factory=factory)
    examples = synthetic_examples(nlp, 30)
    optimizer = nlp.initialize(lambda: examples)
    trf_before = _state(nlp.get_pipe("transformer").model.transformer)
    fusion_before = _state(_fusion(nlp))
    for _ in range(5):
        nlp.update(examples, sgd=optimizer, exclude=["transformer"], annotates=["transformer"])
    trf_after = _state(nlp.get_pipe("transformer").model.transformer)
    assert all(torch.equal(trf_before[k], trf_after[k]) for k in trf_before)
    changed = [k for k in fusion_before if not torch.equal(fusion_before[k], _state(_fusion(nlp))[k])]
    assert changed, "fusion parameters did not move"
    # The backward pass of the layer pooling under the fusion: one gradient per hidden state,
    # each of the full (spans, wordpieces, H) shape, even where the doc carries an empty one.
    pooling = nlp.get_pipe("morphologizer").model.get_ref("tok2vec").layers[1]
    assert pooling.name == "layer-pooling"
    trf = nlp.get_pipe("transformer")
    datas = [trf(nlp.make_doc(eg.reference.text))._.trf_data for eg in examples[:3]]
    n_hidden = len(datas[0].model_output["hidden_states"])
    read = {k % n_hidden for k in pooling.attrs["layers"]}
    emptied = [h.size == 0 for h in datas[0].model_output["hidden_states"]]
    assert emptied == [factory == "fusion_transformer" and k not in read for k in range(n_hidden)]
    outputs, backprop = pooling(datas, is_train=True)
    for data, d_data in zip(datas, backprop([pooling.ops.xp.ones_like(y) for y in outputs])):
        shape = data.model_output["last_hidden_state"].shape
        d_hidden = [d_data.model_output[hidden_state_key(k)] for k in range(n_hidden)]
        assert [h.shape for h in d_hidden] == [shape] * n_hidden
        assert [bool(abs(h).sum()) for h in d_hidden] == [k in read for k in range(n_hidden)]


@pytest.mark.parametrize("fusion", ["LastLayer", "DLFA", "AIF", "ScalarMix", "LayerAttention"])
def test_grad_factor_zero_trains_like_a_frozen_transformer(tiny_bert, fusion):
    """grad_factor 0 skips computing the transformer's gradient. With the transformer
    frozen (as in configs/aif.cfg) that gradient is discarded anyway, so every trained
    parameter must come out the same as with grad_factor 1."""
    from layer_fusion.freezing import create_freeze_parameters

    trained = []
    for grad_factor in (1.0, 0.0):
        spacy.util.fix_random_seed(0)
        nlp = make_nlp(tiny_bert, fusion, grad_factor=grad_factor)
        examples = synthetic_examples(nlp, 30)
        optimizer = nlp.initialize(lambda: examples)
        create_freeze_parameters("transformer", [""])(nlp)
        losses = {}
        for _ in range(4):
            nlp.update(examples, sgd=optimizer, losses=losses)
        tagger = nlp.get_pipe("morphologizer").model
        thinc_params = [node.get_param(n).copy() for node in tagger.walk() for n in node.param_names
                        if node.has_param(n)]
        assert thinc_params, "the tagger's softmax parameters were not found"
        trained.append((_state(_fusion(nlp)), thinc_params, losses))
    (fusion_a, out_a, losses_a), (fusion_b, out_b, losses_b) = trained
    assert losses_b["morphologizer"] == pytest.approx(losses_a["morphologizer"], rel=1e-5)
    assert losses_a["transformer"] > 0 and losses_b["transformer"] == 0
    for k in fusion_a:
        torch.testing.assert_close(fusion_b[k], fusion_a[k], rtol=1e-5, atol=1e-6)
    for a, b in zip(out_a, out_b):
        numpy.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_trainable_transformer_moves(tiny_bert):
    nlp = make_nlp(tiny_bert, "AIF")
    examples = synthetic_examples(nlp, 30)
    optimizer = nlp.initialize(lambda: examples)
    before = _state(nlp.get_pipe("transformer").model.transformer)
    # Two steps: the tagger's output layer starts at zero, so the first step sends
    # no gradient into the transformer.
    for _ in range(2):
        nlp.update(examples, sgd=optimizer)
    after = _state(nlp.get_pipe("transformer").model.transformer)
    assert not torch.equal(before["embeddings.word_embeddings.weight"], after["embeddings.word_embeddings.weight"])


@pytest.mark.parametrize("fusion", ["LastLayer", "AIF", "ScalarMix"])
def test_round_trip_gives_identical_tags_and_parameters(tiny_model, fusion, tmp_path):
    nlp = make_nlp(tiny_model, fusion)
    _train(nlp, steps=3)
    texts = ["the big cat sat on the red mat", "a dog ran to the house", "ọmọ wá sí ilé", ""]
    before = [[t.pos_ for t in d] for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    after = [[t.pos_ for t in d] for d in loaded.pipe(texts)]
    assert before == after
    a, b = _state(_fusion(nlp)), _state(_fusion(loaded))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    scores_a = nlp.get_pipe("morphologizer").predict([nlp(texts[0])])
    scores_b = loaded.get_pipe("morphologizer").predict([loaded(texts[0])])
    numpy.testing.assert_array_equal(scores_a, scores_b)


def test_a_load_time_override_of_the_trained_layers_is_refused(tiny_xlmr, tmp_path):
    """thinc restores a saved model's attrs over those its config built: without the check,
    the model would read its trained layers while nlp.config shows the override."""
    nlp = make_nlp(tiny_xlmr, "DLFA", layers=[1, -1])
    _train(nlp, steps=1)
    nlp.to_disk(tmp_path / "pipeline")
    tags = [t.pos_ for t in spacy.load(tmp_path / "pipeline")("the cat sat")]
    assert tags == [t.pos_ for t in nlp("the cat sat")]
    override = {"components": {"morphologizer": {"model": {"tok2vec": {"layers": [2, -1]}}}}}
    loaded = spacy.load(tmp_path / "pipeline", config=override)
    assert loaded.config["components"]["morphologizer"]["model"]["tok2vec"]["layers"] == [2, -1]
    with pytest.raises(ValueError, match=r"layers=\[2, -1\] in the config, but this model was trained on "
                                         r"layers \[1, -1\]"):
        loaded("the cat sat")
    same = {"components": {"morphologizer": {"model": {"tok2vec": {"layers": [1, -1]}}}}}
    assert [t.pos_ for t in spacy.load(tmp_path / "pipeline", config=same)("the cat sat")] == tags


@pytest.mark.parametrize("saved,loaded_with", [(1.0, 0.0), (0.0, 1.0)])
def test_a_load_time_override_of_grad_factor_takes_effect(tiny_bert, tmp_path, saved, loaded_with):
    """thinc restores a saved model's attrs over those its config built, so grad_factor (and
    the fusion's input gradient, which follows it) must not live there: loaded with another
    grad_factor, e.g. 0 to go on training with the encoder frozen, the model does what
    nlp.config shows."""
    from thinc.api import Adam

    nlp = make_nlp(tiny_bert, "DLFA", grad_factor=saved)
    examples = _train(nlp, steps=1)
    nlp.to_disk(tmp_path / "pipeline")
    override = {"components": {"morphologizer": {"model": {"tok2vec": {"grad_factor": loaded_with}}}}}
    loaded = spacy.load(tmp_path / "pipeline", config=override)
    assert loaded.config["components"]["morphologizer"]["model"]["tok2vec"]["grad_factor"] == loaded_with
    losses = {}
    loaded.update([Example(loaded.make_doc(e.reference.text), e.reference) for e in examples],
                  sgd=Adam(0.001), losses=losses)
    # spacy-transformers' loss is the squared sum of the gradient its listeners send back.
    assert (losses["transformer"] > 0) == (loaded_with != 0)
    fusion = loaded.get_pipe("morphologizer").model.get_ref("tok2vec").get_ref("fusion")
    layers = [numpy.ones((3, 2, 32), dtype="f")]
    _, backprop = fusion(layers, is_train=True)
    (d_layers,) = backprop([numpy.ones((3, 32), dtype="f")])
    assert (d_layers is None) == (loaded_with == 0)


def _first_batch(nlp):
    examples = synthetic_examples(nlp, 5)
    nlp.initialize(lambda: examples)
    nlp("the cat sat")


def test_layer_out_of_range_names_layers(tiny_bert):
    nlp = make_nlp(tiny_bert, "DLFA", layers=[7, -1])  # 4 hidden states: 0..3
    with pytest.raises(ValueError, match=r"layers=\[7, -1\].*out of range.*4 hidden states"):
        _first_batch(nlp)


def test_width_mismatch_names_width(tiny_bert):
    nlp = make_nlp(tiny_bert, "LastLayer", width=48)
    with pytest.raises(ValueError, match=r"width=48 .*hidden size 32"):
        _first_batch(nlp)


def test_empty_layers_is_rejected(tiny_bert):
    with pytest.raises(ValueError, match="layers is empty"):
        make_nlp(tiny_bert, "LastLayer", layers=[])


def test_a_hidden_state_named_twice_is_rejected(tiny_bert):
    """[4, 4], or [3, -1] on 4 hidden states, fused a hidden state with itself, silently."""
    with pytest.raises(ValueError, match=r"layers=\[2, 2\] names a hidden state twice"):
        make_nlp(tiny_bert, "DLFA", layers=[2, 2])
    nlp = make_nlp(tiny_bert, "DLFA", layers=[3, -1])  # 4 hidden states: 3 is -1
    with pytest.raises(ValueError, match=r"layers=\[3, -1\] names a hidden state twice \(as \[3, 3\].*4 hidden"):
        _first_batch(nlp)


@pytest.mark.parametrize("setting, value, message", [
    ("grad_factor", "0.5", r"grad_factor='0.5' must be a number"),
    ("width", "32", r"width='32' must be the transformer's hidden size, an integer > 0"),
    ("layers", ["2", -1], r"layers=\['2', -1\] must be a list of integers"),
])
def test_a_number_written_as_a_string_is_rejected_naming_the_setting(tiny_bert, setting, value, message):
    """spaCy's config validation let these through as strings: they failed in the first update
    (numpy's UFuncNoLoopError) or at construction (TypeError), naming no setting."""
    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config=transformer_config(tiny_bert, "layer_fusion.TransformerModel.v1", 128, 96))
    listener = listener_config(32, "DLFA", [2, -1])
    listener[setting] = value
    with pytest.raises(ValueError, match=message):
        nlp.add_pipe("morphologizer", config={"model": {"@architectures": "spacy.Tagger.v2", "nO": None,
                                                         "tok2vec": listener}})


@pytest.mark.parametrize("fusion", ["DLFA", "AIF"])
def test_two_layer_fusion_with_one_layer(tiny_bert, fusion):
    with pytest.raises(ValueError, match=rf"{fusion}.v1 needs .*2 layer.* in 'layers=\[-1\]', got 1"):
        make_nlp(tiny_bert, fusion, layers=[-1])


def test_last_layer_takes_one_layer(tiny_bert):
    with pytest.raises(ValueError, match=r"LastLayer.v1 needs exactly 1 layer"):
        make_nlp(tiny_bert, "LastLayer", layers=[0, -1])


def test_unregistered_fusion_names_the_function(tiny_bert):
    from pipelines import FUSIONS

    FUSIONS["Nope"] = {"layers": [-1], "fusion": {"@layers": "layer_fusion.Nope.v1"}}
    try:
        with pytest.raises(Exception, match=r"layer_fusion\.Nope\.v1"):
            make_nlp(tiny_bert, "Nope")
    finally:
        del FUSIONS["Nope"]


def test_stock_transformer_without_hidden_states_is_explained(tiny_bert):
    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-transformers.TransformerModel.v3", "name": str(tiny_bert),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96},
        "transformer_config": {"output_hidden_states": False}}})
    from pipelines import listener_config

    nlp.add_pipe("morphologizer", config={"model": {
        "@architectures": "spacy.Tagger.v2", "nO": None, "tok2vec": listener_config(32, "LastLayer")}})
    with pytest.raises(ValueError, match="layer_fusion.TransformerModel.v1"):
        _first_batch(nlp)


def test_missing_encoder_folder_says_which_command_builds_it(tmp_path):
    nlp = make_nlp(tmp_path / "assets" / "encoders" / "absent", "LastLayer")
    with pytest.raises(FileNotFoundError, match=r"not found: build the default encoder with `spacy project run encoder`"):
        _first_batch(nlp)


def test_an_encoder_without_a_pooler_initializes_without_transformers_warning(e5_like):
    """The built encoder has no pooler (its source has none): transformers warned that the
    pooler was "newly initialized" and that the model "should probably" be trained."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(handler)
    try:
        nlp = make_nlp(e5_like, "LastLayer")  # like the built encoder: no pooler
        _first_batch(nlp)
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "newly initialized" in r.getMessage()]


def test_only_a_new_pooler_is_kept_quiet():
    import logging

    from layer_fusion.layers.transformer_model import not_only_a_new_pooler

    def record(message):
        return logging.LogRecord("transformers.modeling_utils", logging.WARNING, "", 0, message, None, None)

    head = "Some weights of BertModel were not initialized from the model checkpoint at m and are newly initialized: "
    assert not not_only_a_new_pooler(record(head + "['pooler.dense.bias', 'pooler.dense.weight']\nYou should ..."))
    assert not_only_a_new_pooler(record(head + "['pooler.dense.bias', 'encoder.layer.0.output.dense.weight']\n"))
    assert not_only_a_new_pooler(record("Some other warning"))


def test_two_listeners_accumulate_their_gradients(tiny_bert):
    """Multi-task training: every listener's gradient reaches the shared transformer, and
    only through the hidden states it reads. A FEATS-like tagger reads hidden state 1
    (the output of layer 0) and listens first; the UPOS listener (last, grad_factor 0)
    sends nothing. spacy-transformers hands all but the last listener an accumulating
    callback, so layer 0 moves only if that accumulated gradient is backpropagated; the
    layers above hidden state 1 get no gradient at all and must not move (plain SGD, no
    weight decay)."""
    from spacy.training import Example
    from spacy.tokens import Doc
    from thinc.api import SGD

    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config=transformer_config(tiny_bert))
    nlp.add_pipe("tagger", name="feats", config={"model": {
        "@architectures": "spacy.Tagger.v2", "nO": None, "tok2vec": listener_config(32, "LastLayer", [1])}})
    nlp.add_pipe("morphologizer", config={"model": {
        "@architectures": "spacy.Tagger.v2", "nO": None, "tok2vec": listener_config(32, "LastLayer", [-1], 0.0)}})
    assert nlp.get_pipe("transformer").listening_components == ["feats", "morphologizer"]
    examples = [Example(Doc(nlp.vocab, words=[t.text for t in eg.reference]),
                        Doc(nlp.vocab, words=[t.text for t in eg.reference], pos=[t.pos_ for t in eg.reference],
                            tags=[t.pos_ for t in eg.reference]))
                for eg in synthetic_examples(nlp, 30)]
    nlp.initialize(lambda: examples)
    before = _state(nlp.get_pipe("transformer").model.transformer)
    sgd = SGD(0.5, L2=0.0, grad_clip=0.0)
    # Step 1 sends no gradient (the tagger's output layer starts at zero). spaCy calls the
    # transformer's finish_update before its listeners backpropagate, so the gradient of
    # step 2 is applied in step 3.
    for _ in range(3):
        nlp.update(examples, sgd=sgd)
    after = _state(nlp.get_pipe("transformer").model.transformer)
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoder.layer.0.") for k in moved)
    assert not any(k.startswith(("encoder.layer.1.", "encoder.layer.2.")) for k in moved)


def test_readme_recipe_for_training_the_shipped_config_further(tiny_xlmr):
    """README: resume_training() cannot build the shipped config's optimizer alone (its
    schedule refers to ${training.max_steps}); given the training's own one, it trains."""
    from confection import ConfigValidationError
    from spacy.util import load_config, load_model_from_config, registry

    from conftest import REPO

    config = load_config(REPO / "configs" / "finetuned.cfg", overrides={
        "paths.encoder": str(tiny_xlmr), "components.morphologizer.model.tok2vec.width": 32,
        # the tiny encoder has 3 layers
        "initialize.after_init.bottom_layers": 1, "components.morphologizer.model.tok2vec.layers": [1, -1]})
    nlp = load_model_from_config(config, auto_fill=True)
    with pytest.raises(ConfigValidationError, match="total_steps"):
        nlp.resume_training()
    examples = synthetic_examples(nlp, 8)
    optimizer = registry.resolve({"o": nlp.config.interpolate()["training"]["optimizer"]})["o"]
    nlp.initialize(lambda: examples, sgd=optimizer)  # stands in for the trained, loaded pipeline
    sgd = nlp.resume_training(sgd=optimizer)
    losses = nlp.update(examples, sgd=sgd)
    assert losses["morphologizer"] > 0


@pytest.mark.parametrize("window, stride, message", [
    (4, 8, r"get_spans leaves tokens \[4, 5, 6, 7, 12, 13, 14, 15\]\.\.\. of a doc of 50 words in no span"),
    (4, 0, r"get_spans fails on a doc of 50 words \(ZeroDivisionError"),
])
def test_span_settings_that_leave_tokens_without_features_are_refused(tiny_bert, window, stride, message):
    """stride > window tagged the skipped tokens without features and without a warning;
    stride 0 failed on the first doc with a bare ZeroDivisionError."""
    with pytest.raises(ValueError, match=message):
        make_nlp(tiny_bert, "LastLayer", window=window, stride=stride)
    make_nlp(tiny_bert, "LastLayer", window=4, stride=4)  # adjacent windows cover every token

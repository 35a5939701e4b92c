"""Parameter averaging (``use_averages = true``) reaches the encoder.

Reference: the moving average written out from thinc's documented update,
avg_t = d_t avg_{t-1} + (1 - d_t) w_t with d_t = min((1 + t) / (10 + t), 0.9999),
applied to the weights the optimizer returned at each of its updates of a parameter.
"""
from collections import defaultdict

import numpy
import spacy
import torch
from pipelines import synthetic_examples, torch_transformer, v2_nlp
from spacy_transformers.layers.hf_shim import HFShim
from thinc.api import Optimizer

from layer_fusion.freezing import create_freeze_encoder

STEPS = 4


class RecordingAdam(Optimizer):
    """thinc's Adam that keeps a copy of every weight array it returns, by key."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.returned = defaultdict(list)

    def __call__(self, key, weights, gradient, **kwargs):
        weights, gradient = super().__call__(key, weights, gradient, **kwargs)
        self.returned[key].append(weights.copy())
        return weights, gradient


def _train_recording(model_dir):
    """A v2 pipeline trained STEPS steps with averages on; the encoder's weights after
    each optimizer update, by parameter name."""
    spacy.util.fix_random_seed(0)
    nlp = v2_nlp(model_dir)
    examples = synthetic_examples(nlp, 20)
    nlp.initialize(lambda: examples)
    create_freeze_encoder("transformer", 0)(nlp)  # word embeddings frozen, as in training
    optimizer = RecordingAdam(0.01, use_averages=True)
    for _ in range(STEPS):
        nlp.update(examples, sgd=optimizer)
    shim_id = nlp.get_pipe("transformer").model.layers[0].shims[0].id
    trajectory = {name: values for (owner, name), values in optimizer.returned.items() if owner == shim_id}
    return nlp, optimizer, trajectory


def _moving_average(values):
    average = numpy.zeros_like(values[0])
    for t, value in enumerate(values, start=1):
        decay = min((1.0 + t) / (10.0 + t), 0.9999)
        average = decay * average + (1.0 - decay) * value
    return average


def _weights(nlp):
    return {k: p.detach().clone().numpy() for k, p in torch_transformer(nlp).named_parameters()}


def test_use_params_swaps_in_the_encoder_averages_and_restores(tiny_bert):
    nlp, optimizer, trajectory = _train_recording(tiny_bert)
    trained = _weights(nlp)
    moved = sorted(trajectory)
    assert any(k.startswith("encoder.layer.") for k in moved)
    assert all(len(values) >= 2 for values in trajectory.values())
    with nlp.use_params(optimizer.averages):
        inside = _weights(nlp)
    for k in moved:
        expected = _moving_average(trajectory[k]).reshape(trained[k].shape)
        numpy.testing.assert_allclose(inside[k], expected, rtol=1e-4, atol=1e-6, err_msg=k)
        assert not numpy.allclose(inside[k], trained[k]), k
    # parameters the optimizer never saw (frozen word embeddings) keep their values
    key = "embeddings.word_embeddings.weight"
    assert key not in moved
    numpy.testing.assert_array_equal(inside[key], trained[key])
    after = _weights(nlp)
    for k in trained:
        numpy.testing.assert_array_equal(after[k], trained[k], err_msg=k)


def test_stock_shim_ignored_the_encoder_averages(tiny_bert):
    """Why the shim exists: PyTorchShim.use_params reads string keys only."""
    nlp, optimizer, _ = _train_recording(tiny_bert)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    trained = _weights(nlp)
    with HFShim.use_params(shim, optimizer.averages):
        stock = _weights(nlp)
    assert all(numpy.array_equal(stock[k], trained[k]) for k in trained)


def test_model_saved_inside_use_params_holds_the_averages(tiny_bert, tmp_path):
    """spaCy saves model-last inside nlp.use_params(optimizer.averages)."""
    nlp, optimizer, _ = _train_recording(tiny_bert)
    texts = ["the big dog sat on a mat .", "a red cat ran to the house ."]
    trained = _weights(nlp)
    with nlp.use_params(optimizer.averages):
        averaged = _weights(nlp)
        tags = [[t.pos_ for t in d] for d in nlp.pipe(texts)]
        nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert any(not numpy.allclose(averaged[k], trained[k]) for k in trained if k.startswith("encoder."))
    for k, p in torch_transformer(loaded).named_parameters():
        torch.testing.assert_close(p.detach(), torch.from_numpy(averaged[k]), msg=k)
    assert [[t.pos_ for t in d] for d in loaded.pipe(texts)] == tags

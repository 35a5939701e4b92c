"""scripts/bench_inference.py measures the encoder the pipeline runs: in inference mode."""
import numpy
import pytest
import spacy
import torch
from pipelines import build_pipeline
from runners import load_script

TEXTS = ["the cat sat on the mat .", "a dog ran", "big cats sat down on the red mat today"]


@pytest.fixture(scope="module")
def pipeline_dir(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("bench") / "pipeline", tiny_xlmr, "DLFA", steps=4)


def test_bare_forward_and_hidden_states_run_without_dropout(pipeline_dir):
    bench = load_script("bench_inference")
    nlp = spacy.load(pipeline_dir)
    encoder = bench.encoder(nlp)
    dropouts = [m for m in encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts
    for m in dropouts:  # the tiny test encoder has none; multilingual-e5-small has 0.1
        m.p = 0.5
    encoder.train()  # where thinc's shim leaves it between calls
    first = bench.hidden_states(nlp, TEXTS, layers=(1, -1))
    encoder.train()
    second = bench.hidden_states(nlp, TEXTS, layers=(1, -1))
    for a, b in zip(first, second):
        numpy.testing.assert_array_equal(a, b)
    # ... and they are the states the pipeline itself computes.
    doc = nlp.get_pipe("transformer")(nlp.make_doc(TEXTS[0]))
    last = numpy.asarray(doc._.trf_data.model_output.last_hidden_state).reshape(-1, first[1].shape[-1])
    numpy.testing.assert_allclose(first[1][: len(last)], last, rtol=1e-5, atol=1e-5)
    encoder.train()
    bench.bare_forward(nlp, TEXTS)()
    assert not encoder.training

"""layer_fusion.sentence_strided_spans.v1: spacy-transformers' strided spans on a Doc without
sentence boundaries or of one sentence, each sentence's strided spans otherwise; with a
sentencizer before the transformer a paragraph is tagged as its sentences are, one at a time."""
import random

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc
from spacy.vocab import Vocab
from spacy_transformers.span_getters import get_strided_spans
from spacy_transformers.util import registry

from layer_fusion.sentence_spans import as_one_sentence, get_sentence_strided_spans
from pipelines import make_nlp, synthetic_examples

SENTENCE_SPANS = "layer_fusion.sentence_strided_spans.v1"


def bounds(spans):
    return [(span.start, span.end) for span in spans]


def make_doc(n, sentence_lengths=None):
    doc = Doc(Vocab(), words=[f"w{i}" for i in range(n)])
    if sentence_lengths is not None:
        starts = set(np.cumsum([0] + sentence_lengths[:-1]).tolist())
        for token in doc:
            token.is_sent_start = token.i in starts
    return doc


@pytest.mark.parametrize("window,stride", [(128, 96), (4, 3), (4, 4), (3, 2)])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 95, 96, 97, 128, 129, 200, 300])
def test_a_doc_without_boundaries_or_of_one_sentence_gets_the_stock_strided_spans(n, window, stride):
    stock = bounds(get_strided_spans([make_doc(n)], window, stride)[0])
    assert bounds(get_sentence_strided_spans([make_doc(n)], window, stride)[0]) == stock
    assert bounds(get_sentence_strided_spans([as_one_sentence(make_doc(n))], window, stride)[0]) == stock


def test_each_sentence_gets_its_own_strided_spans():
    # Window 4, stride 3, sentences of 2, 7 and 1 tokens: (0, 2); the 7 at token 2 give
    # [2, 6) and [5, 9) (the second reaches the sentence's end); then (9, 10).
    doc = make_doc(10, [2, 7, 1])
    assert bounds(get_sentence_strided_spans([doc], 4, 3)[0]) == [(0, 2), (2, 6), (5, 9), (9, 10)]
    assert bounds(get_strided_spans([doc], 4, 3)[0]) == [(0, 4), (3, 7), (6, 10)]  # across sentences


def test_spans_stay_in_their_sentence_and_cover_every_token():
    rng = random.Random(0)
    for _ in range(200):
        lengths = [rng.randint(1, 12) for _ in range(rng.randint(1, 6))]
        doc = make_doc(sum(lengths), lengths)
        sentence_of = [k for k, n in enumerate(lengths) for _ in range(n)]
        spans = get_sentence_strided_spans([doc], 5, 3)[0]
        assert all(len({sentence_of[i] for i in range(s.start, s.end)}) == 1 for s in spans)
        assert {i for s in spans for i in range(s.start, s.end)} == set(range(len(doc)))
        assert all(len(s) <= 5 for s in spans)


def test_registered_with_the_stock_settings():
    doc = make_doc(10, [2, 7, 1])
    getter = registry.span_getters.get(SENTENCE_SPANS)(window=4, stride=3)
    assert bounds(getter([doc])[0]) == bounds(get_sentence_strided_spans([doc], 4, 3)[0])


def test_a_sentencizer_keeps_a_doc_marked_as_one_sentence():
    nlp = spacy.blank("xx")
    sentencizer = nlp.add_pipe("sentencizer")
    assert len(list(sentencizer(nlp.make_doc("One. Two.")).sents)) == 2
    assert len(list(sentencizer(as_one_sentence(nlp.make_doc("One. Two."))).sents)) == 1


def _scores(nlp, text):
    """The morphologizer's scores (tokens x tags) for ``text`` tagged as one Doc."""
    doc = nlp(text)
    return nlp.get_pipe("morphologizer").model.predict([doc])[0]


@pytest.mark.parametrize("span_getter,same", [(SENTENCE_SPANS, True), ("spacy-transformers.strided_spans.v1", False)])
def test_a_paragraph_is_tagged_as_its_sentences_are_alone(tiny_xlmr, span_getter, same):
    """With sentence spans, the scores of a two-sentence text are those of each sentence
    tagged alone (the reference); with strided spans over the whole text they are not."""
    spacy.util.fix_random_seed(0)
    nlp = make_nlp(tiny_xlmr, "DLFA", span_getter=span_getter)
    nlp.add_pipe("sentencizer", before="transformer")
    examples = synthetic_examples(nlp, 20)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(5):  # an untrained output layer gives 0 for every input
        nlp.update(examples, sgd=optimizer)
    first, second = "the cat sat on a mat .", "a big dog ran to the red house ."
    alone = np.concatenate([_scores(nlp, first), _scores(nlp, second)])
    together = _scores(nlp, f"{first} {second}")
    assert together.shape == alone.shape and np.abs(alone).max() > 0.1
    assert np.allclose(together, alone, atol=1e-5) == same


def test_loaded_without_its_sentencizer_a_pipeline_reads_stock_windows(tiny_xlmr, tmp_path):
    """The README's way back to stock windows: ``exclude=["sentencizer"]`` leaves a Doc without
    sentence ends, so the pipeline tags a paragraph as one with stock strided spans does."""
    spacy.util.fix_random_seed(0)
    nlp = make_nlp(tiny_xlmr, "DLFA", span_getter=SENTENCE_SPANS)
    nlp.add_pipe("sentencizer", before="transformer")
    examples = synthetic_examples(nlp, 20)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(tmp_path / "pipeline")
    stock = {"components": {"transformer": {"model": {"get_spans": {
        "@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}}}}}
    text = "the cat sat on a mat . a big dog ran to the red house ."
    shipped = _scores(spacy.load(tmp_path / "pipeline"), text)
    without = _scores(spacy.load(tmp_path / "pipeline", exclude=["sentencizer"]), text)
    reference = _scores(spacy.load(tmp_path / "pipeline", exclude=["sentencizer"], config=stock), text)
    assert np.allclose(without, reference, atol=1e-6)
    assert not np.allclose(shipped, reference, atol=1e-5)

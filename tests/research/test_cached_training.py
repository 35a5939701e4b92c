"""Hidden-state cache and cached-head training: same features and same tags as
the spaCy path, and nothing half-written after a failure."""
import random

import numpy
import pytest
import spacy

from layer_fusion.research.cached_training import predict, train_head, treebank_result
from layer_fusion.research.fusion_head import HeadSettings
from layer_fusion.conllu import Sentence
from layer_fusion.research.head_export import check_agreement, export_head
from layer_fusion.research import hidden_cache
from layer_fusion.research.hidden_cache import build_cache, is_complete, load_cache
from conftest import REPO

LEXICON = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "house": "NOUN", "mat": "NOUN",
           "sat": "VERB", "ran": "VERB", "on": "ADP", "to": "ADP", "big": "ADJ", "red": "ADJ", ".": "PUNCT"}


def _sentences(n: int, seed: int):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(list(LEXICON)[:-1]) for _ in range(rng.randint(2, 9))] + ["."]
        out.append(Sentence(sent_id=f"s{i}", text=" ".join(words), words=words,
                            spaces=[True] * (len(words) - 1) + [False], upos=[LEXICON[w] for w in words]))
    return out


@pytest.fixture(scope="module")
def transformer_pipe(tiny_xlmr):
    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "layer_fusion.TransformerModel.v1", "name": str(tiny_xlmr),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}}})
    nlp.initialize()
    return nlp.get_pipe("transformer")


@pytest.fixture(scope="module")
def caches(transformer_pipe, tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    train = build_cache(transformer_pipe, _sentences(200, 0), root / "train", batch_size=16, progress=False)
    dev = build_cache(transformer_pipe, _sentences(60, 1), root / "dev", batch_size=16, progress=False)
    return train, dev


def test_cache_holds_the_listener_features(caches, tiny_xlmr):
    """Cached layer k equals what FusionListener(layers=[k]) computes, up to fp16 rounding."""
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from pipelines import make_nlp, synthetic_examples

    train, _ = caches
    assert train.features.shape == (int(train.offsets[-1]), 4, 32)
    sentences = _sentences(200, 0)[:20]
    for k in (0, 2, 3):
        nlp = make_nlp(tiny_xlmr, "LastLayer", layers=[k])
        nlp.initialize(lambda: synthetic_examples(nlp, 5))
        docs = [spacy.tokens.Doc(nlp.vocab, words=s.words, spaces=s.spaces) for s in sentences]
        docs = list(nlp.get_pipe("transformer").pipe(docs))
        vectors = nlp.get_pipe("morphologizer").model.get_ref("tok2vec").predict(docs)
        for i, v in enumerate(vectors):
            cached = numpy.asarray(train.features[train.offsets[i]:train.offsets[i + 1], k], dtype="float32")
            numpy.testing.assert_allclose(cached, v, rtol=1e-3, atol=1e-3)
    assert list(train.labels[: len(sentences[0].upos)]) == [hidden_cache.UPOS_INDEX[t] for t in sentences[0].upos]


def test_interrupted_build_leaves_no_cache(transformer_pipe, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hidden_cache, "layer_pooling", lambda *a, **k: type("P", (), {"predict": broken})())
    with pytest.raises(KeyboardInterrupt):
        build_cache(transformer_pipe, _sentences(10, 0), tmp_path / "c", progress=False)
    assert not is_complete(tmp_path / "c") and not (tmp_path / "c").exists()
    with pytest.raises(FileNotFoundError, match="meta.json"):
        load_cache(tmp_path / "c")


@pytest.mark.parametrize("fusion,layers,kwargs", [
    ("LastLayer", [-1], {}), ("AIF", [1, -1], {"reduction": 4}), ("ScalarMix", [0, 1, 2, 3], {"layer_dropout": 0.1}),
])
def test_cached_head_tags_like_the_spacy_pipeline(caches, tiny_xlmr, fusion, layers, kwargs):
    """Tolerance: token agreement >= 99% and accuracies within 1 point (fp16 cache vs fp32)."""
    train, dev = caches
    settings = HeadSettings(fusion, layers, kwargs, epochs=4, learn_rate=1e-2)
    head, history = train_head(settings, train, dev, log=lambda *a: None)
    assert history["best_dev_accuracy"] == max(history["dev_accuracy"])
    cached = predict(head, dev)
    result = treebank_result(dev, cached, "dev", n_resamples=100)
    assert result.sentences == 60 and result.words == len(dev.labels)
    nlp = export_head(head, settings, tiny_xlmr, REPO / "configs" / "aif.cfg")
    check = check_agreement(nlp, _sentences(60, 1), cached)
    assert check["agreement"] >= 0.99, check
    assert abs(check["spacy_accuracy"] - check["cached_accuracy"]) <= 0.01, check
    assert abs(check["cached_accuracy"] - result.accuracy) < 1e-12


def _write_conllu(path, sentences):
    lines = []
    for s in sentences:
        lines += [f"# sent_id = {s.sent_id}", f"# text = {s.text}"]
        lines += [f"{i}\t{w}\t_\t{u}\t_\t_\t_\t_\t_\t_" for i, (w, u) in enumerate(zip(s.words, s.upos), 1)]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def test_cache_cli_builds_trains_and_saves_a_pipeline(tiny_xlmr, tmp_path):
    from typer.testing import CliRunner

    from layer_fusion.cli import app

    runner = CliRunner()
    train = _write_conllu(tmp_path / "train.conllu", _sentences(120, 0))
    dev = _write_conllu(tmp_path / "dev.conllu", _sentences(30, 1))
    for name, path in (("train", train), ("dev", dev)):
        result = runner.invoke(app, ["cache", "build", str(tiny_xlmr), str(path), str(tmp_path / f"cache-{name}")])
        assert result.exit_code == 0, result.output
    assert is_complete(tmp_path / "cache-train")
    result = runner.invoke(app, ["cache", "train", str(tmp_path / "cache-train"), str(tmp_path / "cache-dev"),
                                 str(tmp_path / "pipeline"), "--fusion", "DLFA", "--layer", "1", "--layer", "-1",
                                 "--epochs", "3", "--learn-rate", "0.01", "--config", str(REPO / "configs" / "aif.cfg")])
    assert result.exit_code == 0, result.output
    nlp = spacy.load(tmp_path / "pipeline")
    doc = nlp("the big dog ran to the house .")
    assert [t.pos_ for t in doc].count("") == 0
    result = runner.invoke(app, ["cache", "train", str(tmp_path / "nope"), str(tmp_path / "cache-dev"),
                                 str(tmp_path / "p2")])
    assert result.exit_code == 2 and "layer-fusion cache build" in result.output


def test_heads_train_and_predict_on_one_thread_whatever_the_setting(caches, monkeypatch):
    """AIF's results depend on torch's thread count, so head training pins it (and restores it)."""
    import torch

    train, dev = caches
    seen = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (seen.append(torch.get_num_threads()), step(self, *a, **k))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        head, _ = train_head(HeadSettings("AIF", [1, -1], seed=0, epochs=1), train, dev, log=lambda m: None)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
        predict(head, dev)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

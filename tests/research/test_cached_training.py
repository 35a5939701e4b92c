"""Hidden-state cache and cached-head training: same features and same tags as
the spaCy path, and nothing half-written after a failure."""
import json
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

    # Bad input: one-line errors before any work, and a finished cache reused only if it is this one.
    def flat(result):
        return " ".join(result.output.split())

    build = ["cache", "build", str(tiny_xlmr)]
    again = runner.invoke(app, [*build, str(train), str(tmp_path / "cache-train")])
    assert again.exit_code == 0 and "complete already, reused" in flat(again)
    other = runner.invoke(app, [*build, str(dev), str(tmp_path / "cache-train")])
    assert other.exit_code == 2 and f"already holds a cache of {train}" in flat(other)
    assert "made from other CoNLL-U file" in flat(other)
    copy = tmp_path / "copy.conllu"  # the same sentences elsewhere: the same cache
    copy.write_bytes(train.read_bytes())
    assert runner.invoke(app, [*build, str(copy), str(tmp_path / "cache-train")]).exit_code == 0
    copy.write_text(copy.read_text(encoding="utf8").replace("\tcat\t", "\tcats\t"), encoding="utf8")
    edited = runner.invoke(app, [*build, str(copy), str(tmp_path / "cache-train")])
    assert edited.exit_code == 2 and "made from other CoNLL-U file: remove it" in flat(edited)
    empty = tmp_path / "empty.conllu"
    empty.write_text("# nothing\n", encoding="utf8")
    result = runner.invoke(app, [*build, str(empty), str(tmp_path / "cache-empty")])
    assert result.exit_code == 1 and "no sentences with words to cache" in flat(result)
    result = runner.invoke(app, ["cache", "build", str(tmp_path / "no-encoder"), str(train), str(tmp_path / "c")])
    assert result.exit_code == 2 and "no-encoder: no such folder" in flat(result)
    here = tmp_path / "here"  # empty: `.` passed the checks, and failed at the rename after the work
    here.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(here)
        result = runner.invoke(app, [*build, str(train), "."])
    assert result.exit_code == 2 and "cannot write the cache to .: it is the current folder" in flat(result)
    assert list(here.iterdir()) == []
    caches = [str(tmp_path / "cache-train"), str(tmp_path / "cache-dev")]
    config = ["--config", str(REPO / "configs" / "aif.cfg")]
    result = runner.invoke(app, ["cache", "train", *caches, str(tmp_path / "p3"), "--layer", "99", "--layer", "-1", *config])
    assert result.exit_code == 2 and "--layer 99: the caches hold" in flat(result)
    assert not (tmp_path / "p3").exists()
    result = runner.invoke(app, ["cache", "train", *caches, str(tmp_path / "p3"), "--fusion", "DLFA",
                                 "--layer", "2", "--layer", "5", "--layer", "-1", *config])
    assert result.exit_code == 2 and "--fusion DLFA: DLFA needs exactly 2 layer(s) in '--layer', got 3" in flat(result)
    assert not (tmp_path / "p3").exists()
    for twice in (["2", "2"], ["-1", "-1"]):  # one hidden state twice: refused before training, no traceback
        result = runner.invoke(app, ["cache", "train", *caches, str(tmp_path / "p3"), "--fusion", "DLFA",
                                     "--layer", twice[0], "--layer", twice[1], *config])
        assert result.exit_code == 2 and "names a hidden state twice" in flat(result), flat(result)
        assert not (tmp_path / "p3").exists()

    # OUTPUT is a folder: an existing one is replaced, a file is refused before training.
    again = runner.invoke(app, ["cache", "train", *caches, str(tmp_path / "pipeline"), "--fusion", "DLFA",
                                "--layer", "1", "--layer", "-1", "--epochs", "1", *config])
    assert again.exit_code == 0, again.output
    assert spacy.load(tmp_path / "pipeline").pipe_names and not list(tmp_path.glob(".pipeline.*"))
    result = runner.invoke(app, ["cache", "train", *caches, str(train), *config])
    assert result.exit_code == 2 and f"cannot write OUTPUT {train}: it is a file, not a folder" in flat(result)
    (tmp_path / "work" / "model-best").mkdir(parents=True)  # a folder of other things is never replaced
    (tmp_path / "work" / "model-best" / "keep").write_text("x")
    result = runner.invoke(app, ["cache", "train", *caches, str(tmp_path / "work"), *config])
    assert result.exit_code == 2 and "holds other things than a spaCy pipeline" in flat(result)
    assert (tmp_path / "work" / "model-best" / "keep").read_text() == "x"
    # A config whose transformer reads other windows than the caches were computed in.
    wide = tmp_path / "wide.cfg"
    wide.write_text((REPO / "configs" / "aif.cfg").read_text(encoding="utf8").replace("window = 128", "window = 256"),
                    encoding="utf8")
    result = runner.invoke(app, ["cache", "train", *caches, str(tmp_path / "p4"), "--layer", "1", "--layer", "-1",
                                 "--config", str(wide)])
    assert result.exit_code == 2 and not (tmp_path / "p4").exists()
    assert ("the window and stride of its transformer's get_spans (@span_getters = "
            "spacy-transformers.strided_spans.v1, window = 256, stride = 96) are not those") in flat(result)
    assert "(strided_spans window=128 stride=96)" in flat(result)

    # A folder that is not a Hugging Face model (here: a spaCy pipeline) is refused by name.
    result = runner.invoke(app, [*build[:2], str(tmp_path / "pipeline"), str(train), str(tmp_path / "c")])
    assert result.exit_code == 2 and "no config.json, so not a Hugging Face model folder" in flat(result)


@pytest.mark.parametrize("fusion,layers,message", [
    ("DLFA", [13, -1], r"layers=\[13, -1\]: \[13\] out of range .* 13 hidden states"),
    ("DLFA", [-14, -1], r"\[-14\] out of range"),
    ("LastLayer", [4, -1], r"LastLayer needs exactly 1 layer\(s\) in 'layers', got 2"),
    ("DLFA", [2, 5, -1], r"DLFA needs exactly 2 layer\(s\) in 'layers', got 3"),
    ("AIF", [6], r"AIF needs at least 2 layer\(s\)"),
    ("Mean", [6, -1], r"fusion 'Mean' is not one of LastLayer, DLFA, AIF"),
])
def test_a_fusion_head_refuses_the_layers_a_spacy_pipeline_refuses(fusion, layers, message):
    """The research path trains what the spaCy path would build, or nothing: a layer out of
    range is not wrapped around, and a fusion is not given layers it would drop."""
    from layer_fusion.research.fusion_head import FusionHead, FusionVariant

    with pytest.raises(ValueError, match=message):
        FusionHead(FusionVariant(fusion, layers), n_hidden_states=13, width=8)
    assert FusionHead(FusionVariant("DLFA", [12, -13]), n_hidden_states=13, width=8).layers == [12, 0]


def test_cache_train_checks_the_caches_encoder_before_training(tiny_xlmr, tmp_path, monkeypatch):
    """A cache records its encoder's absolute path; one whose encoder is gone is an error
    before any training, not a hub download after it."""
    import shutil

    from typer.testing import CliRunner

    from layer_fusion.cli import app
    from layer_fusion.research import cached_training

    encoder = shutil.copytree(tiny_xlmr, tmp_path / "encoder")
    train = _write_conllu(tmp_path / "train.conllu", _sentences(20, 0))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["cache", "build", "encoder", "train.conllu", "cache-train"])  # a relative path
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cache-train" / "meta.json").read_text())["encoder"] == str(encoder)

    monkeypatch.setattr(cached_training, "train_head", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    shutil.rmtree(encoder)
    args = ["cache", "train", "cache-train", "cache-train", "pipeline", "--config", str(REPO / "configs" / "aif.cfg")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"the encoder of cache-train (its meta.json; --encoder to give another) {encoder}: no such folder" \
        in " ".join(result.output.split())


def test_cache_train_reads_its_config_before_training(tmp_path, monkeypatch):
    """A missing or broken --config is a one-line error before any cache is read or head trained
    (export_head reads it only after training)."""
    from typer.testing import CliRunner

    from layer_fusion.cli import app
    from layer_fusion.research import cached_training

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before reading the config")

    monkeypatch.setattr(cached_training, "train_head", must_not_train)
    monkeypatch.chdir(tmp_path)  # no configs/aif.cfg here: the default does not resolve
    runner = CliRunner()
    args = ["cache", "train", "cache-train", "cache-dev", "pipeline"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--config configs/aif.cfg" in result.output and "run from the project folder" in result.output
    (tmp_path / "broken.cfg").write_text("[paths]\nencoder = \n[[\n", encoding="utf8")
    result = runner.invoke(app, [*args, "--config", "broken.cfg"])
    assert result.exit_code == 2
    assert "--config broken.cfg" in result.output and "[line  3]" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "pipeline").exists()


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


def test_padded_word_batches_cover_every_sentence_within_the_budget():
    from layer_fusion.research.batching import padded_word_batches

    lengths = numpy.random.default_rng(0).integers(1, 60, size=700)
    lengths[5] = 2000  # longer than the budget: a batch of its own
    batches = padded_word_batches(lengths, 1000, numpy.random.default_rng(1), buffer=256)
    assert sorted(i for b in batches for i in b) == list(range(700))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 1000
    assert [5] in batches
    # Full batches: one more sentence of the batch's longest length would not fit.
    assert numpy.mean([len(b) * max(lengths[i] for i in b) for b in batches]) > 700
    again = padded_word_batches(lengths, 1000, numpy.random.default_rng(1), buffer=256)
    assert again == batches


def test_per_array_clipping_and_the_optimiser_match_thincs_adam():
    """Independent reference: thinc's Optimizer, as the frozen spaCy configs build it."""
    import torch
    from thinc.api import Adam as ThincAdam
    from layer_fusion.research.cached_training import clip_each_gradient

    rng = numpy.random.default_rng(0)
    w0 = rng.normal(size=(4, 6)).astype("float32")
    grads = [rng.normal(scale=s, size=(4, 6)).astype("float32") for s in (0.01, 3.0, 0.5, 10.0)]
    settings = HeadSettings("LastLayer", [-1])
    thinc_opt = ThincAdam(settings.learn_rate, L2=settings.weight_decay, L2_is_weight_decay=True,
                          grad_clip=settings.grad_clip, beta1=0.9, beta2=0.999, eps=1e-8, use_averages=False)
    param = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    torch_opt = torch.optim.Adam([param], lr=settings.learn_rate, betas=(0.9, 0.999), eps=1e-8,
                                 weight_decay=settings.weight_decay, decoupled_weight_decay=True)
    w_thinc = w0.copy().ravel()
    for g in grads:
        w_thinc, _ = thinc_opt((0, "W"), w_thinc, g.copy().ravel())
        param.grad = torch.from_numpy(g.copy())
        clip_each_gradient([param], settings.grad_clip)
        assert float(param.grad.norm()) <= settings.grad_clip * (1 + 1e-6)
        torch_opt.step()
    # Weight decay is applied after Adam's step in thinc, before it in torch: O(lr^2 * L2).
    numpy.testing.assert_allclose(param.detach().numpy().ravel(), w_thinc, rtol=0, atol=1e-6)
    assert numpy.abs(w_thinc - w0.ravel()).max() > 1e-3  # the steps moved the weights


def test_training_stops_after_patience_epochs_and_keeps_the_best(caches, monkeypatch):
    import copy
    from layer_fusion.research import cached_training

    train, dev = caches
    scripted = iter([0.50, 0.60, 0.60, 0.55, 0.58, 0.90, 0.95])
    states = []
    real_predict = cached_training.predict

    def recording_predict(head, cache, *args, **kwargs):
        states.append(copy.deepcopy(head.state_dict()))
        return real_predict(head, cache, *args, **kwargs)

    monkeypatch.setattr(cached_training, "predict", recording_predict)
    monkeypatch.setattr(cached_training, "accuracy", lambda cache, predictions: next(scripted))
    head, history = train_head(HeadSettings("DLFA", [1, -1], epochs=10, patience=3), train, dev, log=lambda m: None)
    # Epoch 2 is best; epochs 3, 4 and 5 do not beat it (a tie is no improvement): stop after 5.
    assert history["dev_accuracy"] == [0.50, 0.60, 0.60, 0.55, 0.58]
    assert (history["best_epoch"], history["epochs_run"], history["best_dev_accuracy"]) == (2, 5, 0.60)
    assert history["peaked_at_last_allowed_epoch"] is False
    for name, value in head.state_dict().items():
        assert torch_equal(value, states[1][name]), name
    assert not all(torch_equal(states[1][n], states[4][n]) for n in states[1])  # training moved on


def test_a_run_still_improving_at_its_last_allowed_epoch_is_flagged(caches, monkeypatch):
    from layer_fusion.research import cached_training

    train, dev = caches
    scripted = iter([0.5, 0.6, 0.7])
    monkeypatch.setattr(cached_training, "accuracy", lambda cache, predictions: next(scripted))
    _, history = train_head(HeadSettings("LastLayer", [-1], epochs=3, patience=3), train, dev, log=lambda m: None)
    assert history["best_epoch"] == history["epochs_run"] == 3 and history["peaked_at_last_allowed_epoch"]


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_a_disk_without_room_for_the_features_is_an_error_before_any_write(transformer_pipe, tmp_path, monkeypatch):
    """The features are a memory map: writing past a full disk killed the process with SIGBUS
    and no message. Their blocks are now allocated first, so a full disk raises OSError."""
    import errno
    import os

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match=r"No space left on device \(the features take 0\.\d\d GiB\)") as err:
        build_cache(transformer_pipe, _sentences(10, 0), tmp_path / "c", progress=False)
    assert err.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # no cache, no partial folder
    from typer.testing import CliRunner

    from layer_fusion.cli import app

    conllu = _write_conllu(tmp_path / "in.conllu", _sentences(10, 0))
    result = CliRunner().invoke(app, ["cache", "build", str(transformer_pipe.model.attrs["name"]), str(conllu),
                                      str(tmp_path / "c")])
    assert result.exit_code == 1
    assert f"cannot write the cache to {tmp_path / 'c'}: No space left on device (the features take" in " ".join(
        result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.conllu"]


def test_a_cache_whose_arrays_disagree_is_refused_naming_the_file(caches, tmp_path):
    """offsets.npy that does not end at the features' length was trained on, silently."""
    import shutil

    import numpy

    bad = tmp_path / "bad"
    shutil.copytree(caches[1].path, bad)
    offsets = numpy.load(bad / "offsets.npy")
    numpy.save(bad / "offsets.npy", offsets[:-1])  # one sentence short of the features
    with pytest.raises(ValueError, match=r"bad: offsets.npy ends at \d+, but features.npy has \d+ token rows"):
        load_cache(bad)
    numpy.save(bad / "offsets.npy", offsets[::-1].copy())
    with pytest.raises(ValueError, match=r"offsets.npy: not sentence offsets"):
        load_cache(bad)


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_cache_train_refuses_a_learn_rate_that_is_not_a_positive_number(caches, tmp_path, value):
    from typer.testing import CliRunner

    from layer_fusion.cli import app

    result = CliRunner().invoke(app, ["cache", "train", str(caches[0].path), str(caches[1].path),
                                      str(tmp_path / "p"), "--learn-rate", value])
    assert result.exit_code == 2 and f"--learn-rate {float(value)}: must be a number > 0" in result.output
    assert not (tmp_path / "p").exists()


def test_cache_cli_keeps_other_folders_rebuilds_damaged_caches_and_matches_encoders(tiny_xlmr, tmp_path, monkeypatch):
    """cache build never replaces a folder of other things, builds a damaged cache again, and
    names an encoder it cannot load; cache train refuses, before training, caches made from
    different encoders and an --encoder other than the caches' own; a negative seed is a
    usage error."""
    import shutil

    from typer.testing import CliRunner

    from layer_fusion.cli import app
    from layer_fusion.research import cached_training

    def flat(result):
        return " ".join(result.output.split())

    runner = CliRunner()
    train = _write_conllu(tmp_path / "train.conllu", _sentences(20, 0))
    build = ["cache", "build", str(tiny_xlmr), str(train)]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("precious")
    result = runner.invoke(app, [*build, str(tmp_path / "notes")])
    assert result.exit_code == 2 and "OUTPUT " in flat(result) and "holds other things than a hidden-state cache" in flat(result)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "precious"

    cache = tmp_path / "cache"
    assert runner.invoke(app, [*build, str(cache)]).exit_code == 0
    for damage in (lambda: (cache / "labels.npy").unlink(), lambda: (cache / "meta.json").write_text("[]")):
        damage()
        result = runner.invoke(app, [*build, str(cache)])
        assert result.exit_code == 0 and "not a readable hidden-state cache" in flat(result) \
            and "building it again" in flat(result), flat(result)
        assert load_cache(cache).n_sentences == 20

    broken = shutil.copytree(tiny_xlmr, tmp_path / "broken")
    (broken / "config.json").write_text("{not json")
    result = runner.invoke(app, ["cache", "build", str(broken), str(train), str(tmp_path / "c-broken")])
    assert result.exit_code == 2 and f"ENCODER {broken}: cannot be loaded" in flat(result)
    assert not (tmp_path / "c-broken").exists()

    other = shutil.copytree(tiny_xlmr, tmp_path / "other")  # the same shapes, other files
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "note": "another encoder"}))
    assert runner.invoke(app, ["cache", "build", str(other), str(train), str(tmp_path / "cache-other")]).exit_code == 0
    monkeypatch.setattr(cached_training, "train_head", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    head = ["--config", str(REPO / "configs" / "aif.cfg"), "--layer", "1", "--layer", "-1"]
    result = runner.invoke(app, ["cache", "train", str(cache), str(tmp_path / "cache-other"), str(tmp_path / "p"), *head])
    assert result.exit_code == 2 and "were made from different inputs (encoder_files_sha256)" in flat(result)
    result = runner.invoke(app, ["cache", "train", str(cache), str(cache), str(tmp_path / "p"), *head,
                                 "--encoder", str(other)])
    assert result.exit_code == 2 and f"--encoder {other} is not the encoder {cache} was made from" in flat(result)
    result = runner.invoke(app, ["cache", "train", str(cache), str(cache), str(tmp_path / "p"), *head, "--seed", "-1"])
    assert result.exit_code == 2 and "--seed" in flat(result)
    assert not (tmp_path / "p").exists()


def test_cache_train_builds_the_pipeline_from_its_config_before_training(caches, tmp_path, monkeypatch):
    """A config without the morphologizer (or its fusion listener) failed after training, with
    a traceback; it is now a one-line error before it."""
    from typer.testing import CliRunner

    from layer_fusion.cli import app
    from layer_fusion.research import cached_training

    monkeypatch.setattr(cached_training, "train_head", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    train_cache, dev_cache = (str(c.path) for c in caches)
    aif = (REPO / "configs" / "aif.cfg").read_text(encoding="utf-8")
    renamed = tmp_path / "tagger.cfg"
    renamed.write_text(aif.replace("morphologizer", "tagger_x"), encoding="utf-8")
    result = CliRunner().invoke(app, ["cache", "train", train_cache, dev_cache, str(tmp_path / "p"),
                                      "--config", str(renamed), "--layer", "1", "--layer", "-1"])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2 and f"--config {renamed}: cannot build the pipeline the head goes into" in flat, flat
    assert "morphologizer" in flat and not (tmp_path / "p").exists()

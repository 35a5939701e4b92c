"""A fine-tuning variant: one place that turns a run spec into a spaCy training config.

A run spec (a ``[runs.<name>]`` section of ``configs/finetune_grid.cfg``) names the
fusion and the hidden states it reads, how many bottom layers are frozen, the step
budget, the training source, the tokenization and the seed. ``variant_config`` applies
it to the base config (``configs/finetune.cfg``). ``use_averages = true`` (optional)
evaluates and ships thinc's moving average of the weights, encoder included
(``layers/averaging_shim.py``): at step t the newest weights get 1 - d_t = 9 / (10 + t),
an average over roughly the last ninth of the run.

Intermediate tasks (optional keys): ``intermediate`` names components of
``configs/intermediate_tasks.cfg`` ("parser", "feats") trained on EWT train with the
encoder; ``intermediate_layers`` the hidden state each one reads (default -1);
``intermediate_grad_factor`` scales the gradient their listeners send to the encoder
(spaCy's parser loss is a sum over transitions, not normalized by batch). With
``intermediate_mode = "multitask"`` they train jointly with UPOS for ``steps`` steps;
with "sequential" they train alone for ``intermediate_steps`` (``stage_config``), and
UPOS then trains from that encoder (``variant_config(..., source=...)``).
"""
import copy
from pathlib import Path
from typing import Any, Dict, List, Union

from confection import Config

from ..fusion import REGISTERED, check_layer_count, fusion_block

# Training corpora by source (written by the `corpus` and `corpus-multisource` commands).
TRAIN_CORPORA = {"english": "corpus/train.spacy", "multisource": "corpus/multisource/train.spacy"}
# EWT train and dev with trees and FEATS (the `corpus-syntax` command), for intermediate tasks.
SYNTAX_CORPORA = {"train": "corpus/syntax/train.spacy", "dev": "corpus/syntax/dev.spacy"}
INTERMEDIATE_TASKS = ("parser", "feats")
INTERMEDIATE_MODES = ("multitask", "sequential")
# English-dev scores of each task: shown in the training log, weight 0 (selection is on UPOS).
TASK_SCORES = {"parser": ("dep_uas", "dep_las"), "feats": ("tag_acc",)}
RUN_KEYS = {"fusion", "layers", "bottom_layers", "steps", "source", "split_words", "seed"}
# Optional keys and their defaults.
OPTIONAL_RUN_KEYS = {
    "trim_offsets": False,
    "use_averages": False,
    "intermediate": [],
    "intermediate_layers": [],
    "intermediate_mode": "multitask",
    "intermediate_steps": 0,
    "intermediate_grad_factor": 1.0,
}


def load_grid(path: Union[str, Path]) -> Dict[str, Dict[str, Any]]:
    """The ``[runs.*]`` sections of a grid config, checked; raises ValueError naming the setting."""
    cfg = Config().from_disk(path, interpolate=False)
    runs = {}
    for name, run in (cfg.get("runs") or {}).items():
        missing, extra = RUN_KEYS - set(run), set(run) - RUN_KEYS - set(OPTIONAL_RUN_KEYS)
        if missing or extra:
            raise ValueError(f"{path}: [runs.{name}] missing {sorted(missing)}, unknown {sorted(extra)}")
        if run["fusion"] not in REGISTERED:
            raise ValueError(f"{path}: [runs.{name}] fusion = {run['fusion']!r}, expected one of {list(REGISTERED)}")
        try:
            check_layer_count(run["fusion"], len(run["layers"]), setting=f"[runs.{name}] layers")
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        if run["source"] not in TRAIN_CORPORA:
            raise ValueError(f"{path}: [runs.{name}] source = {run['source']!r}, expected one of {list(TRAIN_CORPORA)}")
        if int(run["steps"]) < 1:
            raise ValueError(f"{path}: [runs.{name}] steps = {run['steps']} must be >= 1")
        run = {**OPTIONAL_RUN_KEYS, **run}
        _check_intermediate(f"{path}: [runs.{name}]", run)
        runs[name] = run
    if not runs:
        raise ValueError(f"{path}: no [runs.*] sections")
    return runs


def _check_intermediate(where: str, run: Dict[str, Any]) -> None:
    tasks, layers = list(run["intermediate"]), list(run["intermediate_layers"])
    unknown = [t for t in tasks if t not in INTERMEDIATE_TASKS]
    if unknown or len(set(tasks)) != len(tasks):
        raise ValueError(f"{where} intermediate = {tasks}: each of {list(INTERMEDIATE_TASKS)} at most once")
    if layers and len(layers) != len(tasks):
        raise ValueError(f"{where} intermediate_layers = {layers}: one hidden state per task of {tasks}")
    if run["intermediate_mode"] not in INTERMEDIATE_MODES:
        raise ValueError(f"{where} intermediate_mode = {run['intermediate_mode']!r}, expected one of {list(INTERMEDIATE_MODES)}")
    if not float(run["intermediate_grad_factor"]) > 0:
        raise ValueError(f"{where} intermediate_grad_factor = {run['intermediate_grad_factor']} must be > 0")
    if tasks and run["source"] != "english":
        raise ValueError(f"{where} intermediate tasks train on EWT: source must be 'english'")
    if tasks and run["intermediate_mode"] == "sequential" and layers and set(layers) != {-1}:
        raise ValueError(f"{where} sequential intermediate tasks read the last layer: drop intermediate_layers")


def load_comparisons(path: Union[str, Path], runs: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, str]]:
    """The ``[comparisons.*]`` sections: a and b name seed-0 runs of the grid."""
    cfg = Config().from_disk(path, interpolate=False)
    out = {}
    for name, section in (cfg.get("comparisons") or {}).items():
        for side in ("a", "b"):
            if section.get(side) not in runs:
                raise ValueError(f"{path}: [comparisons.{name}] {side} = {section.get(side)!r} is not a run")
        out[name] = {"a": section["a"], "b": section["b"], "label": str(section.get("label", name))}
    return out


def same_variant(run: Dict[str, Any], other: Dict[str, Any]) -> bool:
    """Equal settings except the seed."""
    keys = (RUN_KEYS | set(OPTIONAL_RUN_KEYS)) - {"seed"}
    return all(run.get(k, OPTIONAL_RUN_KEYS.get(k)) == other.get(k, OPTIONAL_RUN_KEYS.get(k)) for k in keys)


def variant_config(
    base: Union[str, Path], run: Dict[str, Any], overrides: Dict[str, Any] = {},
    tasks: Union[str, Path, None] = None, source: Union[str, Path, None] = None,
) -> Config:
    """The base config with the run's settings; ``overrides`` are dotted keys applied last.

    tasks: ``configs/intermediate_tasks.cfg``; multitask runs add the components they name.
    source: for the UPOS stage of a sequential run, the stage-1 pipeline whose transformer
        it starts from (spaCy's ``[components.transformer] source``).
    """
    config = Config().from_disk(base, interpolate=False)
    steps = int(run["steps"])
    config["paths"]["train"] = TRAIN_CORPORA[run["source"]]
    config["system"]["seed"] = int(run["seed"])
    config["components"]["transformer"]["model"]["split_words"] = bool(run["split_words"])
    config["components"]["transformer"]["model"]["trim_offsets"] = bool(run.get("trim_offsets", False))
    config["training"]["optimizer"]["use_averages"] = bool(run.get("use_averages", False))
    listener = config["components"]["morphologizer"]["model"]["tok2vec"]
    listener["layers"] = list(run["layers"])
    listener["fusion"] = fusion_block(run["fusion"])
    config["initialize"]["after_init"]["bottom_layers"] = int(run["bottom_layers"])
    config["training"]["max_steps"] = steps
    # 10% warm-up; dev (English) evaluated twice: halfway and at the end.
    config["training"]["optimizer"]["learn_rate"]["warmup_steps"] = max(1, steps // 10)
    config["training"]["eval_frequency"] = max(1, steps // 2)
    intermediate = list(run.get("intermediate") or [])
    if intermediate and run.get("intermediate_mode", "multitask") == "multitask":
        _add_tasks(config, run, tasks)
    if source is not None:
        config["components"]["transformer"] = {"source": str(source)}
    _apply(config, overrides)
    return config


def stage_config(
    base: Union[str, Path], run: Dict[str, Any], tasks: Union[str, Path], overrides: Dict[str, Any] = {}
) -> Config:
    """Stage 1 of a sequential run: the transformer and the intermediate tasks only, for
    ``intermediate_steps`` steps (``steps`` if 0), with the run's freezing, seed and schedule."""
    if not run.get("intermediate") or run.get("intermediate_mode") != "sequential":
        raise ValueError(f"stage_config: run {run} is not a sequential intermediate-task run")
    steps = int(run.get("intermediate_steps") or run["steps"])
    config = variant_config(base, {**run, "steps": steps, "intermediate_mode": "multitask"}, tasks=tasks)
    del config["components"]["morphologizer"]
    config["nlp"]["pipeline"] = [p for p in config["nlp"]["pipeline"] if p != "morphologizer"]
    weights = config["training"]["score_weights"]
    for key in list(weights):
        del weights[key]
    for task in run["intermediate"]:
        for key in TASK_SCORES[task]:
            weights[key] = 1.0 / len(TASK_SCORES[task]) / len(run["intermediate"])
    _apply(config, overrides)
    return config


def _add_tasks(config: Config, run: Dict[str, Any], tasks: Union[str, Path, None]) -> None:
    """Add the run's intermediate components (from ``tasks``) right after the morphologizer,
    before the components that only post-process its output; train on the EWT corpora with
    trees and FEATS; show their dev scores with weight 0."""
    if tasks is None:
        raise ValueError("variant_config: intermediate tasks need tasks=configs/intermediate_tasks.cfg")
    blocks = Config().from_disk(tasks, interpolate=False)["components"]
    intermediate = list(run["intermediate"])
    layers = list(run.get("intermediate_layers") or [-1] * len(intermediate))
    pipeline = list(config["nlp"]["pipeline"])
    after = pipeline.index("morphologizer") + 1
    added = []
    for task, layer in zip(intermediate, layers):
        block = copy.deepcopy(blocks[task])
        block["model"]["tok2vec"]["layers"] = [int(layer)]
        block["model"]["tok2vec"]["grad_factor"] = float(run.get("intermediate_grad_factor", 1.0))
        config["components"][task] = block
        added.append(task)
        for key in TASK_SCORES[task]:
            config["training"]["score_weights"][key] = 0.0
    config["nlp"]["pipeline"] = pipeline[:after] + added + pipeline[after:]
    config["paths"]["train"] = SYNTAX_CORPORA["train"]
    config["paths"]["dev"] = SYNTAX_CORPORA["dev"]


def _apply(config: Config, overrides: Dict[str, Any]) -> None:
    """Set dotted keys; a ``*`` part matches every section that has the rest of the key
    (``components.*.model.tok2vec.width`` sets every listener's width, and matches
    nothing in a config without listeners). A plain key whose section is missing raises
    KeyError naming it."""
    for key, value in overrides.items():
        if not _set(config, key.split("."), value) and "*" not in key.split("."):
            raise KeyError(f"override {key!r}: no such setting in the config")


def _set(node: Any, parts: List[str], value: Any, leaf_must_exist: bool = False) -> bool:
    head, rest = parts[0], parts[1:]
    if head == "*":
        children = [child for child in node.values() if isinstance(child, dict)]
        return any([_set(child, rest, value, True) for child in children])
    if not rest:
        if leaf_must_exist and head not in node:
            return False
        node[head] = value
        return True
    if not isinstance(node.get(head), dict):
        return False
    return _set(node[head], rest, value, leaf_must_exist)


# The sweep that chooses k* is run with this seed (`run_experiments.py sweep`'s default).
SWEEP_SEED = 0


def best_k(sweep_dir: Union[str, Path], fusion: str) -> int:
    """k* of a fusion: the seed-``SWEEP_SEED`` sweep run on layers [k, -1]
    (``<fusion>-L<k>_-1-s0.json`` in ``sweep_dir``) with the best English dev accuracy; a tie
    goes to the smaller k. Runs of other seeds choose nothing (the maximum over seeds would
    favour the k run most often).

    Raises ValueError when the sweep has no run of that fusion.
    """
    import json

    runs = [json.loads(p.read_text()) for p in sorted(Path(sweep_dir).glob(f"{fusion}-L*_-1-s{SWEEP_SEED}.json"))]
    if not runs:
        raise ValueError(f"{sweep_dir}: no sweep results for {fusion} (run the `sweep` command first)")
    best = max(runs, key=lambda r: (r["english_dev"], -r["settings"]["layers"][0]))
    return int(best["settings"]["layers"][0])

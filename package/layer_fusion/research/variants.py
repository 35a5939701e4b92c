"""A fine-tuning variant: one place that turns a run spec into a spaCy training config.

A run spec (a ``[runs.<name>]`` section of ``configs/finetune_grid.cfg``) names the
fusion and the hidden states it reads, how many bottom layers are frozen, the step
budget, the training source, the tokenization and the seed. ``variant_config`` applies
it to the base config (``configs/finetune.cfg``).
"""
from pathlib import Path
from typing import Any, Dict, Union

from confection import Config

from ..fusion import REGISTERED, fusion_block

# Training corpora by source (written by the `corpus` and `corpus-multisource` commands).
TRAIN_CORPORA = {"english": "corpus/train.spacy", "multisource": "corpus/multisource/train.spacy"}
RUN_KEYS = {"fusion", "layers", "bottom_layers", "steps", "source", "split_words", "seed"}
# Optional keys and their defaults.
OPTIONAL_RUN_KEYS = {"trim_offsets": False}


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
        if run["source"] not in TRAIN_CORPORA:
            raise ValueError(f"{path}: [runs.{name}] source = {run['source']!r}, expected one of {list(TRAIN_CORPORA)}")
        if int(run["steps"]) < 1:
            raise ValueError(f"{path}: [runs.{name}] steps = {run['steps']} must be >= 1")
        runs[name] = {**OPTIONAL_RUN_KEYS, **run}
    if not runs:
        raise ValueError(f"{path}: no [runs.*] sections")
    return runs


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


def variant_config(base: Union[str, Path], run: Dict[str, Any], overrides: Dict[str, Any] = {}) -> Config:
    """The base config with the run's settings; ``overrides`` are dotted keys applied last."""
    config = Config().from_disk(base, interpolate=False)
    steps = int(run["steps"])
    config["paths"]["train"] = TRAIN_CORPORA[run["source"]]
    config["system"]["seed"] = int(run["seed"])
    config["components"]["transformer"]["model"]["split_words"] = bool(run["split_words"])
    config["components"]["transformer"]["model"]["trim_offsets"] = bool(run.get("trim_offsets", False))
    listener = config["components"]["morphologizer"]["model"]["tok2vec"]
    listener["layers"] = list(run["layers"])
    listener["fusion"] = fusion_block(run["fusion"])
    config["initialize"]["after_init"]["bottom_layers"] = int(run["bottom_layers"])
    config["training"]["max_steps"] = steps
    # 10% warm-up; dev (English) evaluated twice: halfway and at the end.
    config["training"]["optimizer"]["learn_rate"]["warmup_steps"] = max(1, steps // 10)
    config["training"]["eval_frequency"] = max(1, steps // 2)
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def best_k(sweep_dir: Union[str, Path], fusion: str) -> int:
    """k* of a fusion: the sweep run on layers [k, -1] (``<fusion>-L<k>_-1-s<seed>.json`` in
    ``sweep_dir``) with the best English dev accuracy; a tie goes to the smaller k.

    Raises ValueError when the sweep has no run of that fusion.
    """
    import json

    runs = [json.loads(p.read_text()) for p in sorted(Path(sweep_dir).glob(f"{fusion}-*.json"))]
    if not runs:
        raise ValueError(f"{sweep_dir}: no sweep results for {fusion} (run the `sweep` command first)")
    best = max(runs, key=lambda r: (r["english_dev"], -r["settings"]["layers"][0]))
    return int(best["settings"]["layers"][0])

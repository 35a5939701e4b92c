"""The accelerator grid's runs, expanded from ``configs/accelerator_grid.cfg``.

Each ``[blocks.*]`` section is a product of sources, step budgets, k (frozen bottom
layers), fusions and seeds. The expansion fixes the run order (blocks in file order; in a
block, seed by seed, then steps, k and fusion in their listed order) and each run's name,
in the CPU grid's scheme: ``<en|ms>_k<k>_s<steps>[_<fusion>][_seed<n>]``, e.g.
``en_k4_s300_dlfa_seed1``. A run's settings are the keyword arguments of
``finetuning.FinetuneSettings``, so the plan (JSON) needs no config library to be read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Union

from ..fusion import REGISTERED, SETTINGS

SOURCES = {"english": ("en", "train"), "multisource": ("ms", "train_multisource")}
FUSION_SUFFIX = {"LastLayer": "", "DLFA": "_dlfa", "AIF": "_aif", "ScalarMix": "_sm", "LayerAttention": "_la"}
SCHEDULE_KEYS = ("batch_sentences", "encoder_learn_rate", "head_learn_rate", "warmup_fraction",
                 "weight_decay", "grad_clip", "split_words", "dev")
BLOCK_KEYS = {"source", "steps", "bottom_layers", "fusions", "seeds"}
N_HIDDEN_STATES = 13  # multilingual-e5-small: embeddings + 12 layers


def fusion_layers(fusion: str, k: int, k_star: Dict[str, int]) -> List[int]:
    """Hidden states a fusion reads at k frozen layers (see the grid file's header)."""
    if fusion in ("LastLayer",):
        return [-1]
    if fusion == "ScalarMix":
        return list(range(N_HIDDEN_STATES))
    if k == 0 and fusion not in k_star:
        raise ValueError(f"{fusion} at k = 0 needs its frozen-regime k* in [k_star]")
    return [k if k else int(k_star[fusion]), -1]


def run_name(source: str, k: int, steps: int, fusion: str, seed: int) -> str:
    return f"{SOURCES[source][0]}_k{k}_s{steps}{FUSION_SUFFIX[fusion]}" + (f"_seed{seed}" if seed else "")


def expand(cfg: Dict[str, Any], where: str = "grid") -> Dict[str, Any]:
    """{"dev", "split_words", "runs": [{"name", "block", "source", "settings"}]} from a parsed grid;
    raises ValueError naming the section and setting that is wrong."""
    settings = cfg.get("settings") or {}
    missing = [k for k in SCHEDULE_KEYS if k not in settings]
    if missing:
        raise ValueError(f"{where}: [settings] missing {missing}")
    k_star = dict(cfg.get("k_star") or {})
    runs, names = [], set()
    for block_name, block in (cfg.get("blocks") or {}).items():
        section = f"{where}: [blocks.{block_name}]"
        if set(block) != BLOCK_KEYS:
            raise ValueError(f"{section} needs exactly {sorted(BLOCK_KEYS)}, has {sorted(block)}")
        if block["source"] not in SOURCES:
            raise ValueError(f"{section} source = {block['source']!r}, expected one of {list(SOURCES)}")
        for fusion in block["fusions"]:
            if fusion not in REGISTERED:
                raise ValueError(f"{section} fusion {fusion!r}, expected one of {list(REGISTERED)}")
        for k in block["bottom_layers"]:
            if not 0 <= int(k) < N_HIDDEN_STATES - 1:
                raise ValueError(f"{section} bottom_layers {k}: expected 0..{N_HIDDEN_STATES - 2}")
        for steps in block["steps"]:
            if int(steps) < 1:
                raise ValueError(f"{section} steps {steps} must be >= 1")
        for seed in block["seeds"]:
            for steps in block["steps"]:
                for k in block["bottom_layers"]:
                    for fusion in block["fusions"]:
                        name = run_name(block["source"], int(k), int(steps), fusion, int(seed))
                        if name in names:
                            raise ValueError(f"{section}: run {name} is listed twice")
                        names.add(name)
                        runs.append({"name": name, "block": block_name, "source": block["source"], "settings": {
                            "fusion": fusion, "layers": fusion_layers(fusion, int(k), k_star),
                            "fusion_kwargs": dict(SETTINGS.get(fusion, {})), "seed": int(seed),
                            "steps": int(steps), "bottom_layers": int(k),
                            "train_set": SOURCES[block["source"]][1],
                            "batch_sentences": int(settings["batch_sentences"]),
                            "encoder_learn_rate": float(settings["encoder_learn_rate"]),
                            "head_learn_rate": float(settings["head_learn_rate"]),
                            "warmup_steps": max(1, round(float(settings["warmup_fraction"]) * int(steps))),
                            "weight_decay": float(settings["weight_decay"]),
                            "grad_clip": float(settings["grad_clip"]),
                            "eval_every": int(steps),  # one evaluation, at the end: the final weights
                        }})
    if not runs:
        raise ValueError(f"{where}: no [blocks.*] sections")
    return {"dev": str(settings["dev"]), "split_words": bool(settings["split_words"]), "runs": runs}


def load_plan(path: Union[str, Path]) -> Dict[str, Any]:
    from confection import Config

    return expand(Config().from_disk(path, interpolate=False), where=str(path))

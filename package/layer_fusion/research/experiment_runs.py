"""Runs of the experiment grid (``metrics/experiments/<stage>/*.json``, one file per variant and
seed) grouped by variant: the vocabulary shared by scripts/make_report.py and its sections."""
from typing import Dict, List, Optional

import numpy

# The report's two regimes, as titled in reports/zero_shot_pos.md and reports/summary.json.
FROZEN, FINETUNED = "Regime a, frozen encoder", "Regime b, fine-tuned encoder"


def variant_name(run: Dict) -> str:
    """The variant a run belongs to: its fusion and layers, e.g. ``DLFA [4, -1]`` or
    ``ScalarMix (all 13)``."""
    s = run["settings"]
    layers = s["layers"]
    if s["fusion"] in ("ScalarMix", "LayerAttention") and len(layers) > 2:
        return f"{s['fusion']} (all {len(layers)})"
    return f"{s['fusion']} {layers}"


def group_by_variant(runs: List[Dict]) -> Dict[str, List[Dict]]:
    """variant name -> its runs (one per seed), in the order the variants first appear."""
    out: Dict[str, List[Dict]] = {}
    for r in runs:
        out.setdefault(variant_name(r), []).append(r)
    return out


def same_seed(runs: List[Dict], run: Dict) -> Optional[Dict]:
    """The run in ``runs`` with ``run``'s seed, if any."""
    return next((r for r in runs if r["settings"]["seed"] == run["settings"]["seed"]), None)


def seed_mean(runs: List[Dict], field: str) -> float:
    """Mean over ``runs`` (seeds) of ``field``, a top-level figure such as ``english_dev``, or
    ``macro``: the low-resource macro-average."""
    return float(numpy.mean([r["macro_low_resource"]["accuracy"] if field == "macro" else r[field] for r in runs]))

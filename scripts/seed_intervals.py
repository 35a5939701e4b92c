"""Seed-inclusive intervals for one configuration trained with several seeds.

    python scripts/seed_intervals.py metrics/finetuned/zero_shot.json \
        metrics/finetuned_seed1/zero_shot.json metrics/finetuned_seed2/zero_shot.json \
        --output reports/finetuned_seeds.json

Each input is `evaluate_zero_shot.py --raw-text` on the same configuration trained with
another seed (same sets, same sentences). For the low-resource macro-average on gold words,
de Vries et al.'s 14 languages, the raw-text UPOS F1 macro-average, every low-resource and
English set on gold words, and the gap of each domain pair (acc_a - acc_b), it writes each
seed's figure, their mean and a 95% hierarchical bootstrap CI that resamples seeds and
sentences (``layer_fusion.research.statistics``), the variance that a single training run's
sentence-only interval leaves out.

Raw-text UPOS F1 of a set is 2C / (P + G), each summed over its sentences: C words aligned
with the right tag, P predicted words, G gold words. The tokenizer is deterministic, so P and
G are the same for every seed (checked), and F1 is a ratio of sums like accuracy: the same
bootstrap applies with words := P + G and correct := 2C.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import typer

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.research import statistics as stats

N_RESAMPLES = 4000


def raw_text_runs(metrics: List[dict], keys: List[str]) -> stats.Runs:
    """UPOS F1 as stats.Runs: words (n,) = P + G per sentence, correct (S, n) = 2C."""
    out: stats.Runs = {}
    for key in keys:
        per = [m["treebanks"][key]["raw_text"]["per_sentence"] for m in metrics]
        words = np.asarray(per[0]["predicted_tokens"], dtype=np.int64) + np.asarray(per[0]["gold_words"])
        for p in per[1:]:
            if not np.array_equal(np.asarray(p["predicted_tokens"]) + np.asarray(p["gold_words"]), words):
                raise ValueError(f"{key}: the seeds' raw-text runs were tokenized differently")
        out[key] = (words, np.stack([2 * np.asarray(p["correct_upos"], dtype=np.int64) for p in per]))
    return out


def summary(runs: stats.Runs, n_resamples: int) -> Dict:
    """Per-seed macro, seed mean and the hierarchical CI (seeds and sentences)."""
    n_seeds = next(iter(runs.values()))[1].shape[0]
    per_seed = [stats.macro({k: (w, c[s:s + 1]) for k, (w, c) in runs.items()}) for s in range(n_seeds)]
    return {"per_seed": per_seed, "mean": stats.macro(runs), "ci95": list(stats.macro_ci(runs, n_resamples)),
            "n_treebanks": len(runs)}


def contrast_summary(runs: stats.Runs, coefficients: Dict[str, float], n_resamples: int) -> Dict:
    """Per-seed value, seed mean and the hierarchical CI of sum_t a_t acc_t (statistics.contrast)."""
    n_seeds = next(iter(runs.values()))[1].shape[0]
    per_seed = [stats.contrast({k: (w, c[s:s + 1]) for k, (w, c) in runs.items()}, coefficients)
                for s in range(n_seeds)]
    return {"per_seed": per_seed, "mean": stats.contrast(runs, coefficients),
            "ci95": list(stats.contrast_ci(runs, coefficients, n_resamples))}


def per_set_and_gaps(loaded: List[dict], n_resamples: int) -> Dict:
    """Gold-word accuracy of every low-resource and English set, and each domain pair's gap."""
    first = loaded[0]
    keys = [k for k, tb in first["treebanks"].items() if tb["group"] in ("low_resource", "english")]
    runs = stats.runs_from_metrics(loaded, keys)
    treebanks = {k: contrast_summary(runs, {k: 1.0}, n_resamples) for k in keys}
    pairs = {}
    for name, pair in (first.get("domain_pairs") or {}).items():
        if pair.get("missing"):
            continue
        pairs[name] = {"label": pair["label"], "a": pair["a"], "b": pair["b"],
                       "gap": contrast_summary(runs, {pair["a"]: 1.0, pair["b"]: -1.0}, n_resamples)}
    return {"treebanks": treebanks, "domain_pairs": pairs}


def load_seed_metrics(paths: List[Path]) -> List[dict]:
    """Read and check the seeds' metrics: each one a different run of evaluate_zero_shot.py
    --raw-text over the same sets and sentences. Raises typer.BadParameter naming the file."""
    def bad(path: Path, reason: str):
        return typer.BadParameter(f"{path}: {reason}", param_hint="METRICS")

    if len(paths) < 2:
        raise typer.BadParameter("give at least two seeds' metrics files", param_hint="METRICS")
    loaded, seen = [], {}
    for path in paths:
        data = path.read_bytes()
        if data in seen:
            raise bad(path, f"the same run as {seen[data]} (each seed's metrics once)")
        seen[data] = path
        try:
            m = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise bad(path, f"not a metrics JSON file ({err})")
        if not isinstance(m, dict) or "macro_low_resource" not in m:
            raise bad(path, "not the metrics of evaluate_zero_shot.py")
        if "macro_low_resource_raw_text" not in m:
            raise bad(path, "no raw-text evaluation (run evaluate_zero_shot.py with --raw-text)")
        for key in ("provenance", "macro_subsets"):
            if key not in m:
                raise bad(path, f"no {key!r} (metrics of evaluate_zero_shot.py on a pipeline folder)")
        loaded.append(m)
    first = loaded[0]
    low = first["macro_low_resource"]["treebanks"]
    for path, m in zip(paths[1:], loaded[1:]):
        if m["macro_low_resource"]["treebanks"] != low:
            raise bad(path, f"other low-resource sets than {paths[0]}")
        for key in low:
            words = m["treebanks"][key]["per_sentence"]["words"]
            if words != first["treebanks"][key]["per_sentence"]["words"]:
                raise bad(path, f"{key}: other sentences than in {paths[0]}")
    # The same model evaluated twice differs in its timings, not in one tag: the same correct
    # count in every sentence of every set is one run, which would shrink the seeds' variance.
    tagged = {}
    for path, m in zip(paths, loaded):
        correct = tuple(tuple(m["treebanks"][key]["per_sentence"]["correct"]) for key in low)
        if correct in tagged:
            raise bad(path, f"tags every sentence as {tagged[correct]} does: the same model, not another seed")
        tagged[correct] = path
    return loaded


def stale_reason(seeds: dict, metrics: dict) -> Optional[str]:
    """Why ``seeds`` (this script's output) is not about the model of ``metrics`` (its seed 0,
    the shipped model's evaluation), or None when it is: seed 0's config hash and macro-average
    must be the metrics' own. A report that shows both would otherwise mix two models (after
    a new pick is trained and evaluated, before its seeds are)."""
    if (seeds.get("configs_sha256") or [None])[0] != (metrics.get("provenance") or {}).get("config_sha256"):
        return "its seed 0 was trained from another config"
    seed_0 = seeds["gold_words"]["macro_low_resource"]["per_seed"][0]
    if abs(seed_0 - metrics["macro_low_resource"]["accuracy"]) > 1e-12:
        return f"its seed 0 has another macro-average ({seed_0:.6f})"
    return None


def main(metrics: List[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                               help="zero_shot.json of each seed, the shipped one first"),
         output: Path = typer.Option(..., "--output"),
         n_resamples: int = typer.Option(N_RESAMPLES, "--n-resamples", min=1)):
    loaded = load_seed_metrics(metrics)
    low = list(loaded[0]["macro_low_resource"]["treebanks"])
    de_vries = loaded[0]["macro_subsets"]["de_vries_2022"]["treebanks"]
    result = {
        "metrics": [str(p) for p in metrics],
        "configs_sha256": [m["provenance"]["config_sha256"] for m in loaded],
        "method": f"hierarchical bootstrap: seeds and sentences resampled, {n_resamples} replicates, seed 0",
        "gold_words": {"macro_low_resource": summary(stats.runs_from_metrics(loaded, low), n_resamples),
                       "de_vries_2022": summary(stats.runs_from_metrics(loaded, de_vries), n_resamples),
                       **per_set_and_gaps(loaded, n_resamples)},
    }
    try:
        result["raw_text"] = {"upos_f1_macro_low_resource": summary(raw_text_runs(loaded, low), n_resamples)}
    except ValueError as err:  # tokenized differently: not runs of one pipeline's tokenizer
        raise typer.BadParameter(str(err), param_hint="METRICS")
    write_text_atomic(output, json.dumps(result, indent=1) + "\n")
    g, r = result["gold_words"]["macro_low_resource"], result["raw_text"]["upos_f1_macro_low_resource"]
    typer.echo(f"wrote {output}: {len(loaded)} seeds; gold-word macro {100 * g['mean']:.1f} "
               f"[{100 * g['ci95'][0]:.1f}, {100 * g['ci95'][1]:.1f}], raw-text UPOS F1 {100 * r['mean']:.1f} "
               f"[{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}]")


if __name__ == "__main__":
    typer.run(main)

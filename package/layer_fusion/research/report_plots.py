"""The figures of reports/zero_shot_pos.md (scripts/make_report.py): the layer probe, the
per-treebank accuracy of LastLayer against the best fusion, the learned layer weights and
the English GUM genres, per regime."""
from pathlib import Path
from typing import Dict, List

import numpy


def _pooled_accuracy(runs: List[Dict], key: str) -> float:
    """Accuracy on treebank ``key`` with the seeds pooled: correct words over words x seeds."""
    per = [r["treebanks"][key]["per_sentence"] for r in runs]
    words = numpy.asarray(per[0]["words"]).sum()
    return float(sum(numpy.asarray(p["correct"]).sum() for p in per) / (words * len(runs)))


def plots(out: Path, probe: List[Dict], regimes: Dict[str, Dict[str, List[Dict]]], summary: Dict,
          keys: List[str], file_suffix: Dict[str, str]) -> List[str]:
    """Write the report's figures into ``out``; returns the file names written.

    probe: one metrics dict per probed hidden state; regimes: title -> variant -> runs (one
    per seed); summary[title][variant]["dev"]: English dev accuracy, which picks the fusion
    drawn against LastLayer; keys: the low-resource treebanks; file_suffix: title -> the
    suffix of that regime's file names.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if probe:
        probe = sorted(probe, key=lambda r: r["settings"]["layers"][0])
        layers = [r["settings"]["layers"][0] for r in probe]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(layers, [100 * r["english_dev"] for r in probe], "o-", label="English dev (EWT)")
        ax.plot(layers, [100 * r["macro_low_resource"]["accuracy"] for r in probe], "s-",
                label="low-resource macro-average")
        ax.set_xlabel("hidden state (0 = embeddings)")
        ax.set_ylabel("UPOS accuracy (%)")
        ax.set_title("Layer probe: a linear tagger on one frozen layer")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "layer_probe.png", dpi=110)
        written.append("layer_probe.png")
    for title, runs_v in regimes.items():
        suffix = file_suffix[title]
        baseline = next(v for v in runs_v if v.startswith("LastLayer"))
        fusions = [v for v in runs_v if v != baseline]
        if not fusions:
            continue
        best = max(fusions, key=lambda v: summary[title][v]["dev"])
        accs = {v: [_pooled_accuracy(runs_v[v], k) for k in keys] for v in (baseline, best)}
        langs = [runs_v[baseline][0]["treebanks"][k]["name"] for k in keys]
        order = numpy.argsort(accs[baseline])
        fig, ax = plt.subplots(figsize=(8, 7))
        y = numpy.arange(len(keys))
        ax.barh(y - 0.2, 100 * numpy.asarray(accs[baseline])[order], 0.4, label=baseline)
        ax.barh(y + 0.2, 100 * numpy.asarray(accs[best])[order], 0.4, label=f"{best} (best fusion on English dev)")
        ax.set_yticks(y)
        ax.set_yticklabels([langs[i] for i in order], fontsize=7)
        ax.set_xlabel("UPOS accuracy (%), seeds pooled")
        ax.set_title(f"Zero-shot accuracy per treebank: {title}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"per_language{suffix}.png", dpi=110)
        written.append(f"per_language{suffix}.png")
    weighted = {(t, v): runs for t, runs_v in regimes.items() for v, runs in runs_v.items()
                if runs[0].get("mean_layer_weights")}
    if weighted:
        columns = sorted({v for _, v in weighted}, key=lambda v: [v2 for _, v2 in weighted].index(v))
        rows = [t for t in regimes if any((t, v) in weighted for v in columns)]
        fig, axes = plt.subplots(len(rows), len(columns), figsize=(4 * len(columns), 3.2 * len(rows)), squeeze=False)
        for i, t in enumerate(rows):
            for j, v in enumerate(columns):
                ax = axes[i][j]
                runs = weighted.get((t, v))
                if not runs:
                    ax.axis("off")
                    continue
                layers = runs[0]["fusion_parameters"]["layers"]
                ax.bar([str(k) for k in layers], numpy.mean([r["mean_layer_weights"] for r in runs], axis=0))
                ax.set_title(f"{v}\n{t}", fontsize=8)
                ax.set_xlabel("hidden state")
                ax.set_ylabel("mean weight")
        fig.tight_layout()
        fig.savefig(out / "fusion_weights.png", dpi=110)
        written.append("fusion_weights.png")
    for title, runs_v in regimes.items():
        genres = {v: genre_means(runs) for v, runs in runs_v.items()}
        if not any(genres.values()):
            continue
        names = sorted({g for d in genres.values() for g in d})
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(genres)
        for i, (v, d) in enumerate(genres.items()):
            ax.bar(numpy.arange(len(names)) + i * width, [100 * d.get(g, numpy.nan) for g in names], width, label=v)
        ax.set_xticks(numpy.arange(len(names)) + 0.4 - width / 2)
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("UPOS accuracy (%)")
        ax.set_title(f"English GUM test by genre (domain shift from EWT): {title}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        suffix = file_suffix[title]
        fig.savefig(out / f"per_domain{suffix}.png", dpi=110)
        written.append(f"per_domain{suffix}.png")
    plt.close("all")
    return written


def genre_means(runs: List[Dict]) -> Dict[str, float]:
    """Mean accuracy over seeds per English GUM test genre."""
    per = [r.get("gum_genres", {}).get("en_gum_test", {}) for r in runs]
    genres = set().union(*[p.keys() for p in per]) if per else set()
    return {g: float(numpy.mean([p[g]["accuracy"] for p in per if g in p])) for g in genres}

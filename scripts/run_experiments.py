"""The research question's experiments (frozen-encoder regime), from cached hidden states.

    python scripts/run_experiments.py cache ENCODER UD_DIR          # once per encoder
    python scripts/run_experiments.py probe                          # LastLayer on each layer
    python scripts/run_experiments.py sweep                          # DLFA/AIF [k, -1], choose k on English dev
    python scripts/run_experiments.py main                           # 5 variants x seeds

Every run writes one JSON under metrics/experiments/<stage>/ and is skipped when that
file exists, so an interrupted sweep resumes where it stopped. No target-language data
is used to train or choose anything: k* and every checkpoint are chosen on English dev.
"""
import json
import os
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from layer_fusion.cached_training import (
    HeadSettings, fusion_parameters, mean_layer_weights, predict, train_head, treebank_result,
)
from layer_fusion.conllu import read_conllu
from layer_fusion.evaluation import load_targets, summarize_results
from layer_fusion.hidden_cache import build_cache, is_complete, load_cache, transformer_pipe

REPO = Path(__file__).resolve().parents[1]
app = typer.Typer(add_completion=False, no_args_is_help=True)
CACHE = REPO / "cache" / "hidden_states"
OUT = REPO / "metrics" / "experiments"
TARGETS = REPO / "configs" / "targets.cfg"
# Training data; English dev is the evaluation set en_ewt_dev (configs/targets.cfg), cached once.
SPLITS = {"train": "UD_English-EWT/en_ewt-ud-train.conllu"}
DEV = "en_ewt_dev"
N_HIDDEN = 13  # multilingual-e5-small: embeddings + 12 layers


def _write_json(path: Path, data: Dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf8")
    os.replace(tmp, path)


@app.command()
def cache(
    encoder: Path = typer.Argument(REPO / "assets/encoders/multilingual-e5-small"),
    ud_dir: Path = typer.Argument(REPO.parent / "shared" / "ud"),
    cache_dir: Path = typer.Option(CACHE),
    batch_size: int = typer.Option(64),
):
    """Cache pooled hidden states (all layers) of EWT train/dev and every evaluation set."""
    if not (encoder / "config.json").exists():
        msg.fail(f"No encoder at {encoder}: run `spacy project run encoder`", exits=1)
    trf = transformer_pipe(encoder)
    jobs = dict(SPLITS)
    for key, target in load_targets(TARGETS).treebanks.items():
        jobs[key] = f"{target.treebank}/{target.file}"
    for key, rel in jobs.items():
        path = ud_dir / rel
        if is_complete(cache_dir / key):
            continue
        if not path.is_file():
            msg.warn(f"{key}: {path} not found, skipped")
            continue
        sentences = list(read_conllu(path))
        c = build_cache(trf, sentences, cache_dir / key, batch_size=batch_size, source=rel)
        msg.good(f"{key}: {c.n_sentences} sentences, {len(c.labels)} tokens, {c.meta['seconds']} s")


def run_one(settings: HeadSettings, stage: str, n_resamples: int = 1000, force: bool = False) -> Dict:
    """Train one head, evaluate it on every cached set; write and return its metrics."""
    out = OUT / stage / f"{settings.name()}.json"
    if out.exists() and not force:
        return json.loads(out.read_text())
    train, dev = load_cache(CACHE / "train"), load_cache(CACHE / DEV)
    head, history = train_head(settings, train, dev, log=msg.text)
    targets = load_targets(TARGETS)
    results = {}
    start = time.perf_counter()
    for key in targets.treebanks:
        if not is_complete(CACHE / key):
            continue
        c = load_cache(CACHE / key)
        results[key] = treebank_result(c, predict(head, c), key, n_resamples=n_resamples)
        t = targets.treebanks[key]
        results[key].info.update(treebank=t.treebank, language=t.language, iso=t.iso, group=t.group,
                                 split=t.split, file=f"{t.treebank}/{t.file}")
    metrics = summarize_results(results, targets, n_resamples=n_resamples)
    metrics.update(
        settings=settings.__dict__, stage=stage, history=history,
        english_dev=history["best_dev_accuracy"], fusion_parameters=fusion_parameters(head),
        mean_layer_weights=mean_layer_weights(head, dev), eval_seconds=round(time.perf_counter() - start, 2),
        regime="frozen encoder, cached fp16 hidden states",
    )
    _write_json(out, metrics)
    macro = metrics["macro_low_resource"]
    msg.good(f"{settings.name()}: dev {history['best_dev_accuracy']:.4f}, "
             f"low-resource macro {macro['accuracy']:.4f}")
    return metrics


@app.command()
def probe(seed: int = 0, epochs: int = 10):
    """LastLayer on each single hidden state 0..12."""
    for k in range(N_HIDDEN):
        run_one(HeadSettings("LastLayer", [k], seed=seed, epochs=epochs), "probe")


def chosen_k(fusion: str) -> int:
    """k* for a fusion: the sweep run with the best English-dev accuracy."""
    runs = [json.loads(p.read_text()) for p in (OUT / "sweep").glob(f"{fusion}-*.json")]
    if not runs:
        raise typer.BadParameter(f"no sweep results for {fusion}: run `sweep` first")
    best = max(runs, key=lambda r: r["english_dev"])
    return best["settings"]["layers"][0]


FUSION_KWARGS = {"AIF": {"reduction": 4}, "ScalarMix": {"layer_dropout": 0.1}}


@app.command()
def sweep(seed: int = 0, epochs: int = 10, ks: Optional[List[int]] = typer.Option(None)):
    """DLFA and AIF with layers [k, -1] for each lower layer k."""
    for k in ks or range(N_HIDDEN - 1):
        for fusion in ("DLFA", "AIF"):
            run_one(HeadSettings(fusion, [k, -1], FUSION_KWARGS.get(fusion, {}), seed=seed, epochs=epochs), "sweep")


def main_variants(seed: int, epochs: int) -> List[HeadSettings]:
    all_layers = list(range(N_HIDDEN))
    return [
        HeadSettings("LastLayer", [-1], seed=seed, epochs=epochs),
        HeadSettings("DLFA", [chosen_k("DLFA"), -1], seed=seed, epochs=epochs),
        HeadSettings("AIF", [chosen_k("AIF"), -1], FUSION_KWARGS["AIF"], seed=seed, epochs=epochs),
        HeadSettings("ScalarMix", all_layers, FUSION_KWARGS["ScalarMix"], seed=seed, epochs=epochs),
        HeadSettings("LayerAttention", all_layers, seed=seed, epochs=epochs),
    ]


@app.command()
def main(seeds: List[int] = typer.Option([0, 1, 2]), epochs: int = 10):
    """The main comparison: LastLayer, DLFA(k*), AIF(k*), ScalarMix, LayerAttention x seeds."""
    for seed in seeds:
        for settings in main_variants(seed, epochs):
            run_one(settings, "main")


if __name__ == "__main__":
    app()

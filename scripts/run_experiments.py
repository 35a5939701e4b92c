"""The research question's experiments: the frozen-encoder regime from cached hidden states,
and the bookkeeping of the fine-tuned regime (b), which runs in scripts/finetune_encoder.py.

    python scripts/run_experiments.py cache ENCODER UD_DIR          # once per encoder
    python scripts/run_experiments.py probe                          # LastLayer on each layer
    python scripts/run_experiments.py sweep                          # DLFA/AIF [k, -1], choose k on English dev
    python scripts/run_experiments.py main                           # 5 variants x seeds
    python scripts/run_experiments.py finetune-pack ENCODER UD_DIR   # regime b: pack for finetune_encoder.py
    python scripts/run_experiments.py finetuned-metrics RESULTS.npz  # regime b: predictions -> metrics

Every run writes one JSON under metrics/experiments/<stage>/ and is skipped when that
file exists and was made from the caches there are now, so an interrupted sweep resumes
where it stopped. What counts as the same inputs:

- a cache (``cache``) is kept when it was made from the same encoder files, CoNLL-U file
  and span settings (``hidden_cache.cache_inputs``); otherwise it is built again;
- a run's metrics record its settings (the name holds fusion, layers and seed only), the
  caches it read (``made_from``: one digest per cache) and the code that trains, predicts and
  scores (``code_sha256``: of HEAD_CODE and every package module it imports, which is more
  than a head run uses, so a change there runs heads again too, and of this script); a run whose settings, caches or
  code differ now is run again (``run_records.record_change``). Metrics made before the
  code was recorded are kept, with a warning. Metrics without the caches' record (extracted
  from reports/experiment_metrics.tar.gz, made before it existed) are run again when their
  provenance names other encoder weights than EWT train's cache was made from, and
  otherwise kept, with a warning.
- ``main`` compares DLFA and AIF on [k*, -1]: the metrics of a k* chosen earlier are moved
  to metrics/experiments/main/superseded/ (kept, and out of the comparison).

No target-language data is used to train or choose anything: k* and every checkpoint are
chosen on English dev.
"""
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from layer_fusion.research.cached_training import mean_layer_weights, predict, train_head, treebank_result
from layer_fusion.research.fusion_head import HeadSettings, fusion_parameters
from layer_fusion.research.run_claims import claim, release
from layer_fusion.research.run_records import code_sha256, describe, input_names, record_change, source_sha256
from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.provenance import provenance
from layer_fusion.conllu import read_conllu
from layer_fusion.fusion import SETTINGS
from layer_fusion.evaluation import summarize_results
from layer_fusion.targets import load_targets
from layer_fusion.research.hidden_cache import (
    build_cache, cache_change, cache_digest, cache_inputs, is_complete, load_cache, transformer_pipe,
)

REPO = Path(__file__).resolve().parents[1]
app = typer.Typer(add_completion=False, no_args_is_help=True)
CACHE = REPO / "cache" / "hidden_states"
OUT = REPO / "metrics" / "experiments"
TARGETS = REPO / "configs" / "targets.cfg"
# Training data; English dev is the evaluation set en_ewt_dev (configs/targets.cfg), cached once.
SPLITS = {"train": "UD_English-EWT/en_ewt-ud-train.conllu"}
DEV = "en_ewt_dev"
# The module a head run is made of: training, prediction and scoring import from it.
HEAD_CODE = "layer_fusion.research.cached_training"
N_HIDDEN = 13  # multilingual-e5-small: embeddings + 12 layers
# Every head trains until English dev has not improved for PATIENCE epochs, at most
# MAX_EPOCHS (docs/selection_protocol.md, "Regime a trained to convergence").
MAX_EPOCHS, PATIENCE = HeadSettings.epochs, HeadSettings.patience


def _write_json(path: Path, data: Dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))


def _ud_jobs() -> Dict[str, str]:
    """Set name -> CoNLL-U path relative to the UD folder: EWT train and every evaluation set."""
    jobs = dict(SPLITS)
    for key, target in load_targets(TARGETS).treebanks.items():
        jobs[key] = f"{target.treebank}/{target.file}"
    return jobs


@app.command()
def cache(
    encoder: Path = typer.Argument(REPO / "assets/encoders/multilingual-e5-small"),
    ud_dir: Path = typer.Argument(REPO.parent / "shared" / "ud"),
    cache_dir: Path = typer.Option(CACHE),
    batch_size: int = typer.Option(64),
):
    """Cache pooled hidden states (all layers) of EWT train/dev and every evaluation set.
    A set cached from other inputs (encoder files, CoNLL-U file) is cached again."""
    if not (encoder / "config.json").exists():
        msg.fail(f"No encoder at {encoder}: run `spacy project run encoder`", exits=1)
    trf = None  # loaded when some set needs caching
    for key, rel in _ud_jobs().items():
        path = ud_dir / rel
        if not path.is_file():
            msg.warn(f"{key}: {path} not found, skipped")
            continue
        inputs = cache_inputs(encoder, path)
        if is_complete(cache_dir / key):
            change = cache_change(cache_dir / key, inputs)
            if change is None:
                continue
            msg.info(f"{key}: the cache was made from {change}: caching it again")
        trf = trf or transformer_pipe(encoder)
        sentences = list(read_conllu(path))
        c = build_cache(trf, sentences, cache_dir / key, batch_size=batch_size, source=rel, made_from=inputs)
        msg.good(f"{key}: {c.n_sentences} sentences, {len(c.labels)} tokens, {c.meta['seconds']} s")


def caches_now() -> Dict[str, str]:
    """What a head run reads: a digest (``cache_digest``) of each complete cache of a set
    in configs/targets.cfg, and of EWT train."""
    keys = ["train", *load_targets(TARGETS).treebanks]
    return {key: cache_digest(load_cache(CACHE / key)) for key in keys if is_complete(CACHE / key)}


@functools.lru_cache(maxsize=None)
def head_code() -> str:
    """What a head run's metrics record as their code: one sha256 over ``code_sha256`` of
    HEAD_CODE and the code of this script (which assembles the metrics)."""
    parts = f"{code_sha256(HEAD_CODE)}\0{source_sha256(Path(__file__))}"
    return hashlib.sha256(parts.encode("utf8")).hexdigest()


def _train_cache_record() -> Optional[Dict]:
    """What EWT train's cache was made from (``made_from``), or None."""
    meta = CACHE / "train" / "meta.json"
    return json.loads(meta.read_text(encoding="utf8")).get("made_from") if meta.is_file() else None


def run_one(settings: HeadSettings, stage: str, n_resamples: int = 1000, force: bool = False) -> Optional[Dict]:
    """Train one head, evaluate it on every cached set; write and return its metrics.
    Metrics already there are returned when they were made with these settings from the
    caches there are now (see the module docstring for metrics without that record). None
    when another process is running it."""
    out = OUT / stage / f"{settings.name()}.json"
    if out.exists() and not force:
        done = json.loads(out.read_text())
        changed, missing = record_change(done, {"settings": settings.__dict__, "made_from": caches_now(),
                                                "code_sha256": head_code()})
        if not changed and "made_from" in missing:
            # Made before runs recorded their caches (as archived): their provenance still
            # names the encoder's weights, which the train cache records too.
            recorded = (done.get("provenance") or {}).get("encoder_sha256")
            now = (_train_cache_record() or {}).get("encoder_sha256")
            if recorded and now and recorded != now:
                changed = ["encoder_sha256"]
        if not changed:
            if missing:
                msg.warn(f"{settings.name()}: kept; its metrics do not record their {input_names(missing)}")
            return done
        msg.info(f"{settings.name()}: its metrics come from {describe(changed)}: running it again")
    if not claim(out):
        msg.info(f"{settings.name()}: another process is running it, skipped")
        return None
    try:
        return _train_and_evaluate(settings, stage, out, n_resamples)
    finally:
        release(out)


def _train_and_evaluate(settings: HeadSettings, stage: str, out: Path, n_resamples: int) -> Dict:
    made_from = caches_now()  # before training: a cache replaced meanwhile makes the run stale
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
        provenance=provenance(Path(__file__), base_encoder=train.meta.get("encoder")),
        made_from=made_from, code_sha256=head_code(),
    )
    _write_json(out, metrics)
    macro = metrics["macro_low_resource"]
    msg.good(f"{settings.name()}: dev {history['best_dev_accuracy']:.4f}, "
             f"low-resource macro {macro['accuracy']:.4f}")
    return metrics


@app.command()
def probe(seed: int = 0, epochs: int = MAX_EPOCHS, patience: int = PATIENCE):
    """LastLayer on each single hidden state 0..12."""
    for k in range(N_HIDDEN):
        run_one(HeadSettings("LastLayer", [k], seed=seed, epochs=epochs, patience=patience), "probe")


def chosen_k(fusion: str) -> int:
    """k* for a fusion: the seed-0 sweep run with the best English-dev accuracy (ties: smaller
    k). The sweep must be complete, a run for every k: a k chosen from part of it could change
    once the rest lands (runs of other seeds do not stand in for a missing k)."""
    from layer_fusion.research.variants import SWEEP_SEED, best_k

    sweep = OUT / "sweep"
    done = [k for k in range(N_HIDDEN - 1) if (sweep / f"{fusion}-L{k}_-1-s{SWEEP_SEED}.json").is_file()]
    if len(done) < N_HIDDEN - 1 or list(sweep.glob(f"{fusion}-L*.lock")):
        raise typer.BadParameter(f"the {fusion} sweep is incomplete ({len(done)} of {N_HIDDEN - 1} runs of seed "
                                 f"{SWEEP_SEED} in {sweep}): run `run_experiments.py sweep` to the end first")
    try:
        return best_k(OUT / "sweep", fusion)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


@app.command()
def sweep(seed: int = 0, epochs: int = MAX_EPOCHS, patience: int = PATIENCE,
          ks: Optional[List[int]] = typer.Option(None)):
    """DLFA and AIF with layers [k, -1] for each lower layer k."""
    for k in ks or range(N_HIDDEN - 1):
        for fusion in ("DLFA", "AIF"):
            run_one(HeadSettings(fusion, [k, -1], dict(SETTINGS.get(fusion, {})), seed=seed, epochs=epochs,
                                 patience=patience), "sweep")


def main_variants(seed: int, epochs: int, patience: int) -> List[HeadSettings]:
    all_layers = list(range(N_HIDDEN))
    schedule = dict(seed=seed, epochs=epochs, patience=patience)
    return [
        HeadSettings("LastLayer", [-1], **schedule),
        HeadSettings("DLFA", [chosen_k("DLFA"), -1], **schedule),
        HeadSettings("AIF", [chosen_k("AIF"), -1], dict(SETTINGS["AIF"]), **schedule),
        HeadSettings("ScalarMix", all_layers, dict(SETTINGS["ScalarMix"]), **schedule),
        HeadSettings("LayerAttention", all_layers, **schedule),
    ]


@app.command()
def main(seeds: List[int] = typer.Option([0, 1, 2]), epochs: int = MAX_EPOCHS, patience: int = PATIENCE):
    """The main comparison: LastLayer, DLFA(k*), AIF(k*), ScalarMix, LayerAttention x seeds."""
    set_aside_other_layer_settings(OUT / "main", main_variants(seeds[0], epochs, patience))
    for seed in seeds:
        for settings in main_variants(seed, epochs, patience):
            run_one(settings, "main")


def set_aside_other_layer_settings(stage_dir: Path, variants: List[HeadSettings]) -> None:
    """Move the metrics of a fusion on layers other than ``variants`` give it (DLFA and AIF
    of an earlier k*) to ``stage_dir/superseded/``: the comparison holds one layer setting per
    fusion (``make_report`` refuses two), and a result that took an hour is not deleted."""
    keep = {f"{v.fusion}-L{'_'.join(map(str, v.layers))}-s" for v in variants}
    for fusion in sorted({v.fusion for v in variants}):
        for path in sorted(stage_dir.glob(f"{fusion}-L*-s*.json")):
            if any(path.name.startswith(prefix) for prefix in keep):
                continue
            target = stage_dir / "superseded" / path.name
            target.parent.mkdir(exist_ok=True)
            path.replace(target)
            msg.info(f"{path.name}: another layer setting than this comparison's (an earlier k*): moved to {target}")


FINETUNE_PACK = REPO / "cache" / "finetune_pack"
# Regime b's budget: 1,500 steps of 32 sentences is about 3.8 epochs of EWT train, the usual
# 3-4 epochs of fine-tuning. Warm-up is 10%. The head's rate is the frozen regime's; the
# encoder's is the usual rate for fine-tuning BERT-size encoders.
FINETUNE = {"steps": 1500, "batch_sentences": 32, "encoder_learn_rate": 5e-5, "head_learn_rate": 1e-3,
            "warmup_steps": 150, "eval_every": 250}


@app.command("finetune-pack")
def finetune_pack(
    encoder: Path = typer.Argument(REPO / "assets/encoders/multilingual-e5-small"),
    ud_dir: Path = typer.Argument(REPO.parent / "shared" / "ud"),
    output: Path = typer.Option(FINETUNE_PACK),
):
    """Write the pack (tokenized sets + 4-bit encoder) and plan that finetune_encoder.py reads."""
    from layer_fusion.encoder.build import default_image_path
    from layer_fusion.research.finetune_pack import write_pack, write_plan

    if not (encoder / "config.json").exists():
        msg.fail(f"No encoder at {encoder}: run `spacy project run encoder`", exits=1)
    sets = {}
    for key, rel in _ud_jobs().items():
        if (ud_dir / rel).is_file():
            sets[key] = list(read_conllu(ud_dir / rel))
        else:
            msg.warn(f"{key}: {ud_dir / rel} not found, skipped")
    write_pack(output, encoder, sets, image_path=default_image_path())
    variants = [{"fusion": v.fusion, "layers": v.layers, "fusion_kwargs": v.fusion_kwargs}
                for v in main_variants(0, 0, 0)]
    plan = {"dev": DEV, "variants": variants, "settings": FINETUNE}
    write_plan(output, plan)
    check_pack(output, encoder)
    size = sum(f.stat().st_size for f in output.iterdir())
    msg.good(f"Pack {output}: {len(sets)} sets, {size / 2**20:.1f} MiB; plan: "
             + ", ".join(f"{v['fusion']}{v['layers']}" for v in variants))


@app.command("check-pack")
def check_pack(
    pack: Path = typer.Argument(FINETUNE_PACK),
    encoder: Path = typer.Argument(REPO / "assets/encoders/multilingual-e5-small"),
    n_sentences: int = 64,
    tolerance: float = 0.01,
):
    """The pack gives the encoder's weights and the spaCy path's pooled hidden states.

    Weights: every tensor equals the built encoder's (kept embedding rows), exactly.
    Features: the frozen encoder from the pack, pooled as in finetuning.py, against the
    fp16 hidden-state cache (spaCy path) on the first English dev sentences; the
    tolerance covers fp16 rounding of the cache.
    """
    import numpy
    import torch
    from safetensors.numpy import load_file

    from layer_fusion.research.finetuning import FinetuneModel, FinetuneSettings, PackSet, load_encoder

    model, pad_id = load_encoder(pack)
    with numpy.load(pack / "encoder.npz") as data:
        kept = data["kept_ids"]
    built = load_file(str(encoder / "model.safetensors"))
    for name, value in model.state_dict().items():
        expected = built[name][kept] if name == "embeddings.word_embeddings.weight" else built[name]
        if not numpy.array_equal(value.numpy(), expected):
            msg.fail(f"{pack}: weight {name} differs from {encoder}", exits=1)
    dev, c = PackSet(pack / f"{DEV}.npz"), load_cache(CACHE / DEV)
    if not numpy.array_equal(dev.labels, c.labels):
        msg.fail(f"{pack}: {DEV} labels differ from the cache {CACHE / DEV}", exits=1)
    head = FinetuneModel(model, FinetuneSettings("ScalarMix", list(range(N_HIDDEN)))).eval()
    idx = list(range(n_sentences))
    with torch.no_grad():
        x, mask = head.word_layers(dev.batch(idx, pad_id, "cpu"))
    pooled = x[mask].numpy()  # (words, 13, H) in sentence order
    cached = numpy.asarray(c.features[: c.offsets[n_sentences]], dtype=numpy.float32)
    diff = float(numpy.abs(pooled - cached).max())
    scale = float(numpy.abs(cached).max())
    if diff > tolerance * scale:
        msg.fail(f"{pack}: pooled features differ from the cache by {diff:.4g} (scale {scale:.3g})", exits=1)
    msg.good(f"Pack check: weights identical to {encoder.name}; {n_sentences} {DEV} sentences, "
             f"{len(pooled)} words x {N_HIDDEN} layers: max |pack - cache| = {diff:.4g} "
             f"({diff / scale:.2e} of the largest value {scale:.3g})")


@app.command("finetuned-metrics")
def finetuned_metrics(results: List[Path], n_resamples: int = 1000,
                      stage: str = typer.Option("finetuned", help="metrics/experiments/<stage>/ (e.g. a budget check)")):
    """Metrics JSON under metrics/experiments/<stage>/ for every run in finetune_encoder.py
    outputs (files, or folders holding finetune-*.npz)."""
    import numpy

    results = [f for r in results for f in (sorted(r.glob("finetune-*.npz")) if r.is_dir() else [r])]
    if not results:
        msg.fail("no finetune-*.npz results found: run scripts/finetune_all.sh first", exits=1)

    targets = load_targets(TARGETS)
    pack_meta = FINETUNE_PACK / "meta.json"
    pack = json.loads(pack_meta.read_text(encoding="utf8")) if pack_meta.exists() else {}
    for path in results:
        with numpy.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        for key in sorted(k for k in arrays if k.endswith("/info")):
            name = key[: -len("/info")]
            info = json.loads(str(arrays[key]))
            if info.get("max_sentences"):
                msg.warn(f"{name}: evaluated on the first {info['max_sentences']} sentences only, skipped")
                continue
            per_set = {}
            for set_name in targets.treebanks:
                if f"{name}/{set_name}" not in arrays:
                    continue
                cache_ = load_cache(CACHE / set_name)
                pred = arrays[f"{name}/{set_name}"].astype(numpy.int16)
                if len(pred) != len(cache_.labels):
                    msg.fail(f"{path}: {name}/{set_name} has {len(pred)} words, the cache {len(cache_.labels)}", exits=1)
                t = targets.treebanks[set_name]
                per_set[set_name] = treebank_result(cache_, pred, set_name, n_resamples=n_resamples)
                per_set[set_name].info.update(treebank=t.treebank, language=t.language, iso=t.iso, group=t.group,
                                              split=t.split, file=f"{t.treebank}/{t.file}")
            metrics = summarize_results(per_set, targets, n_resamples=n_resamples)
            s = info["settings"]
            metrics.update(
                settings=s, stage=stage, history=info["history"],
                english_dev=info["history"]["best_dev_accuracy"], fusion_parameters=info["fusion_parameters"],
                mean_layer_weights=info["mean_layer_weights"], eval_seconds=info["eval_seconds"],
                regime=(f"fine-tuned encoder (word embeddings frozen), {s['steps']} steps of "
                        f"{s['batch_sentences']} sentences, on {info['device']}"),
                device=info["device"], train_seconds=info["history"]["seconds"],
                pack={k: pack[k] for k in ("kept_embedding_rows", "sets", "window") if k in pack},
            )
            _write_json(OUT / stage / f"{name}.json", metrics)
            msg.good(f"{name}: dev {metrics['english_dev']:.4f}, low-resource macro "
                     f"{metrics['macro_low_resource']['accuracy']:.4f}")


if __name__ == "__main__":
    app()

"""The accelerator grid (configs/accelerator_grid.cfg): pack here, train there, score here.

    python scripts/accelerator_grid.py pack [ENCODER] [UD_DIR]          # CPU, spaCy: cache/accelerator_pack
    python scripts/accelerator_run.py PACK OUT_DIR --workers 6          # accelerator: torch + numpy only
    python scripts/accelerator_grid.py metrics OUT_DIR [UD_DIR]         # CPU: metrics/accelerator_grid/<run>/

`pack` tokenizes EWT train, the multi-source corpus (EWT train + the extra-source files of
the `corpus-multisource` command) and every set of configs/targets.cfg, word by word, and
writes the 4-bit encoder and the resolved plan (plan.json). `scripts/accelerator_run.py`
trains the runs (see there). `metrics` turns the predictions into the same zero_shot.json as the CPU grid (per-sentence counts,
CIs, macro-averages), with the run's settings, device and timings.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import numpy
import typer


REPO = Path(__file__).resolve().parents[1]

app = typer.Typer(add_completion=False, no_args_is_help=True)
GRID = REPO / "configs" / "accelerator_grid.cfg"
PACK = REPO / "cache" / "accelerator_pack"
METRICS = REPO / "metrics" / "accelerator_grid"
TARGETS = REPO / "configs" / "targets.cfg"
EWT_TRAIN = "UD_English-EWT/en_ewt-ud-train.conllu"


def multisource_files() -> List[str]:
    """The --train-file list of project.yml's `corpus-multisource` command (one source of truth)."""
    import yaml

    project = yaml.safe_load((REPO / "project.yml").read_text(encoding="utf8"))
    command = next(c for c in project["commands"] if c["name"] == "corpus-multisource")
    words = " ".join(command["script"]).split()
    return [words[i + 1] for i, w in enumerate(words) if w == "--train-file"]


@app.command()
def pack(
    encoder: Path = typer.Argument(REPO / "assets/encoders/multilingual-e5-small"),
    ud_dir: Path = typer.Argument(REPO.parent / "shared" / "ud"),
    output: Path = typer.Option(PACK),
    grid: Path = typer.Option(GRID),
    max_sentences: Optional[int] = typer.Option(None, help="First N sentences of each file (checks only)"),
):
    """Write the pack (tokenized sets, 4-bit encoder) and its plan.json."""
    from wasabi import msg

    from layer_fusion.conllu import read_conllu
    from layer_fusion.encoder.build import default_image_path
    from layer_fusion.research.accelerator_plan import load_plan
    from layer_fusion.research.finetune_pack import write_pack, write_plan
    from layer_fusion.targets import load_targets

    plan = load_plan(grid)  # a bad grid fails before minutes of tokenizing
    if not (encoder / "config.json").is_file():
        msg.fail(f"No encoder at {encoder}: run `spacy project run encoder`", exits=1)
    read = lambda rel: list(read_conllu(ud_dir / rel))[:max_sentences]
    targets = load_targets(TARGETS)
    files = {"train": [EWT_TRAIN], "train_multisource": multisource_files()}
    for key, rels in files.items():
        for rel in rels:
            if not (ud_dir / rel).is_file():
                msg.fail(f"{key}: {ud_dir / rel} not found", exits=1)
    for key, t in targets.treebanks.items():  # a missing evaluation set is reported as missing
        if (ud_dir / t.treebank / t.file).is_file():
            files[key] = [f"{t.treebank}/{t.file}"]
        else:
            msg.warn(f"{key}: {ud_dir / t.treebank / t.file} not found, skipped")
    sets = {key: [s for rel in rels for s in read(rel)] for key, rels in files.items()}
    image = default_image_path() if encoder.resolve() == (REPO / "assets/encoders/multilingual-e5-small").resolve() else None
    write_pack(output, encoder, sets, image_path=image, split_words=plan["split_words"])
    plan["grid"] = str(grid.relative_to(REPO) if grid.is_relative_to(REPO) else grid)
    plan["max_sentences"] = max_sentences
    write_plan(output, plan)
    size = sum(f.stat().st_size for f in output.iterdir())
    msg.good(f"Pack {output}: {len(sets)} sets, {size / 2**20:.1f} MiB; {len(plan['runs'])} runs planned")


@app.command()
def metrics(
    out_dir: Path = typer.Argument(..., exists=True, file_okay=False),
    ud_dir: Path = typer.Argument(REPO.parent / "shared" / "ud"),
    pack_dir: Path = typer.Option(PACK),
    output: Path = typer.Option(METRICS),
    n_resamples: int = 1000,
):
    """metrics/accelerator_grid/<run>/zero_shot.json for every finished run."""
    from wasabi import msg

    from layer_fusion.atomic_write import write_text_atomic
    from layer_fusion.conllu import read_conllu
    from layer_fusion.evaluation import TreebankResult, summarize_results
    from layer_fusion.provenance import provenance
    from layer_fusion.research.finetuning import PackSet
    from layer_fusion.research.run_records import code_sha256, folder_sha256
    from layer_fusion.targets import load_targets

    from accelerator_run import TRAINING_MODULE, finished_results, stale_runs

    arrays = finished_results(out_dir)
    runs = sorted(k[: -len("/info")] for k in arrays if k.endswith("/info"))
    if not runs:
        msg.fail(f"{out_dir}: no finished runs (runs-*.npz)", exits=1)
    targets = load_targets(TARGETS)
    plan = json.loads((pack_dir / "plan.json").read_text(encoding="utf8"))
    if plan.get("max_sentences"):
        msg.fail(f"{pack_dir} holds the first {plan['max_sentences']} sentences of each set only (a check pack)", exits=1)
    # Only the plan's runs, made from its settings and this pack by this training code, are
    # scored against this pack's gold labels; the others' metrics, from an earlier call, go too
    # (the reports read every run folder).
    planned = {r["name"] for r in plan["runs"]}
    stale = stale_runs(out_dir, plan, folder_sha256(pack_dir, exclude=["plan.json"]),  # as accelerator_run.py
                       code_sha256(TRAINING_MODULE))
    for name in runs:
        why = "not in the plan" if name not in planned else f"made from {stale[name]}" if name in stale else None
        if why:
            msg.warn(f"{name}: {why}; not scored (run accelerator_run.py again)")
            (output / name / "zero_shot.json").unlink(missing_ok=True)
    runs = [name for name in runs if name in planned and name not in stale]
    gold = {key: PackSet(pack_dir / f"{key}.npz") for key in targets.treebanks if (pack_dir / f"{key}.npz").is_file()}
    genres = {key: [s.genre for s in read_conllu(ud_dir / f"{t.treebank}/{t.file}")]
              for key, t in targets.treebanks.items() if key in targets.genre_breakdown and key in gold}
    for name in runs:
        info = json.loads(str(arrays[f"{name}/info"]))
        results = {}
        for key, data in gold.items():
            pred = arrays[f"{name}/{key}"].astype(numpy.int16)
            if len(pred) != len(data.labels):
                msg.fail(f"{out_dir}: {name}/{key} has {len(pred)} words, the pack {len(data.labels)}", exits=1)
            correct = (pred == data.labels).astype(numpy.int64)
            lengths = data.word_lengths()
            sums = numpy.add.reduceat(correct, data.word_offsets[:-1]) if len(correct) else numpy.zeros(0, numpy.int64)
            g = genres.get(key)
            results[key] = TreebankResult(name=key, sent_words=lengths, sent_correct=numpy.where(lengths > 0, sums, 0),
                                          n_resamples=n_resamples, seed=0,
                                          sent_genres=g if g and any(x is not None for x in g) else None).compute_ci()
        summary = summarize_results(results, targets, n_resamples=n_resamples)
        spec = next(r for r in plan["runs"] if r["name"] == name)
        summary["settings"] = {**spec["settings"], "source": spec["source"], "block": spec["block"],
                               "split_words": plan["split_words"], "dev": plan["dev"]}
        summary["history"] = info["history"]
        summary["fusion_parameters"] = info.get("fusion_parameters")
        summary["mean_layer_weights"] = info.get("mean_layer_weights")
        summary["run"] = name
        summary["seconds"] = {"train": info["history"]["seconds"], "total": info["total_seconds"],
                              "eval": info["eval_seconds"]}
        summary["device"] = {"name": info["device"], "torch": info["torch"], "worker": info["worker"]}
        summary["provenance"] = provenance(REPO / plan.get("grid", "configs/accelerator_grid.cfg"))
        (output / name).mkdir(parents=True, exist_ok=True)
        write_text_atomic(output / name / "zero_shot.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
        macro = summary["macro_low_resource"]["accuracy"]
        msg.good(f"{name}: low-resource macro {100 * macro:.2f}, en dev {100 * results['en_ewt_dev'].accuracy:.2f}")


if __name__ == "__main__":
    app()

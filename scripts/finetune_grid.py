"""Train and evaluate the fine-tuning grid (configs/finetune_grid.cfg) in the spaCy path.

Each run is configs/finetune.cfg with the run's settings (variant_config); it is trained
with `spacy train` and its model-last evaluated on every set in configs/targets.cfg.

    training/grid/<run>/            config.cfg, model-last (renamed into place when complete)
    metrics/grid/<run>/zero_shot.json   evaluation plus the run's spec and provenance

Runs with intermediate tasks (configs/intermediate_tasks.cfg) train them with UPOS
(multitask) or first (sequential: training/grid/<run>-intermediate/model-last, whose
transformer the UPOS stage sources). The evaluation loads UPOS only: the intermediate
components are excluded, so they cost no evaluation time.

Resumable: a run whose metrics exist is skipped; a run whose training finished is only
evaluated; a half-trained run (a killed process) is restarted from scratch, since only
complete folders are renamed into place (a finished stage 1 is kept). Finished work counts
only when it was made from the inputs the run has now (``run_inputs``: its config, from its
settings, configs/finetune.cfg and --override; the encoder's weights; its training and dev
corpora; a sequential run's stage-1 config and corpora): a model trained from other inputs
is trained again; metrics of other inputs, or of other evaluation files
(``evaluation_inputs``), are kept with a warning, or made again with --rerun-changed (as
`spacy project run finetune-grid` does: weasel runs it when a dep changed); only the
evaluation is redone when the model's own inputs did not change. A trained model without
its trained_from.json (made before it was recorded) is trained again; metrics that do not
record an input (made before it was recorded) are not known to differ in it.

    python scripts/finetune_grid.py configs/finetune_grid.cfg ../shared/ud [--run NAME ...]
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer
from confection import Config
from wasabi import msg

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.provenance import provenance
from layer_fusion.research.config_changes import describe_changes, summarize_changes
from layer_fusion.research.run_records import file_sha256
from layer_fusion.research.variants import INTERMEDIATE_TASKS, load_grid, stage_config, variant_config
from layer_fusion.targets import load_targets

REPO = Path(__file__).resolve().parents[1]
TRAINED_FROM = "trained_from.json"  # in a training folder: the run_inputs it was trained from
app = typer.Typer(add_completion=False)


def train_run(name: str, config: Config, out: Path, gpu_id: int, inputs: Dict[str, str]) -> float:
    """spacy train into out/ (via a temporary folder), recording ``inputs`` (``run_inputs``)
    in out/trained_from.json; returns wall seconds."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config.to_disk(tmp / "config.cfg")
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "spacy", "train", str(tmp / "config.cfg"), "--output", str(tmp),
           "--gpu-id", str(gpu_id)]
    with open(tmp / "train.log", "w", encoding="utf-8") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        msg.fail(f"{name}: spacy train failed (exit {code}); see {tmp / 'train.log'}", exits=1)
    seconds = time.perf_counter() - start
    (tmp / "train_seconds.json").write_text(json.dumps({"seconds": round(seconds, 1)}) + "\n")
    (tmp / TRAINED_FROM).write_text(json.dumps(inputs, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return seconds


def stage_folder(training_dir: Path, name: str) -> Path:
    """Where the intermediate stage of sequential run ``name`` is trained."""
    return training_dir / f"{name}-intermediate"


def upos_config(base: Path, tasks: Optional[Path], name: str, run: Dict, overrides: Dict,
                training_dir: Path) -> Config:
    """The config run ``name`` trains its UPOS tagger from: for a sequential run, the UPOS
    stage, whose transformer is sourced from the stage-1 folder under ``training_dir``."""
    sequential = run.get("intermediate") and run.get("intermediate_mode") == "sequential"
    source = stage_folder(training_dir, name) / "model-last" if sequential else None
    return variant_config(base, run, overrides=overrides, tasks=tasks, source=source)


def run_inputs(config: Config, stage: Optional[Config] = None) -> Dict[str, str]:
    """What a run's model depends on besides the code: the sha256 of its config as
    ``Config.to_disk`` writes it, of the encoder's weights (when a local folder), of its
    training and dev corpora, and for a sequential run of its stage-1 config and corpora
    (stage 2's own config names stage 1 by path only)."""
    inputs = {"config_sha256": _text_sha256(config.to_str())}
    weights = Path(config["paths"]["encoder"]) / "model.safetensors"
    if weights.is_file():
        inputs["encoder_sha256"] = file_sha256(weights)  # hashed once per process
    inputs.update(_corpora(config))
    if stage is not None:
        inputs["stage_config_sha256"] = _text_sha256(stage.to_str())
        inputs.update({f"stage_{k}": v for k, v in _corpora(stage).items()})
    return inputs


def _corpora(config: Config) -> Dict[str, str]:
    """{train,dev}_corpus_sha256 of the .spacy files a config trains on (when present)."""
    out = {}
    for split in ("train", "dev"):
        path = config["paths"].get(split)
        if path and Path(path).is_file():
            out[f"{split}_corpus_sha256"] = file_sha256(path)
    return out


def evaluation_inputs(ud_dir: Path, targets: Path) -> str:
    """One sha256 over the evaluation files the run is scored on (present or absent)."""
    checksums = load_targets(targets).file_checksums(ud_dir)
    return _text_sha256(json.dumps(checksums, sort_keys=True))


# Each input of a run: what to say when it changed.
CHANGES = {"config_sha256": "another config", "encoder_sha256": "other encoder weights",
           "train_corpus_sha256": "another training corpus", "dev_corpus_sha256": "another dev corpus",
           "stage_config_sha256": "another intermediate stage",
           "stage_train_corpus_sha256": "another intermediate-stage training corpus",
           "stage_dev_corpus_sha256": "another intermediate-stage dev corpus",
           "evaluated_on": "other evaluation files"}


def trained_with(out: Path, inputs: Dict[str, str]) -> bool:
    """Whether ``out`` holds a finished training of ``inputs``."""
    if not (out / "model-last").is_dir() or not (out / TRAINED_FROM).is_file():
        return False
    return json.loads((out / TRAINED_FROM).read_text(encoding="utf-8")) == inputs


def metrics_change(metrics_path: Path, inputs: Dict[str, str], evaluated_on: Optional[str] = None,
                   config: Optional[Config] = None, max_sentences: Optional[int] = None) -> Optional[str]:
    """Why the metrics at ``metrics_path`` are not those of ``inputs`` (and of the evaluation
    files ``evaluated_on``, with at most ``max_sentences`` per set), or None when they are.

    Their ``run.trained_from`` holds the inputs, ``run.evaluated_on`` the evaluation files.
    Metrics made before it was recorded are compared on what their provenance has: the
    config's and the encoder's sha256. An input not recorded (metrics made before it was)
    is not known to differ. With ``config`` (the run's config now) and the config text the
    metrics record (``run.config``, recorded since it is), another config names the
    settings that changed."""
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    cap = (metrics.get("settings") or {}).get("max_sentences")
    if cap != max_sentences:  # a smoke run's 50 sentences per set are no screen of every sentence
        return f"an evaluation of {f'at most {cap}' if cap else 'every'} sentence(s) per set"
    recorded = dict((metrics.get("run") or {}).get("trained_from") or {})
    if not recorded:
        provenance_ = metrics.get("provenance") or {}
        recorded = {"config_sha256": provenance_.get("config_sha256")}
        if provenance_.get("encoder_sha256"):
            recorded["encoder_sha256"] = provenance_["encoder_sha256"]
    if (metrics.get("run") or {}).get("evaluated_on"):
        recorded["evaluated_on"] = metrics["run"]["evaluated_on"]
    if evaluated_on is not None:
        inputs = {**inputs, "evaluated_on": evaluated_on}
    for key, value in inputs.items():
        if key in recorded and recorded[key] != value:  # a key not recorded is not known to differ
            trained_config = (metrics.get("run") or {}).get("config")
            changed = summarize_changes(trained_config, config) if key == "config_sha256" and config is not None \
                and trained_config else []
            return f"{CHANGES[key]} ({describe_changes(changed)})" if changed else CHANGES[key]
    return None


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf8")).hexdigest()


def dev_scores(model: Path) -> dict:
    """English-dev scores spaCy recorded at the end of training (meta.json "performance"):
    UPOS, and LAS / FEATS accuracy when the pipeline has those tasks."""
    performance = json.loads((model / "meta.json").read_text(encoding="utf-8")).get("performance", {})
    return {k: v for k, v in performance.items() if k in ("pos_acc", "dep_uas", "dep_las", "tag_acc")}


@app.command()
def main(
    grid: Path = typer.Argument(..., exists=True, dir_okay=False),
    ud_dir: Path = typer.Argument(..., exists=True, file_okay=False),
    base: Path = typer.Option(REPO / "configs" / "finetune.cfg", "--base", exists=True),
    tasks: Path = typer.Option(REPO / "configs" / "intermediate_tasks.cfg", "--tasks", exists=True),
    training_dir: Path = typer.Option(Path("training/grid"), "--training-dir"),
    metrics_dir: Path = typer.Option(Path("metrics/grid"), "--metrics-dir"),
    targets: Path = typer.Option(REPO / "configs" / "targets.cfg", "--targets", exists=True),
    runs: Optional[List[str]] = typer.Option(None, "--run", help="Only these runs (default: all)"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
    max_sentences: Optional[int] = typer.Option(None, "--max-sentences", help="Cap per evaluation set (smoke)"),
    overrides: List[str] = typer.Option([], "--override", help="KEY=VALUE config overrides for every run (smoke)"),
    rerun_changed: bool = typer.Option(
        False, "--rerun-changed", help="Run again the runs whose metrics were made from other inputs (config, "
                                       "encoder weights, corpora, stage 1, evaluation files; default: keep them, with a warning)"),
):
    """Train and evaluate every run of the grid that has no metrics of its present inputs yet."""
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate_zero_shot  # noqa: E402  (a sibling script, not a package module)
    import spacy

    if gpu_id >= 0:  # evaluation runs in this process
        spacy.require_gpu(gpu_id)
    from layer_fusion.evaluation import check_test_files
    from layer_fusion.targets import TargetsError, load_targets

    try:  # before hours of training, not after the first run
        check_test_files(ud_dir, load_targets(targets))
    except TargetsError as err:
        msg.fail(str(err), exits=1)
    except FileNotFoundError as err:
        msg.fail(f"{err.filename}: {err.strerror}", exits=1)
    spec = load_grid(grid)
    names = runs or list(spec)
    unknown = [n for n in names if n not in spec]
    if unknown:
        msg.fail(f"{grid}: no run named {unknown}; runs are {list(spec)}", exits=1)
    evaluated_on = evaluation_inputs(ud_dir, targets)
    parsed = dict(o.split("=", 1) for o in overrides)
    values = {k: json.loads(v) for k, v in parsed.items()}
    kept: List[str] = []
    for i, name in enumerate(names, 1):
        out_metrics = metrics_dir / name / "zero_shot.json"
        run = spec[name]
        out = training_dir / name
        sequential = run["intermediate"] and run["intermediate_mode"] == "sequential"
        stage = stage_folder(training_dir, name)
        source = stage / "model-last" if sequential else None
        config = upos_config(base, tasks, name, run, values, training_dir)
        first = stage_config(base, run, tasks, values) if sequential else None
        inputs = run_inputs(config, first)
        if out_metrics.is_file():
            change = metrics_change(out_metrics, inputs, evaluated_on, config, max_sentences)
            if change is None:
                msg.info(f"[{i}/{len(names)}] {name}: done, skipped")
                continue
            if not rerun_changed:
                msg.warn(f"[{i}/{len(names)}] {name}: kept, though its metrics come from {change}")
                kept.append(name)
                continue
            msg.info(f"[{i}/{len(names)}] {name}: its metrics come from {change}: running it again")
        stage_seconds = 0.0
        if sequential:
            stage_inputs = run_inputs(first)
            if not trained_with(stage, stage_inputs):
                # A stage 2 trained from the stage 1 replaced here must not outlive it, even
                # if this process is killed before stage 2 is trained again.
                shutil.rmtree(out, ignore_errors=True)
                msg.info(f"[{i}/{len(names)}] {name}: training the intermediate stage {run['intermediate']}")
                stage_seconds = train_run(f"{name} (stage 1)", first, stage, gpu_id, stage_inputs)
            else:
                stage_seconds = json.loads((stage / "train_seconds.json").read_text())["seconds"]
        if not trained_with(out, inputs):
            msg.info(f"[{i}/{len(names)}] {name}: training {run}")
            seconds = train_run(name, config, out, gpu_id, inputs)
        else:
            seconds = json.loads((out / "train_seconds.json").read_text())["seconds"]
        seconds += stage_seconds
        msg.info(f"[{i}/{len(names)}] {name}: evaluating ({seconds:.0f} s of training)")
        nlp = spacy.load(out / "model-last", exclude=list(INTERMEDIATE_TASKS))
        metrics = evaluate_zero_shot.run(
            nlp, str(out / "model-last"), ud_dir, metrics_dir / name / "eval.json", targets=targets,
            max_sentences=max_sentences, progress=False,
        )
        metrics["run"] = {"name": name, **run, "train_seconds": seconds, "overrides": parsed,
                          "dev_scores": dev_scores(out / "model-last"), "trained_from": inputs,
                          "evaluated_on": evaluated_on,
                          # the text config_sha256 hashes: a later change can name its settings
                          "config": config.to_str()}
        if source is not None:
            metrics["run"]["intermediate_dev_scores"] = dev_scores(source)
        metrics["provenance"] = provenance(out / "config.cfg", base_encoder=config["paths"]["encoder"])
        write_text_atomic(out_metrics, json.dumps(metrics, ensure_ascii=False, indent=1) + "\n")
        (metrics_dir / name / "eval.json").unlink()
        scores = {"reference dev": (metrics.get("macro_reference_dev") or {}).get("accuracy"),
                  "low-resource macro": metrics["macro_low_resource"]["accuracy"]}
        msg.good(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if v is not None))
    if kept:
        msg.warn(f"{len(kept)} run(s) kept with metrics of other inputs (config, encoder, corpora, stage 1, evaluation files): {', '.join(kept)}. "
                 f"--rerun-changed runs them again")


if __name__ == "__main__":
    app()

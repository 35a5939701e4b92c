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
complete folders are renamed into place (a finished stage 1 is kept).

    python scripts/finetune_grid.py configs/finetune_grid.cfg ../shared/ud [--run NAME ...]
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from confection import Config
from wasabi import msg

from layer_fusion.atomic_write import write_text_atomic
from layer_fusion.provenance import provenance
from layer_fusion.research.variants import INTERMEDIATE_TASKS, load_grid, stage_config, variant_config

REPO = Path(__file__).resolve().parents[1]
app = typer.Typer(add_completion=False)


def train_run(name: str, config: Config, out: Path, gpu_id: int) -> float:
    """spacy train into out/ (via a temporary folder); returns wall seconds."""
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
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return seconds


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
):
    """Train and evaluate every run of the grid that has no metrics yet."""
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate_zero_shot  # noqa: E402  (a sibling script, not a package module)
    import spacy

    if gpu_id >= 0:  # evaluation runs in this process
        spacy.require_gpu(gpu_id)
    spec = load_grid(grid)
    names = runs or list(spec)
    unknown = [n for n in names if n not in spec]
    if unknown:
        msg.fail(f"{grid}: no run named {unknown}; runs are {list(spec)}", exits=1)
    parsed = dict(o.split("=", 1) for o in overrides)
    for i, name in enumerate(names, 1):
        out_metrics = metrics_dir / name / "zero_shot.json"
        if out_metrics.is_file():
            msg.info(f"[{i}/{len(names)}] {name}: done, skipped")
            continue
        run = spec[name]
        values = {k: json.loads(v) for k, v in parsed.items()}
        out = training_dir / name
        stage_seconds = 0.0
        source = None
        if run["intermediate"] and run["intermediate_mode"] == "sequential":
            stage = training_dir / f"{name}-intermediate"
            source = stage / "model-last"
            if not source.is_dir():
                msg.info(f"[{i}/{len(names)}] {name}: training the intermediate stage {run['intermediate']}")
                stage_seconds = train_run(f"{name} (stage 1)", stage_config(base, run, tasks, values), stage, gpu_id)
            else:
                stage_seconds = json.loads((stage / "train_seconds.json").read_text())["seconds"]
        config = variant_config(base, run, overrides=values, tasks=tasks, source=source)
        if not (out / "model-last").is_dir():
            msg.info(f"[{i}/{len(names)}] {name}: training {run}")
            seconds = train_run(name, config, out, gpu_id)
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
                          "dev_scores": dev_scores(out / "model-last")}
        if source is not None:
            metrics["run"]["intermediate_dev_scores"] = dev_scores(source)
        metrics["provenance"] = provenance(out / "config.cfg", base_encoder=config["paths"]["encoder"])
        write_text_atomic(out_metrics, json.dumps(metrics, ensure_ascii=False, indent=1) + "\n")
        (metrics_dir / name / "eval.json").unlink()
        scores = {"reference dev": (metrics.get("macro_reference_dev") or {}).get("accuracy"),
                  "low-resource macro": metrics["macro_low_resource"]["accuracy"]}
        msg.good(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if v is not None))


if __name__ == "__main__":
    app()

"""Regime b of the research question: fine-tune the encoder (word embeddings frozen) with
each fusion head, from a pack written by `run_experiments.py finetune-pack`.

    python scripts/finetune_encoder.py PACK OUTPUT.npz [--fusion AIF] [--seeds 0 --seeds 1] [--device cuda]

Needs torch, numpy and typer only (PYTHONPATH=package when the library is
not installed), so it also runs on an accelerator machine without spaCy. The variants
come from PACK/plan.json (k* chosen on English dev by the sweep). OUTPUT.npz holds, per
finished run, the predictions on every set and an info record; it is rewritten
atomically after each run, and runs already in it are skipped, so an interrupted job
resumes. A run counts as done when its info records the settings, pack (the sha256 of its
files but plan.json), --max-sentences and training code (``run_records.code_sha256``) asked
for now; otherwise it is run again and replaces the old one (an info made before the pack or
the code was recorded is compared on the rest, with a note). `run_experiments.py finetuned-metrics OUTPUT.npz` turns it into
metrics JSON.
"""
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy
import torch
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "package"))
from layer_fusion.atomic_write import atomic_output  # noqa: E402
from layer_fusion.research.finetuning import FinetuneSettings, PackSet, run  # noqa: E402
from layer_fusion.research.run_records import code_sha256, describe, folder_sha256, input_names, record_change  # noqa: E402

app = typer.Typer(add_completion=False)


def _load_results(path: Path) -> dict:
    if not path.exists():
        return {}
    with numpy.load(path) as data:
        return {k: data[k] for k in data.files}


def _save_results(path: Path, results: dict) -> None:
    with atomic_output(path, "wb") as handle:
        numpy.savez_compressed(handle, **results)


@app.command()
def main(
    pack: Path,
    output: Path,
    fusion: Optional[List[str]] = typer.Option(None, help="Only these fusions of the plan"),
    seeds: List[int] = typer.Option([0, 1, 2]),
    steps: Optional[int] = typer.Option(None, help="Override the plan's step budget"),
    device: str = typer.Option("cuda" if torch.cuda.is_available() else "cpu"),
    max_sentences: Optional[int] = typer.Option(None, help="Evaluate on the first N sentences of each set (checks only)"),
):
    plan = json.loads((pack / "plan.json").read_text(encoding="utf8"))
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    sets = {p.stem: PackSet(p) for p in sorted(pack.glob("*.npz")) if p.stem != "encoder"}
    if max_sentences:
        sets = {k: v if k == "train" else _first(v, max_sentences) for k, v in sets.items()}
    results = _load_results(output)
    pack_sha256 = folder_sha256(pack, exclude=["plan.json"])  # the plan lists runs; each records its settings
    code = code_sha256(run.__module__)  # the training loop and what it imports
    output.parent.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for variant in plan["variants"]:
            if fusion and variant["fusion"] not in fusion:
                continue
            settings = FinetuneSettings(**variant, seed=seed, **plan["settings"])
            if steps is not None:
                settings.steps = steps
                settings.warmup_steps = min(settings.warmup_steps, max(steps // 10, 1))
                settings.eval_every = min(settings.eval_every, steps)
            name = settings.name()
            inputs = {"settings": settings.__dict__, "pack_sha256": pack_sha256, "max_sentences": max_sentences,
                      "code_sha256": code}
            if f"{name}/info" in results:
                changed, missing = record_change(json.loads(str(results[f"{name}/info"])), inputs)
                if not changed:
                    unknown = f" (it does not record its {input_names(missing)})" if missing else ""
                    print(f"{name}: done, skipped{unknown}", flush=True)
                    continue
                print(f"{name}: its results come from {describe(changed)}: running it again", flush=True)
                results = {k: v for k, v in results.items() if not k.startswith(f"{name}/")}
            start = time.perf_counter()
            out = run(settings, pack, sets, plan["dev"], device, log=lambda m: print(m, flush=True))
            info = {k: v for k, v in out.items() if k != "predictions"}
            info.update(device=torch.cuda.get_device_name() if device.startswith("cuda") else device,
                        torch=torch.__version__, total_seconds=round(time.perf_counter() - start, 2),
                        max_sentences=max_sentences, pack_sha256=pack_sha256, code_sha256=code)
            results[f"{name}/info"] = numpy.array(json.dumps(info))
            for set_name, pred in out["predictions"].items():
                results[f"{name}/{set_name}"] = pred.astype(numpy.int8)
            _save_results(output, results)
            print(f"{name}: dev {out['history']['best_dev_accuracy']:.4f} at step "
                  f"{out['history']['best_step']}, {info['total_seconds']} s", flush=True)


def _first(data: PackSet, n: int) -> PackSet:
    """The first ``n`` sentences of a set (for quick checks of the whole job)."""
    n = min(n, data.n_sentences)
    w = int(data.word_offsets[n])
    data.input_ids = data.input_ids[: data.seq_offsets[n]]
    data.seq_offsets = data.seq_offsets[: n + 1]
    data.align = data.align[: data.align_offsets[w]]
    data.align_offsets = data.align_offsets[: w + 1]
    data.word_offsets = data.word_offsets[: n + 1]
    data.labels = data.labels[:w]
    return data


if __name__ == "__main__":
    app()

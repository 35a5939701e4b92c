"""Train the accelerator grid's runs from a pack (``scripts/accelerator_grid.py pack``).

    python scripts/accelerator_run.py PACK OUT_DIR [--workers 6] [--deadline-s 480] [--device cuda]

Needs torch and numpy alone (argparse, not typer; the package is read from ../package), so
it runs on an accelerator machine as it comes: no spaCy, transformers or confection there.
Several worker processes share one device (the encoder is small: one process leaves the
GPU idle between its kernels); each takes the plan's next run in order. A worker writes
its finished runs to OUT_DIR/runs-<worker>.npz, atomically after every run; runs already in
OUT_DIR are skipped (resumable) when their info records the plan's settings of the run, the
pack (the sha256 of its files but plan.json) there is now and the training code there is now
(``run_records.code_sha256``). A run made from others is removed from OUT_DIR and run again
(an info made before the pack or the code was recorded is compared on what it records). No run starts that the worker's measured pace says
would end after --deadline-s. ``scripts/accelerator_grid.py metrics OUT_DIR`` scores the results.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Dict

import numpy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "package"))
from layer_fusion.atomic_write import atomic_output  # noqa: E402
from layer_fusion.research.run_records import code_sha256, describe, folder_sha256, record_change  # noqa: E402

# The module whose ``run`` trains each run: its code, and what it imports, is part of a run's record.
TRAINING_MODULE = "layer_fusion.research.finetuning"


def finished_results(out_dir: Path) -> Dict[str, numpy.ndarray]:
    """Every array of OUT_DIR/runs-*.npz: ``<run>/info`` (JSON) and ``<run>/<set>`` predictions."""
    found = {}
    for path in sorted(Path(out_dir).glob("runs-*.npz")):
        with numpy.load(path) as data:
            found.update({k: data[k] for k in data.files})
    return found


def finished_runs(out_dir: Path) -> set:
    return {k[: -len("/info")] for k in finished_results(out_dir) if k.endswith("/info")}


def stale_runs(out_dir: Path, plan: dict, pack_sha256: str, code: str) -> Dict[str, str]:
    """Run name -> what differs, for each finished run of the plan that was made from other
    settings (those the plan gives the run), another pack or other training code (``code``:
    ``code_sha256`` of TRAINING_MODULE; a run that does not record it is compared without it)."""
    results, stale = finished_results(out_dir), {}
    for spec in plan["runs"]:
        info = results.get(f"{spec['name']}/info")
        if info is None:
            continue
        info = json.loads(str(info))
        recorded = {"settings": {k: info["settings"].get(k) for k in spec["settings"]}}
        recorded.update({k: info[k] for k in ("pack_sha256", "code_sha256") if k in info})
        changed, _ = record_change(recorded, {"settings": spec["settings"], "pack_sha256": pack_sha256,
                                              "code_sha256": code})
        if changed:
            stale[spec["name"]] = describe(changed)
    return stale


def drop_runs(out_dir: Path, names) -> None:
    """Remove the runs ``names`` (info and predictions) from every OUT_DIR/runs-*.npz."""
    prefixes = tuple(f"{name}/" for name in names)
    for path in sorted(Path(out_dir).glob("runs-*.npz")):
        with numpy.load(path) as data:
            kept = {k: data[k] for k in data.files if not k.startswith(prefixes)}
            if len(kept) == len(data.files):
                continue
        with atomic_output(path, "wb") as handle:
            numpy.savez_compressed(handle, **kept)


def worker(rank: int, pack_dir: str, out_dir: str, queue, deadline: float, device: str, threads: int,
           pack_sha256: str, code: str) -> None:
    import torch

    from layer_fusion.research.finetuning import FinetuneSettings, PackSet, run

    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    pack_dir, out_dir = Path(pack_dir), Path(out_dir)
    plan = json.loads((pack_dir / "plan.json").read_text(encoding="utf8"))
    sets = {p.stem: PackSet(p) for p in sorted(pack_dir.glob("*.npz")) if p.stem != "encoder"}
    path = out_dir / f"runs-{rank}.npz"
    results: Dict[str, numpy.ndarray] = {}
    if path.exists():
        with numpy.load(path) as data:
            results = {k: data[k] for k in data.files}
    step_s = eval_s = None
    while True:
        item = queue.get()
        if item is None:
            return
        spec = plan["runs"][item]
        settings = FinetuneSettings(**spec["settings"])
        if step_s is not None and time.time() + step_s * settings.steps + eval_s > deadline:
            print(f"[w{rank}] {spec['name']}: not started ({step_s * settings.steps + eval_s:.0f} s "
                  f"would pass the deadline)", flush=True)
            continue
        start = time.perf_counter()
        out = run(settings, pack_dir, sets, plan["dev"], device, log=lambda m: None)
        seconds = time.perf_counter() - start
        train_s = out["history"]["seconds"]
        step_s, eval_s = train_s / settings.steps, seconds - train_s
        info = {k: v for k, v in out.items() if k != "predictions"}
        info.update(name=spec["name"], block=spec["block"], source=spec["source"], worker=rank,
                    device=torch.cuda.get_device_name() if device.startswith("cuda") else device,
                    torch=torch.__version__, total_seconds=round(seconds, 2), grid=plan.get("grid"),
                    max_sentences=plan.get("max_sentences"), pack_sha256=pack_sha256, code_sha256=code)
        results[f"{spec['name']}/info"] = numpy.array(json.dumps(info))
        for set_name, pred in out["predictions"].items():
            results[f"{spec['name']}/{set_name}"] = pred.astype(numpy.uint8)
        with atomic_output(path, "wb") as handle:
            numpy.savez_compressed(handle, **results)
        print(f"[w{rank}] {spec['name']}: en dev {out['history']['best_dev_accuracy']:.4f}, "
              f"train {train_s:.0f} s, all {seconds:.0f} s", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pack", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per worker")
    parser.add_argument("--deadline-s", type=float, default=1e9,
                        help="start no run expected to end later than this many seconds from now")
    parser.add_argument("--device", default="cuda", help="cuda or cpu")
    parser.add_argument("--only", action="append", default=[], help="only this run (repeatable)")
    args = parser.parse_args(argv)
    deadline = time.time() + args.deadline_s
    plan_path = args.pack / "plan.json"
    if not plan_path.is_file():
        parser.error(f"{plan_path} not found: write the pack with scripts/accelerator_grid.py pack")
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: at least 1")
    plan = json.loads(plan_path.read_text(encoding="utf8"))
    names = [r["name"] for r in plan["runs"]]
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"--only: not in {plan_path}: {', '.join(unknown)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pack_sha256 = folder_sha256(args.pack, exclude=["plan.json"])  # the plan lists runs; each records its settings
    code = code_sha256(TRAINING_MODULE)
    # Only runs this job will do again are dropped: --only leaves the others' results alone.
    stale = {n: what for n, what in stale_runs(args.out_dir, plan, pack_sha256, code).items()
             if not args.only or n in args.only}
    for name, what in stale.items():
        print(f"{name}: its results come from {what}: running it again", flush=True)
    drop_runs(args.out_dir, stale)
    done = finished_runs(args.out_dir)
    todo = [i for i, n in enumerate(names) if n not in done and (not args.only or n in args.only)]
    print(f"{len(todo)} of {len(names)} runs to do, {args.workers} worker(s) on {args.device}", flush=True)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    for i in todo:
        queue.put(i)
    for _ in range(args.workers):
        queue.put(None)
    procs = [context.Process(target=worker, args=(r, str(args.pack), str(args.out_dir), queue, deadline,
                                                  args.device, args.threads, pack_sha256, code))
             for r in range(args.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(f"{len(finished_runs(args.out_dir))} of {len(names)} runs finished", flush=True)
    failed = [r for r, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        print(f"worker(s) {failed} failed", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: tagging a sharded corpus on one machine with one process, with Ray Data
(``layer-fusion tag-dataset``, ``layer_fusion.distributed``) and with Dask distributed.

Why: the project tags sharded corpora on Ray; this measures whether Dask would do the same job
clearly better. Each engine gets the same JSONL shards and the same number of worker
processes (one torch thread each; the single process gets that many threads), loads the
pipeline once per worker, and tags with ``LineTagger`` (as ``layer-fusion tag`` does). Wall
time covers everything a user waits for: starting the engine, loading the pipeline in every
worker, tagging and writing the output shards. Runs are interleaved and medians reported. The
outputs of every engine are checked to be the same records as the single process's.

The Dask variant is a minimal equivalent written for this comparison (a worker plugin that
loads the pipeline, ``client.map`` over chunks of each shard, results gathered in order);
it needs ``pip install "spacy-layer-fusion[dask]"``.

    OMP_NUM_THREADS=1 python scripts/bench_distributed.py training/finetuned/model-last \
        ../shared/ud/UD_English-EWT/en_ewt-ud-test.conllu --lines 2000 --shards 4 --runs 3 \
        --output reports/bench/distributed.json --markdown reports/bench/distributed.md
"""
from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List

import typer

from layer_fusion.atomic_write import atomic_output, write_text_atomic
from layer_fusion.conllu import read_conllu
from layer_fusion.dataset_shards import input_shards
from layer_fusion.distributed import output_path, single_process_records, tag_dataset
from layer_fusion.output_formats import format_jsonl

warnings.filterwarnings("ignore", category=DeprecationWarning)
app = typer.Typer(add_completion=False)
CHUNK = 128  # lines per Dask task: the Ray path's batch (8 x the tagger's batch of 16)


def write_corpus(conllu: Path, lines: int, shards: int, folder: Path) -> List[str]:
    """``lines`` sentence texts of ``conllu`` (repeated as needed) in ``shards`` JSONL files."""
    texts = [s.text or " ".join(s.words) for s in read_conllu(conllu)]
    texts = [texts[i % len(texts)] for i in range(lines)]
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-lines // shards)
    for k in range(shards):
        with open(folder / f"part-{k:03d}.jsonl", "w", encoding="utf-8") as f:
            for text in texts[k * per:(k + 1) * per]:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return texts


def read_outputs(folder: Path) -> Dict[str, List[str]]:
    return {p.name: p.read_text(encoding="utf-8").splitlines(keepends=True) for p in sorted(folder.glob("*.jsonl"))}


def run_single(pipeline: str, pattern: str, out: Path, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    for name, records in single_process_records(pipeline, pattern).items():
        with atomic_output(out / name, "w") as f:
            f.writelines(records)


def run_ray(pipeline: str, pattern: str, out: Path, workers: int) -> None:
    import ray

    try:
        tag_dataset(pipeline, pattern, out, workers=workers, threads_per_worker=1, progress=False)
    finally:
        ray.shutdown()  # each run starts its own instance, as a fresh job would


def _dask_tag(texts: List[str]) -> List[str]:
    """A Dask task: tag a chunk of lines with the worker's pipeline (loaded by the plugin)."""
    from distributed import get_worker

    return [format_jsonl(r, 0) for r in get_worker().layer_fusion_tagger.tag(texts)]


def _pipeline_plugin(pipeline: str):
    """A Dask worker plugin: each worker loads the pipeline once, on one torch thread."""
    from distributed import WorkerPlugin

    class LoadPipeline(WorkerPlugin):
        def setup(self, worker):
            import spacy
            import torch

            from layer_fusion.tagging import LineTagger

            torch.set_num_threads(1)
            worker.layer_fusion_tagger = LineTagger(spacy.load(pipeline), batch_size=16)

    return LoadPipeline()


def run_dask(pipeline: str, pattern: str, out: Path, workers: int) -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.register_plugin(_pipeline_plugin(pipeline))
        for shard in input_shards(pattern):
            with open(shard, encoding="utf-8") as f:
                texts = [str(json.loads(line)["text"]) for line in f if line.strip()]
            chunks = [texts[i:i + CHUNK] for i in range(0, len(texts), CHUNK)]
            results = client.gather(client.map(_dask_tag, chunks, pure=False))
            with atomic_output(output_path(shard, out), "w") as f:
                for records in results:
                    f.writelines(records)


@app.command()
def main(
    pipeline: str = typer.Argument(..., help="Pipeline folder or installed package name"),
    conllu: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL-U file whose sentence texts are tagged"),
    lines: int = typer.Option(2000, min=1),
    shards: int = typer.Option(4, min=1),
    workers: int = typer.Option(2, min=1, help="Worker processes for Ray and Dask (threads for one process)"),
    runs: int = typer.Option(3, min=1),
    output: Path = typer.Option(Path("reports/bench/distributed.json")),
    markdown: Path = typer.Option(None),
):
    try:
        import distributed  # noqa: F401
        import ray  # noqa: F401
    except ImportError as err:
        raise typer.BadParameter(f"{err.name} is not installed: pip install \"spacy-layer-fusion[ray,dask]\"")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_corpus(conllu, lines, shards, tmp / "in")
        pattern = str(tmp / "in" / "*.jsonl")
        variants: Dict[str, Callable[[Path], None]] = {
            "one process": lambda out: run_single(pipeline, pattern, out, workers),
            "Ray Data": lambda out: run_ray(pipeline, pattern, out, workers),
            "Dask distributed": lambda out: run_dask(pipeline, pattern, out, workers),
        }
        seconds: Dict[str, List[float]] = {name: [] for name in variants}
        outputs: Dict[str, Dict[str, List[str]]] = {}
        for run in range(runs):
            for name, fn in variants.items():
                out = tmp / f"out-{run}-{name.split()[0].lower()}"
                out.mkdir()
                start = time.perf_counter()
                fn(out)
                seconds[name].append(time.perf_counter() - start)
                outputs[name] = read_outputs(out)
                print(f"run {run + 1} {name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)
    reference = outputs["one process"]
    same = {name: o == reference for name, o in outputs.items()}
    median = {name: statistics.median(s) for name, s in seconds.items()}
    report = {
        "pipeline": str(pipeline), "source": conllu.name, "lines": lines, "shards": shards, "workers": workers,
        "runs": runs, "machine": f"{os.cpu_count()} cores ({platform.machine()})",
        "seconds": seconds, "median_seconds": median,
        "lines_per_second": {name: lines / s for name, s in median.items()},
        "ratio_to_one_process": {name: median["one process"] / s for name, s in median.items()},
        "same_records_as_one_process": same,
    }
    write_text_atomic(output, json.dumps(report, indent=1) + "\n")
    text = render(report)
    if markdown is not None:
        write_text_atomic(markdown, text)
    print(text)
    if not all(same.values()):
        raise typer.Exit(1)


def render(report: dict) -> str:
    lines = ["# Tagging a sharded corpus: one process, Ray Data, Dask", "",
             f"`{report['pipeline']}`, {report['lines']:,} lines of {report['source']} in {report['shards']} JSONL "
             f"shards; {report['workers']} worker processes of one thread each (the single process: "
             f"{report['workers']} threads); median of {report['runs']} interleaved runs; {report['machine']}. "
             "Wall time includes starting the engine and loading the pipeline in every worker. "
             "Generated by `scripts/bench_distributed.py`.", "",
             "| engine | median s | lines/s | × one process | same records |", "|---|--:|--:|--:|---|"]
    for name, s in report["median_seconds"].items():
        lines.append(f"| {name} | {s:.1f} | {report['lines_per_second'][name]:.1f} | "
                     f"{report['ratio_to_one_process'][name]:.2f} | "
                     f"{'yes' if report['same_records_as_one_process'][name] else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app()

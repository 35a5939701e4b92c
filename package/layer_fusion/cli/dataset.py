"""`layer-fusion tag-dataset`: tag sharded corpora on a Ray cluster (the work is in distributed.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..length_order import DEFAULT_BATCH_SIZE
from ..quantization import INT8_BY_DEFAULT
from .common import _fail, app, msg


@app.command("tag-dataset")
def tag_dataset_command(
    pipeline: str = typer.Argument(..., help="Pipeline folder or installed package name, readable by every worker"),
    input_glob: str = typer.Argument(..., help="Input shards: *.jsonl (a \"text\" field per line) or *.parquet (a text column)"),
    output_dir: Path = typer.Argument(..., help="One NAME.jsonl per input shard, records in input order"),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster to join ('auto': the running one); default: start a local instance"),
    workers: int = typer.Option(2, "--workers", min=1, help="Actors, each loading the pipeline once"),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads (and Ray CPUs) per worker"),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Docs per nlp.pipe batch in a worker"),
    int8: bool = typer.Option(
        INT8_BY_DEFAULT, "--int8/--fp32",
        help="Encoder's matrix products in int8 (ONNX Runtime; faster, a little less accurate: README, "
             "\"Inference\") or fp32; the default is `layer-fusion tag`'s on the CPU"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars"),
):
    """Tag every input shard that has no output yet (resumable); each output shard is
    written to a temporary name and renamed when complete."""
    from ..distributed import tag_dataset

    try:
        written = tag_dataset(pipeline, input_glob, output_dir, address=address, workers=workers,
                              batch_size=batch_size, threads_per_worker=threads, progress=not quiet, int8=int8)
    except ValueError as err:
        raise _fail(str(err), 2)
    except ImportError as err:  # onnxruntime missing, for --int8
        raise _fail(f"--int8: {err}", 2)
    if not quiet:
        msg.good(f"{sum(written.values()):,} records in {len(written)} shard(s) written to {output_dir}"
                 if written else f"nothing to do: every shard already has an output in {output_dir}")

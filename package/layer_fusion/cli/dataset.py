"""`layer-fusion tag-dataset`: tag sharded corpora on a Ray cluster (the work is in distributed.py)."""
from __future__ import annotations

import re
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
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bars, and no INFO lines from Ray (warnings and errors only)"),
):
    """Tag every input shard that has no output yet (resumable); each output shard is
    written to a temporary name and renamed when complete."""
    from ..atomic_write import unwritable_reason
    from ..distributed import tag_dataset
    from ..onnx_encoder import OnnxRuntimeMissing
    from ..loading import PipelineLoadError, resolve_pipeline

    # Checked before Ray starts: a bad name would otherwise kill every worker, in tracebacks.
    try:
        resolve_pipeline(pipeline)
    except PipelineLoadError as err:
        raise _fail(str(err), 2)
    if unwritable_reason(output_dir, folder=True):
        raise _fail(f"cannot write to {output_dir}: {unwritable_reason(output_dir, folder=True)}", 2)
    try:
        written = tag_dataset(pipeline, input_glob, output_dir, address=address, workers=workers,
                              batch_size=batch_size, threads_per_worker=threads, progress=not quiet, int8=int8)
    except OnnxRuntimeMissing as err:  # --int8
        raise _fail(f"--int8: {err}", 2)
    except ImportError as err:  # Ray, or e.g. pyarrow for parquet shards
        raise _fail(str(err), 2)
    except Exception as err:  # noqa: BLE001 - bad input, and Ray's wrappers of it, in one line
        if not isinstance(err, ValueError) and type(err).__module__.split(".")[0] != "ray":
            raise
        raise _fail(_error_line(err), 2)
    if not quiet:
        msg.good(f"{sum(written.values()):,} records in {len(written)} shard(s) written to {output_dir}"
                 if written else f"nothing to do: every shard already has an output in {output_dir}")


def _error_line(err: BaseException) -> str:
    """One line for an error, also when Ray wraps a worker's: its message then holds the
    whole traceback, followed by retry advice. The last "SomeError: message" line is the
    worker's own error; without one, the first line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    return raised[-1] if raised else (lines[0] if lines else type(err).__name__)

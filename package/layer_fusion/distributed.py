"""Tag a sharded corpus on a Ray cluster (optional extra: ``pip install spacy-layer-fusion[ray]``).

    layer-fusion tag-dataset PIPELINE "corpus/*.jsonl" tagged/ --address auto

Input shards: JSONL (one object per line with a ``"text"`` field) or Parquet (a ``text``
column), matched by a glob. Output: for every input shard ``NAME.jsonl`` / ``NAME.parquet``,
``OUTPUT_DIR/NAME.jsonl`` with one record per input record, in input order, as
``layer-fusion tag --format jsonl`` writes them: ``{"text", "tokens", "pos"}``.

How. Ray Data reads the shards and streams them through ``map_batches`` on an actor pool:
each actor loads the pipeline once and tags its batches with ``LineTagger`` (the same NFC
normalization and long-line chunking as ``layer-fusion tag``). The driver iterates over the
result in order (``preserve_order``) and writes each shard to a temporary file beside its
final name, renamed when the shard is complete: an output shard is either whole or absent,
and a rerun skips shards whose output exists. A worker that dies is restarted and its batch
retried (``max_restarts`` / ``max_task_retries``); Ray Data yields each output block once, so
no record is lost or written twice (``tests/test_tag_dataset.py`` kills a worker mid-run).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from .atomic_write import atomic_output
from .dataset_shards import check_jsonl_shard, check_parquet_shard, input_shards
from .length_order import DEFAULT_BATCH_SIZE
from .output_formats import format_jsonl

# Restarts of a dead actor, and retries of the batch it held: enough for a preempted node or
# an out-of-memory kill, few enough that a batch that kills every worker fails the run.
MAX_RETRIES = 3


class RayMissing(ImportError):
    """Ray, the optional extra ``tag_dataset`` runs on, is not installed."""


def _require_ray():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissing('tag-dataset needs Ray: pip install "spacy-layer-fusion[ray]"') from None
    return ray


def check_reachable(address: Optional[str], timeout_s: float = 10.0) -> None:
    """For an address of the form ``[ray://]HOST:PORT``, raise ValueError when nothing
    accepts a connection there within ``timeout_s``. Ray itself retries such an address for
    minutes, logging warnings, before it gives up. Other forms ("auto", none) are Ray's."""
    import re
    import socket

    match = re.fullmatch(r"(?:ray://)?\[?([^\[\]]+?)\]?:(\d+)", address or "")
    if not match:
        return
    host, port = match.group(1), int(match.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__  # socket.timeout has no strerror
        raise ValueError(f"address {address!r}: cannot connect to {host}:{port} ({reason})") from None


def output_path(shard: Path, output_dir: Path) -> Path:
    return output_dir / (shard.stem + ".jsonl")


class PipelineTagger:
    """A Ray Data actor: loads the pipeline once (with ``int8``, then quantizes its encoder with
    ``quantization.DEFAULT_SCHEME``), tags batches of ``text`` with LineTagger."""

    def __init__(self, pipeline: str, batch_size: int, threads: int = 1, crash_once_marker: Optional[str] = None,
                 int8: bool = False):
        import torch

        from .tagging import LineTagger

        torch.set_num_threads(threads)
        self.tagger = LineTagger(load_for_tagging(pipeline, int8), batch_size=batch_size)
        # Fault injection for the tests: the first batch that sees this file deletes it and
        # kills its worker process, as a preempted node would. The file holds the driver's
        # pid, and the driver is never killed (were a batch ever run in it).
        self.crash_once_marker = crash_once_marker

    def __call__(self, batch: Dict[str, List]) -> Dict[str, List]:
        if self.crash_once_marker and not _is_driver(self.crash_once_marker):
            try:
                os.remove(self.crash_once_marker)
            except FileNotFoundError:
                pass
            else:
                os._exit(1)
        # A record whose "text" is not a string (a missing field arrives as NaN, a number as a
        # float) is reported, not tagged as "nan" or "5": the driver, which knows the record's
        # number in its shard, raises for it. (An exception raised here would reach it buried in Ray's.)
        texts = list(batch["text"])
        errors = ["" if isinstance(t, str) else _not_a_text(t) for t in texts]
        records = list(self.tagger.tag([t if isinstance(t, str) else "" for t in texts]))
        return {"path": list(batch["path"]),
                "record": [format_jsonl(r, 0) for r in records], "error": errors}


def _not_a_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # null, or NaN: how a gap arrives
        return '"text" is missing (null)'
    return f'"text" is {value!r}, not a string'


def _is_driver(marker: str) -> bool:
    """Whether this process is the one whose pid the crash-once marker file holds."""
    try:
        with open(marker, encoding="utf-8") as f:
            return f.read().strip() == str(os.getpid())
    except FileNotFoundError:
        return False


def load_for_tagging(pipeline: str, int8: bool = False):
    """``spacy.load(pipeline)`` for tagging on the CPU: its encoder quantized to int8 with
    ``int8``, else its word embeddings read from the weights file (``file_rows``)."""
    import spacy

    nlp = spacy.load(pipeline)
    if int8:
        from .quantization import quantize_encoder

        quantize_encoder(nlp)
    else:
        from .file_rows import embeddings_from_files

        embeddings_from_files(nlp)
    return nlp


def tag_dataset(
    pipeline: str,
    pattern: str,
    output_dir: Path,
    address: Optional[str] = None,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads_per_worker: int = 1,
    progress: bool = True,
    crash_once_marker: Optional[str] = None,
    int8: bool = False,
) -> Dict[str, int]:
    """Tag every input shard without an output yet; returns records written per shard name.
    RayMissing (an ImportError) when Ray, the ``[ray]`` extra, is not installed.
    With ``int8`` every worker runs the encoder in int8 (``quantization.DEFAULT_SCHEME``);
    ImportError, before Ray starts, when onnxruntime is missing. The default is fp32, as
    ``spacy.load`` gives; the ``layer-fusion tag-dataset`` command defaults to int8
    (``quantization.INT8_BY_DEFAULT``, ``--fp32`` to turn it off). Without ``progress``,
    no progress bars, and Ray prints warnings and errors only (a Ray it starts, and Ray Data's
    console: ``_ray_data_console``)."""
    ray = _require_ray()
    import ray.data

    if int8:
        from .onnx_encoder import import_onnxruntime

        import_onnxruntime()  # one clear error here, not one per worker

    output_dir = Path(output_dir)
    shards = input_shards(pattern, output_dir)
    todo = [s for s in shards if not output_path(s, output_dir).is_file()]
    written: Dict[str, int] = {}
    if not todo:
        return written
    longest = 0
    if todo[0].suffix == ".jsonl":
        longest = max(check_jsonl_shard(shard) for shard in todo)
    else:
        for shard in todo:
            check_parquet_shard(shard)
    if not ray.is_initialized():
        check_reachable(address)
        # A local instance: one CPU per worker thread, plus one for the tasks that read shards
        # (with every CPU held by the actor pool, reading would wait forever).
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.INFO if progress else logging.WARNING,
                     **({} if address else {"num_cpus": workers * threads_per_worker + 1}))
        except ConnectionError as err:  # e.g. address="auto" with no cluster running
            raise ValueError(f"address {address!r}: {' '.join(str(err).split())}") from None
    with _ray_data_console(quiet=not progress):
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = progress
        files = [str(s) for s in todo]
        if todo[0].suffix == ".parquet":
            ds = ray.data.read_parquet(files, include_paths=True, columns=["text"])
        else:
            # Arrow's reader, "text" read as a string: Ray's lines=True reader goes through pandas,
            # which makes "1" the number 1 and "NaN" a missing value. A block holds the longest line.
            import pyarrow
            import pyarrow.json as pajson

            ds = ray.data.read_json(
                files, include_paths=True,
                read_options=pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, 2 * longest)),
                parse_options=pajson.ParseOptions(explicit_schema=pyarrow.schema([("text", pyarrow.string())]),
                                                  unexpected_field_behavior="ignore"))
        schema = ds.schema()
        if schema is not None and "text" not in schema.names:
            raise ValueError(f"{pattern}: the input records have no 'text' field")
        if schema is None:  # no records at all: every shard gets an empty output
            tagged = None
        else:
            with warnings.catch_warnings():
                # max_restarts / max_task_retries go through map_batches' **ray_remote_args, which
                # Ray 2.60 marks deprecated with no named parameter to take their place (Ray Data's
                # own default retries forever). The [ray] extra pins Ray, so users are not warned
                # about a call they did not write.
                warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
                tagged = ds.map_batches(
                    PipelineTagger,
                    fn_constructor_kwargs={"pipeline": str(pipeline), "batch_size": batch_size,
                                           "threads": threads_per_worker, "crash_once_marker": crash_once_marker,
                                           "int8": int8},
                    compute=ray.data.ActorPoolStrategy(size=workers),
                    num_cpus=threads_per_worker,
                    batch_size=max(batch_size * 8, 64),
                    batch_format="numpy",
                    max_restarts=MAX_RETRIES,
                    max_task_retries=MAX_RETRIES,
                )
        by_path = {os.path.abspath(str(s)): s for s in todo}
        # Rows come in input order, shard after shard: one atomic output file per run of rows.
        for path, rows in itertools.groupby(_rows(tagged) if tagged is not None else [], key=lambda row: row["path"]):
            shard = by_path[os.path.abspath(_strip_scheme(path))]
            with atomic_output(output_path(shard, output_dir), "w") as handle:
                n = 0
                for row in rows:
                    if row["error"]:  # the temporary output is removed: no partial shard
                        raise ValueError(f"{shard}: record {n + 1}: {row['error']}")
                    handle.write(row["record"])
                    n += 1
            written[shard.name] = n
        for shard in todo:  # shards without records get an empty output
            if shard.name not in written:
                with atomic_output(output_path(shard, output_dir), "w"):
                    pass
                written[shard.name] = 0
    return written


class _WarningsOnly(logging.Filter):
    """Ray Data's console lines without its INFO lines (the plan it executes, its timing) and
    without the warning that progress bars are off, which ``progress=False`` asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and not record.getMessage().startswith("Progress bars disabled")


@contextlib.contextmanager
def _ray_data_console(quiet: bool) -> Iterator[None]:
    """While the block runs, with ``quiet``, Ray Data's console handlers (its own, on the
    ``ray.data`` logger: ``ray.init``'s ``logging_level`` does not reach them) print warnings
    and errors only. Its log file in the session folder keeps every line."""
    consoles = [h for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)] if quiet else []
    only_warnings = _WarningsOnly()
    for handler in consoles:
        handler.addFilter(only_warnings)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(only_warnings)


def _rows(ds) -> Iterator[Dict[str, str]]:
    for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
        for path, record, error in zip(batch["path"], batch["record"], batch["error"]):
            yield {"path": str(path), "record": str(record), "error": str(error)}


def _strip_scheme(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def single_process_records(pipeline: str, pattern: str, batch_size: int = DEFAULT_BATCH_SIZE,
                           int8: bool = False) -> Dict[str, List[str]]:
    """What ``tag_dataset`` should write, computed in this process (for tests and checks). In
    int8, a line's tags can depend on its batch-mates (one activation scale per batch), so
    only fp32 is sure to match record for record."""
    import pandas as pd

    from .tagging import LineTagger

    tagger = LineTagger(load_for_tagging(pipeline, int8), batch_size=batch_size)
    out: Dict[str, List[str]] = {}
    for shard in input_shards(pattern):
        if shard.suffix == ".parquet":
            texts = [str(t) for t in pd.read_parquet(shard, columns=["text"])["text"]]
        else:
            with open(shard, encoding="utf-8") as f:
                texts = [str(json.loads(line)["text"]) for line in f if line.strip()]
        out[output_path(shard, Path(".")).name] = [format_jsonl(r, 0) for r in tagger.tag(texts)]
    return out

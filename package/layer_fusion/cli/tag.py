"""`layer-fusion tag`: raw text in, one UPOS record per line out (the work is in tagging.py)."""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional

import typer

from ..atomic_write import is_stream
from ..length_order import DEFAULT_BATCH_SIZE
from ..quantization import INT8_BY_DEFAULT
from .common import STOP_SIGNALS, kill_workers, _check_lang, _err, _fail, _load, _quantize, _unexpected, _use_segmenter, _warn, _warn_no_upos, app


class OutputFormat(str, Enum):
    conllu = "conllu"
    jsonl = "jsonl"
    text = "text"


class DecodeErrors(str, Enum):
    strict = "strict"
    replace = "replace"


@app.command()
def tag(
    pipeline: str = typer.Argument(..., help="Installed pipeline package name or pipeline folder"),
    inputs: Optional[List[str]] = typer.Argument(
        None, help="UTF-8 text files, one sentence or paragraph per line ('-' or none: stdin)"
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here (default or '-': stdout)"),
    fmt: OutputFormat = typer.Option(OutputFormat.conllu, "--format", "-f", help="Output format"),
    # Defaults measured on CPU with scripts/bench_tagging.py (docs/benchmarks.md, "Tagging").
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Docs per nlp.pipe batch"),
    lookahead: Optional[int] = typer.Option(
        None, "--lookahead", min=1,
        help="Lines read and sorted by wordpieces at a time (default: 1000, or 4 x batch size if more); "
             "bounds memory",
    ),
    pretokenized: bool = typer.Option(
        False, "--pretokenized", help="Words are separated by whitespace (not by no-break spaces); do not re-tokenize"
    ),
    lang: Optional[str] = typer.Option(
        None, "--lang",
        help="Segment words with this language's segmenter (th, vi, zh, ja; each needs the package's extra "
             "of its name), split the Maltese article (mt: il-kelb -> il- kelb) or English contractions "
             "(en: don't -> do n't); "
             "default: the pipeline's language-agnostic tokenizer",
    ),
    n_process: int = typer.Option(
        1, "--n-process", min=1,
        help="Worker processes (spaCy's multiprocessing, forked from the loaded pipeline; one torch thread each)",
    ),
    int8: Optional[bool] = typer.Option(
        None, "--int8/--fp32",
        help="Encoder's matrix products in int8 (ONNX Runtime, CPU; faster, a little less accurate: README, "
             "\"Inference\") or fp32. Default: int8 on the CPU, fp32 with --gpu-id",
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to tag on (-1: CPU); needs a CUDA build of torch and cupy"),
    errors: DecodeErrors = typer.Option(
        DecodeErrors.strict, "--errors", help="Invalid UTF-8: fail (strict) or use U+FFFD (replace)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
):
    """Tag every input line with UPOS, in order: one record per line (in CoNLL-U, none for a line
    without words; its sent_id is the line number)."""
    from ..atomic_write import unwritable_reason

    # The command line and the files are checked before spaCy and torch are imported (seconds).
    if output is not None and str(output) == "-":  # as for inputs, '-' is the standard stream
        output = None
    if pretokenized and lang is not None:
        raise _fail(f"--lang {lang} segments raw text into words; --pretokenized takes the words as given: "
                    "use one of them", 2)
    if lang is not None:
        _check_lang(lang)
    for path in inputs or []:
        if path == "-":
            continue
        if not Path(path).exists():
            raise _fail(f"input file not found: {path}", 2)
        if Path(path).is_dir():
            raise _fail(f"input {path} is a folder, not a file", 2)
        if not os.access(path, os.R_OK):
            raise _fail(f"cannot read input {path}: permission denied", 2)
        if output is not None and output.exists() and output.samefile(path):
            raise _fail(f"--output {output} is the input {path}: the tags would overwrite it", 2)
        if Path(path).suffix.lower() in (".conllu", ".conll"):
            _warn(f"{path}: tag reads plain text, one document per line, so this file's comment and word "
                  "lines are tagged as text (`layer-fusion evaluate` scores CoNLL-U)")
    if output is not None and (not inputs or "-" in inputs) and _is_stdin(output):
        raise _fail(f"--output {output} is the standard input the lines are read from: the tags would overwrite it", 2)
    if output is not None:
        problem = unwritable_reason(output)
        if problem:
            raise _fail(f"cannot write --output {output}: {problem}", 2)
    if n_process > 1:
        # The workers are forked after the parent used the fast tokenizer: without this,
        # Hugging Face tokenizers warns on stderr and turns its own threads off anyway.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if gpu_id >= 0:
        if int8:  # a usage error: said before the GPU is looked for or the pipeline loaded
            raise _fail("--int8 runs on the CPU: leave out --gpu-id", 2)
        if n_process > 1:
            raise _fail("--gpu-id and --n-process > 1 do not combine: one process drives the GPU", 2)
        _require_gpu(gpu_id)
    from tqdm import tqdm

    from ..file_rows import embeddings_from_files
    from ..output_formats import FORMATS
    from ..input_lines import InputDecodeError, InputReadError, read_lines
    from ..pipe_workers import WorkerDied
    from ..tagging import LineTagger

    sources = inputs or ["-"]
    stdin = _stdin() if "-" in sources else None  # a closed one is an error before loading
    nlp = _load(pipeline)
    if lang is not None:
        _use_segmenter(nlp, lang)
    setting = "--int8" if int8 else "int8 (the default on the CPU; --fp32 turns it off)"
    if int8 is None:
        int8 = INT8_BY_DEFAULT and gpu_id < 0
    if int8:
        _quantize(nlp, gpu_id, setting=setting)
    elif gpu_id < 0:
        embeddings_from_files(nlp)
    tagger = LineTagger(nlp, batch_size=batch_size, pretokenized=pretokenized, lookahead=lookahead,
                        n_process=n_process)
    write = FORMATS[fmt.value]
    lines = read_lines(sources, errors=errors.value, stdin=stdin)
    if n_process > 1:
        # Workers ended after an error (pipe_workers) exit non-zero; the error itself is
        # what the command reports, so spaCy's warning about their exit (W127) is not shown.
        warnings.filterwarnings("ignore", message=r"\[W127\]")
    records = tqdm(
        tagger.tag(lines), unit=" lines", desc="tagging", disable=True if quiet else None, file=sys.stderr
    )
    n = 0
    failure: Optional[Exception] = None
    try:
        with _output_stream(output) as out:
            for n, record in enumerate(_warn_if_untagged(_tagging(records), pipeline), 1):
                out.write(write(record, n))
    except (InputDecodeError, InputReadError) as err:
        _leave(n_process, _fail(str(err), 1).exit_code)
    except BrokenPipeError as err:  # e.g. `layer-fusion tag ... | head`
        sys.stderr.close()
        # A Ctrl-C that also ended the reader surfaces as this error, the interrupt as its context.
        _leave(n_process, 130 if isinstance(err.__context__, KeyboardInterrupt) else 0)
    except KeyboardInterrupt:  # Ctrl-C: the --output temp file is gone already (atomic_output)
        _leave(n_process, 130)
    except SystemExit as stop:  # SIGTERM / SIGHUP (cli.main)
        _leave(n_process, stop.code if isinstance(stop.code, int) else 1)
    except _TaggingFailed as failed:
        failure = failed.__cause__
    except OSError as err:  # the output could not be written (disk full, permissions, ...)
        where = f"--output {output}" if output is not None else "to stdout"
        _leave(n_process, _fail(f"cannot write {where}: {err.strerror or err}", 1).exit_code)
    if isinstance(failure, WorkerDied) and failure.exitcode in {128 + signum for signum in STOP_SIGNALS}:
        # A worker stopped by Ctrl-C, kill or a hang-up (_stop_on_signal), its pipe closed before
        # this process's own handler ran, or the worker's alone: the run was stopped, as it is
        # when the signal reaches this process first.
        _leave(n_process, failure.exitcode)
    if failure is not None:
        # Reported here, not in its handler: raised there, it would get the wrapper as its
        # __context__ while the wrapper keeps it as __cause__, a cycle that Typer's traceback
        # printer (LAYER_FUSION_TRACEBACK=1) follows for ever.
        kept = f"; nothing was written to {output}" if output is not None and not is_stream(output) else ""
        _leave(n_process, _unexpected(failure, f"tagging with {pipeline} failed after {n} line(s){kept}", 1).exit_code)
    if output is not None:
        typer.echo(_err.good(f"Tagged {n} line{'' if n == 1 else 's'} into {output}"), err=True)


class _TaggingFailed(Exception):
    """An error raised while tagging, not while reading input or writing output (its cause)."""


def _tagging(records: Iterator) -> Iterator:
    """``records``, with an error raised while making one wrapped in ``_TaggingFailed``, so
    that it is not taken for an output error (an OSError from the pipeline) or vice versa."""
    from ..input_lines import InputDecodeError, InputReadError

    records = iter(records)
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (InputDecodeError, InputReadError, BrokenPipeError):
            raise
        except Exception as err:  # noqa: BLE001 - reported by tag() as one line
            raise _TaggingFailed() from err
        yield record


def _warn_if_untagged(records: Iterator, pipeline: str, after: int = 1000) -> Iterator:
    """``records``, with one warning when the first ``after`` tokens (or all, if fewer) got no
    UPOS tag: the pipeline has no component that sets ``token.pos_``."""
    seen = 0
    checking = True
    for record in records:
        if checking:
            seen += len(record.tags)
            if any(record.tags):
                checking = False
            elif seen >= after:
                _warn_no_upos(pipeline, f"the first {seen} tokens")
                checking = False
        yield record
    if checking and seen:
        _warn_no_upos(pipeline, f"any of the {seen} tokens")


def _leave(n_process: int, code: int) -> NoReturn:
    """Exit with ``code``. With workers, once they are gone (``_end_workers``), at once:
    spaCy's workers died with the signal too (or were ended after an error: ``pipe_workers``),
    and the interpreter's exit would wait for ever on the queue that still holds their next
    texts (multiprocessing joins its feeder threads at exit; 7 of 10 interrupted runs hung)."""
    if n_process > 1:
        _end_workers()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    raise typer.Exit(code)


def _end_workers(timeout: float = 10.0) -> None:
    """Kill the worker processes still running and wait until they are gone (at most
    ``timeout`` seconds each): the command exits after them, not beside a killed worker that
    has yet to die (seen on a loaded machine, a moment after the command had returned)."""
    for child in kill_workers():
        child.join(timeout)


def _is_stdin(path: Path) -> bool:
    """Whether ``path`` is the regular file open as standard input: ``< x.txt`` with
    ``--output x.txt``, or ``--output /dev/stdin``. (A terminal is not one: typing lines
    with ``--output /dev/stdout`` writes to the terminal they are typed in, and loses nothing.)"""
    import stat

    try:
        given, target = os.fstat(0), os.stat(path)
    except OSError:  # stdin closed, or no such file yet
        return False
    return stat.S_ISREG(given.st_mode) and (given.st_dev, given.st_ino) == (target.st_dev, target.st_ino)


def _stdin():
    """Standard input as bytes, for an input ``-``; a usage error when it is closed."""
    try:
        return typer.get_binary_stream("stdin")
    except RuntimeError:  # click: no stream behind sys.stdin (closed, or None)
        raise _fail("input -: standard input is closed", 2) from None


def _require_gpu(gpu_id: int) -> None:
    import spacy

    try:
        spacy.require_gpu(gpu_id)
    except Exception as err:  # noqa: BLE001 - thinc raises ValueError; cupy may raise others
        raise _fail(f"--gpu-id {gpu_id}: no usable GPU ({err})", 2)


@contextlib.contextmanager
def _output_stream(output: Optional[Path]):
    if output is not None:
        from ..atomic_write import atomic_text_output

        with atomic_text_output(output) as handle:
            yield handle
        return
    try:
        binary = typer.get_binary_stream("stdout")
    except RuntimeError:  # click: no stream behind sys.stdout (closed)
        raise OSError("standard output is closed") from None
    stream = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
    try:
        yield stream
    finally:
        try:
            stream.flush()
        finally:
            stream.detach()

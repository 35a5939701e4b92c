"""The app and what every command shares: one-line errors and pipeline loading."""
from __future__ import annotations

import signal
import sys

import typer
from wasabi.util import color, locale_escape

from ..error_text import escape_line_breaks
from ..line_printer import LinePrinter

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tag, evaluate and inspect layer-fusion UPOS pipelines.",
    # An uncaught error (LAYER_FUSION_TRACEBACK=1, or a bug) gets Python's own traceback: plain
    # text to paste into a report, and printed even when the exception chain has a cycle (Rich's
    # renderer, Typer's default, follows one for ever).
    pretty_exceptions_enable=False,
)
encoder_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The offline encoder.")
app.add_typer(encoder_app, name="encoder")

cache_app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="Hidden-state caches for fast frozen-encoder sweeps (layer_fusion.research).",
)
app.add_typer(cache_app, name="cache")

# The signals that stop a command: raised so that it can clean up (cli.main), and a worker of
# --n-process that gets one exits with 128 + it (cli._stop_on_signal).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

msg = LinePrinter()
if sys.stdout is None or not sys.stdout.isatty():  # piped, redirected or closed: no colour codes (as click does)
    msg.show_color = False
# `tag` writes its records to stdout, so its messages go to stderr.
_err = LinePrinter(no_print=True)


def kill_workers() -> list:
    """Kill the worker processes of ``--n-process`` still running (SIGKILL, no wait); returns them."""
    import multiprocessing

    children = multiprocessing.active_children()
    for child in children:
        child.kill()
    return children


def _fail(text: str, code: int) -> typer.Exit:
    """Print a one-line error on stderr (wasabi's icon and colour, never wrapped); return the exit."""
    line = locale_escape(f"{msg.icons['fail']} {escape_line_breaks(text)}")
    typer.echo(color(line, fg="red"), err=True)  # click drops the colour off a terminal
    return typer.Exit(code)


TRACEBACK_ENV = "LAYER_FUSION_TRACEBACK"


def _unexpected(err: Exception, text: str, code: int) -> typer.Exit:
    """An error no check foresaw (a pipeline that fails on text, a bug), as one line:
    ``text``, the error's type and message, and how to see where it came from. With
    ``LAYER_FUSION_TRACEBACK=1`` the error itself is raised, traceback and all."""
    import os

    from ..error_text import one_line

    if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
        raise err
    return _fail(f"{text}: {type(err).__name__}: {one_line(err)} ({TRACEBACK_ENV}=1 shows where)", code)


def _warn(text: str) -> None:
    """Print a one-line warning on stderr (wasabi's icon and colour, never wrapped)."""
    typer.echo(color(locale_escape(f"{msg.icons['warn']} {escape_line_breaks(text)}"), fg="yellow"), err=True)


def _warn_no_upos(pipeline: str, where: str) -> None:
    """The warning for a pipeline that tagged nothing: ``where`` says on what."""
    _warn(f"{pipeline} set no UPOS tag on {where}: it has no component that writes token.pos_ (such as a morphologizer)")


def _check_lang(lang: str) -> None:
    """``--lang``: a known language whose segmenter is installed, checked before the pipeline
    loads (``_use_segmenter`` then gives it to the pipeline)."""
    from ..segmenters import require_segmenter

    try:
        require_segmenter(lang)
    except (ValueError, ImportError) as err:
        raise _fail(f"--lang {lang}: {err}", 2)


def _use_segmenter(nlp, lang: str) -> None:
    """Give the pipeline's tokenizer ``lang``'s word segmenter (``--lang``)."""
    from ..segmenters import segmenting_tokenizer

    if lang == "zh":
        _quiet_jieba()
    try:
        nlp.tokenizer = segmenting_tokenizer(nlp.tokenizer, lang)
    except (ValueError, ImportError) as err:
        raise _fail(f"--lang {lang}: {err}", 2)


def _quiet_jieba() -> None:
    """jieba logs the building of its dictionary (4 lines) on stderr every run. It sets its
    logger's level when imported, so it is imported first; a missing jieba is reported by
    ``make_segmenter``."""
    import logging

    try:
        import jieba
    except ImportError:
        return
    jieba.setLogLevel(logging.WARNING)


def _quantize(nlp, gpu_id: int = -1, setting: str = "--int8", instead: str = "--fp32 runs it unquantized") -> None:
    """``--int8``: the encoder's matrix products in int8 (layer_fusion.quantization's default scheme).
    ``setting`` names the choice in errors (the option, or the default that chose it);
    ``instead`` says how to run without it (the command's own option)."""
    from ..quantization import quantize_encoder

    if gpu_id >= 0:
        raise _fail("--int8 runs on the CPU: leave out --gpu-id", 2)
    try:
        quantize_encoder(nlp)
    except (ValueError, ImportError) as err:  # ImportError: onnxruntime is missing
        raise _fail(f"{setting}: {err}", 2)
    except Exception as err:  # noqa: BLE001 - the export or quantizer fails on this encoder's weights
        raise _unexpected(err, f"{setting}: the encoder could not be quantized ({instead})", 1)


def _load(pipeline: str):
    from ..loading import PipelineLoadError, load_pipeline

    try:
        return load_pipeline(pipeline)
    except PipelineLoadError as err:
        raise _fail(str(err), 2)

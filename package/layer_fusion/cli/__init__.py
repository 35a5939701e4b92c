"""The ``layer-fusion`` command line: thin wrappers around the library.

    layer-fusion tag PIPELINE [INPUT ...] [--output FILE] [--format conllu|jsonl|text]
    layer-fusion tag-dataset PIPELINE INPUT_GLOB OUTPUT_DIR [--address auto] [--workers N]
    layer-fusion evaluate PIPELINE CONLLU ... [--output metrics.json]
    layer-fusion inspect PIPELINE [--plot FILE.png]
    layer-fusion encoder build [OUTPUT] [--force]
    layer-fusion cache build ENCODER CONLLU OUTPUT
    layer-fusion cache train TRAIN_CACHE DEV_CACHE OUTPUT --fusion AIF --layer 6 --layer -1

One module per command group; the work lives in ``tagging.py``, ``evaluation.py`` (shared
with ``scripts/evaluate_zero_shot.py``), ``inspection.py``, ``encoder/`` and ``research/``.
"""
import os

# Every model these commands run is a torch one. Left on "AUTO", transformers imports TensorFlow
# whenever it is installed (its image utilities do, on the way to BertModel): seconds of start-up
# and hundreds of MB for nothing. Set before any submodule imports transformers; a USE_TORCH
# already in the environment wins.
os.environ.setdefault("USE_TORCH", "1")

import signal  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import typer  # noqa: E402

from . import cache, dataset, encoder, evaluate, inspect, tag  # noqa: E402,F401  (register the commands)
from .common import _fail, _warn, app  # noqa: E402

__all__ = ["app", "main"]

# click's exceptions: click's own module, or the copy newer Typer releases carry inside
# them (typer._click); BadParameter is public in both.
_click_errors = sys.modules[typer.BadParameter.__module__]


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line, as the commands' errors are: its message, not the source
    line that raised it."""
    _warn(str(message), to_stderr=True)


def _usage_error(err) -> int:
    """A command line click refused (unknown option, missing argument, bad value) as one
    line on stderr, like the commands' own errors, instead of Typer's framed box; returns
    the exit code (2 for usage errors). A command run without its arguments prints its help."""
    no_args_is_help = getattr(_click_errors, "NoArgsIsHelpError", ())
    if no_args_is_help and isinstance(err, no_args_is_help):
        help_text = err.format_message()  # Typer's rich help prints itself and returns ""
        if help_text.strip():
            typer.echo(help_text, err=True)
        return err.exit_code
    ctx = getattr(err, "ctx", None)
    where = ctx.command_path if ctx is not None else "layer-fusion"
    text = " ".join(err.format_message().split())  # one line, whatever click wrapped
    hint = f" (see '{where} --help')" if isinstance(err, _click_errors.UsageError) else ""
    _fail(f"{where}: {text}{hint}", err.exit_code, to_stderr=True)
    return err.exit_code


def main() -> None:
    """The console script: ``app`` with three process-wide settings.

    - SIGTERM and SIGHUP (``kill``, a closed terminal) are raised as ``SystemExit``, as
      Ctrl-C raises ``KeyboardInterrupt``. Python's default ends the process on the spot,
      before ``atomic_output`` can delete the temp file of a half-written ``--output``.
      A signal the caller set to be ignored (``nohup``) stays ignored.
    - Warnings are one line each (``_show_warning``).
    - Usage errors are one line each (``_usage_error``).

    Set here, not in ``app``, so that tests calling ``app`` in-process leave the test
    runner's own handlers alone."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:  # an ignored one (nohup) stays ignored
            signal.signal(signum, _exit_on_signal)
    warnings.showwarning = _show_warning
    try:
        # Not standalone: click's errors reach _usage_error instead of Typer's printer; an
        # exit (typer.Exit, --help) comes back as its code, a finished command as None.
        code = app(prog_name="layer-fusion", standalone_mode=False)
    except _click_errors.ClickException as err:
        sys.exit(_usage_error(err))
    except _click_errors.Abort:  # EOF at a prompt
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

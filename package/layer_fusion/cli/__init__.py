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
from .common import STOP_SIGNALS, _fail, _warn, app, kill_workers  # noqa: E402

__all__ = ["app", "main"]

# click's exceptions: click's own module, or the copy newer Typer releases carry inside
# them (typer._click); BadParameter is public in both.
_click_errors = sys.modules[typer.BadParameter.__module__]


# The process that installed the handlers; spaCy's `nlp.pipe(n_process=...)` workers are forked
# from it and inherit them.
_MAIN_PID = os.getpid()


def _stop_on_signal(signum, frame):
    """Ctrl-C, ``kill`` or a closed terminal: raised as KeyboardInterrupt (SIGINT) or
    SystemExit(128 + signal), so that the command can remove a half-written ``--output``.

    A worker that ``nlp.pipe`` forked leaves at once and silently: the command reports the
    stop. The command ends its workers before raising: spaCy joins them when its stream is
    closed, and a worker blocked on sending to the parent's full pipe would wait for ever
    (its siblings, forked with every pipe open, hold the read end too). Their non-zero exit
    is then expected, so spaCy's warning about it (W127) is not shown."""
    if os.getpid() != _MAIN_PID:
        os._exit(128 + signum)
    if kill_workers():
        warnings.filterwarnings("ignore", message=r"\[W127\]")
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line, as the commands' errors are: its message, not the source
    line that raised it."""
    _warn(str(message))


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
    where = ctx.command_path if ctx is not None else _command_path(sys.argv[1:])
    text = " ".join(err.format_message().split())  # one line, whatever click wrapped
    hint = f" (see '{where} --help')" if isinstance(err, _click_errors.UsageError) else ""
    _fail(f"{where}: {text}{hint}", err.exit_code)
    return err.exit_code


def _command_path(args) -> str:
    """``layer-fusion`` and the subcommands that ``args`` name, for an error click raised
    without its context (an option missing its value: ``tag P x.txt --format``)."""
    command, path = typer.main.get_command(app), ["layer-fusion"]
    for arg in args:
        commands = getattr(command, "commands", None)
        if not commands or arg not in commands:
            break
        command = commands[arg]
        path.append(arg)
    return " ".join(path)


def main() -> None:
    """The console script: ``app`` with three process-wide settings.

    - SIGTERM and SIGHUP (``kill``, a closed terminal) are raised as ``SystemExit``, as
      Ctrl-C raises ``KeyboardInterrupt``, and all three end the worker processes of
      ``--n-process`` first (``_stop_on_signal``). Python's default ends the process on the
      spot, before ``atomic_output`` can delete the temp file of a half-written ``--output``.
      A signal the caller set to be ignored (``nohup``) stays ignored.
    - Warnings are one line each (``_show_warning``).
    - Usage errors are one line each (``_usage_error``).

    Set here, not in ``app``, so that tests calling ``app`` in-process leave the test
    runner's own handlers alone."""
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    for signum in STOP_SIGNALS:
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if signal.getsignal(signum) is default:  # an ignored one (nohup) stays ignored
            signal.signal(signum, _stop_on_signal)
    warnings.showwarning = _show_warning
    try:
        # Not standalone: click's errors reach _usage_error instead of Typer's printer; an
        # exit (typer.Exit, --help) comes back as its code, a finished command as None.
        code = app(prog_name="layer-fusion", standalone_mode=False)
    except _click_errors.ClickException as err:
        sys.exit(_usage_error(err))
    except typer.Abort:  # EOF at a prompt (not in _click_errors: Typer 0.29's copy of click lacks it)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

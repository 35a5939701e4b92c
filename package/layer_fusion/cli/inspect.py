"""`layer-fusion inspect`: a pipeline's encoder, selected layers and learned fusion weights."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer
from wasabi import Printer

from .common import _fail, _load, _unexpected, app, msg


@app.command()
def inspect(
    pipeline: str = typer.Argument(..., help="Installed pipeline package name or pipeline folder"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the weights as a bar chart (PNG)"),
):
    """Show the encoder, selected layers, fusion and its learned per-layer weights."""
    from ..inspection import SAMPLE_SENTENCES, NoEnabledTransformer, inspect_pipeline, plot_weights, table_rows

    if plot is not None:
        from ..atomic_write import unwritable_reason

        if importlib.util.find_spec("matplotlib") is None:
            raise _fail("--plot needs matplotlib, which the library does not install: "
                        "pip install \"spacy-layer-fusion[plot]\"", 2)
        if plot.suffix.lower() != ".png":  # matplotlib picks the format from the suffix
            raise _fail(f"--plot {plot}: give a file name ending in .png", 2)
        if unwritable_reason(plot):
            raise _fail(f"cannot write --plot {plot}: {unwritable_reason(plot)}", 2)
    nlp = _load(pipeline)
    try:
        result = inspect_pipeline(nlp)  # tags sample sentences: the pipeline's own code runs
    except NoEnabledTransformer as err:
        raise _fail(f"{pipeline}: {err}", 1)
    except Exception as err:  # noqa: BLE001 - one line, as tag and evaluate give
        raise _unexpected(err, f"{pipeline} failed on the sample sentences", 1)
    if result.encoders:
        msg.table(
            [(e.component, e.name, e.hidden_size or "?", e.n_hidden_states or "?") for e in result.encoders],
            header=("component", "encoder (as trained from)", "hidden size", "hidden states"), divider=True,
            max_col=200,  # wasabi's default (30) misaligns the columns after a long path
        )
    if not result.fusions:
        raise _fail(f"{pipeline}: no component of it fuses transformer layers (no layer-fusion listener, such as "
                    "layer_fusion.FusionListener.v1 in a tagger's tok2vec; inspect shows those)", 1)
    langs = ", ".join(lang for lang, _ in SAMPLE_SENTENCES)
    for info in result.fusions:
        _divider(f"{info.component}: {info.fusion}")
        msg.text(f"Selected layers: {info.layers}"
                 + (f" (resolved: {info.resolved})" if info.resolved not in (None, info.layers) else ""))
        sampled = f" ({info.n_tokens} tokens of sample sentences in {langs})" if info.n_tokens else ""
        msg.text(f"Weights: {info.measure}{sampled}")
        msg.table(table_rows(info), header=("layer", "weight"), divider=True, aligns=("l", "r"))
    if plot is not None:
        try:
            plot_weights(result, plot)
        except OSError as err:  # disk full, ...: plot_weights left nothing behind
            raise _fail(f"cannot write --plot {plot}: {err.strerror or err}", 1)
        msg.good(f"Wrote {plot}")


def _divider(text: str) -> None:
    """wasabi's divider, whose bold ignores ``show_color``: without colour, its codes are taken out."""
    import re

    line = Printer(no_print=True, line_max=msg.line_max).divider(text)
    typer.echo(line if msg.show_color else re.sub(r"\x1b\[[0-9;]*m", "", line))

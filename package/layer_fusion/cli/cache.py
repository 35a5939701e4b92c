"""`layer-fusion cache build|train`: hidden-state caches and heads trained on them
(research tooling, imported only when these commands run)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import _fail, cache_app, msg

# The project's frozen-encoder training config, relative to the project folder.
DEFAULT_HEAD_CONFIG = Path("configs/aif.cfg")


@cache_app.command("build")
def cache_build(
    encoder: Path = typer.Argument(..., help="Hugging Face model folder (the frozen encoder)"),
    conllu: Path = typer.Argument(..., help="CoNLL-U file to cache (gold words and UPOS)"),
    output: Path = typer.Argument(..., help="Cache folder to write"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
):
    """Cache every token's pooled hidden states (all layers, fp16) for one CoNLL-U file."""
    from ..atomic_write import replaceable_folder_reason
    from ..conllu import ConlluError, read_conllu
    from ..error_text import one_line
    from ..research.hidden_cache import (build_cache, cache_change, cache_inputs, is_complete, load_cache,
                                         transformer_pipe)

    _require_encoder_folder(encoder, "ENCODER")
    problem = replaceable_folder_reason(output)
    if problem:
        raise _fail(f"cannot write the cache to {output}: {problem}", 2)
    if output.is_dir() and any(output.iterdir()) and not is_complete(output):
        # The cache replaces OUTPUT whole: only an empty folder or a finished cache may be there.
        raise _fail(f"OUTPUT {output} holds other things than a hidden-state cache: choose a new or "
                    "empty folder", 2)
    try:
        sentences = list(read_conllu(conllu))
    except (ConlluError, OSError) as err:
        raise _fail(str(err), 1)
    if not sentences:
        raise _fail(f"{conllu}: no sentences with words to cache", 1)
    inputs = cache_inputs(encoder, conllu)  # the encoder's weights and the file, by content
    cache = None
    if is_complete(output):  # a finished cache is reused, but only if it is this one
        try:
            cache = load_cache(output)
        except (ValueError, OSError) as err:  # damaged: built again (the write replaces it whole)
            msg.warn(f"{output}: not a readable hidden-state cache ({one_line(err)}); building it again")
    if cache is not None:
        change = cache_change(output, inputs)
        if change is not None:
            raise _fail(f"{output} already holds a cache of {cache.meta.get('source')} on "
                        f"{cache.meta.get('encoder')} made from {change}: remove it or choose another folder", 2)
        msg.info(f"{output}: complete already, reused")
    else:  # the encoder's absolute path goes into meta.json: `cache train` loads it from anywhere
        try:
            pipe = transformer_pipe(encoder.resolve())
        except (OSError, ValueError) as err:  # no weights, a broken config.json, no tokenizer
            raise _fail(f"ENCODER {encoder}: cannot be loaded ({one_line(err)})", 2)
        try:
            cache = build_cache(pipe, sentences, output, batch_size=batch_size,
                                source=str(conllu), made_from=inputs)
        except OSError as err:  # a full disk, ...: build_cache left no partial cache behind
            raise _fail(f"cannot write the cache to {output}: {err.strerror or err}", 1)
    msg.good(f"{output}: {cache.n_sentences} sentences, {len(cache.labels)} tokens, "
             f"{cache.n_hidden_states} hidden states x {cache.width}")


def _require_encoder_folder(encoder: Path, setting: str) -> None:
    # A name that is not a folder would send transformers to the model hub (retrying for a
    # minute offline); caches are built from a local encoder folder.
    if not encoder.is_dir():
        raise _fail(f"{setting} {encoder}: no such folder (a Hugging Face model folder, e.g. from "
                    "`layer-fusion encoder build`)", 2)
    if not (encoder / "config.json").is_file():
        raise _fail(f"{setting} {encoder}: no config.json, so not a Hugging Face model folder (e.g. from "
                    "`layer-fusion encoder build`; a spaCy pipeline folder is not one)", 2)


def _made_from(cache) -> dict:
    """What a cache's meta.json records it was made from ({}: nothing, a cache of an older version)."""
    made_from = cache.meta.get("made_from")
    return made_from if isinstance(made_from, dict) else {}


def _made_from_but_source(cache) -> Optional[dict]:
    """What a cache records it was made from, but its CoNLL-U file (None: not recorded)."""
    made_from = _made_from(cache)
    return {k: v for k, v in made_from.items() if k != "source_sha256"} if made_from else None


# The factories of a transformer component whose hidden states a fusion listener reads.
TRANSFORMER_FACTORIES = ("fusion_transformer", "transformer")


def _require_the_caches_spans(config, config_path: Path, cache, cache_path: Path) -> None:
    """The head learns from hidden states computed in the cache's windows; the pipeline runs
    the encoder in its config's. Other windows give it other features (context cut elsewhere)."""
    from ..research.hidden_cache import spans_record

    recorded = _made_from(cache).get("spans")
    if recorded is None:  # a cache of an older version, which recorded nothing
        return
    # In the pipeline's order: a listener (upstream "*") reads the first transformer there.
    transformers = [name for name in config["nlp"]["pipeline"]
                    if config["components"].get(name, {}).get("factory") in TRANSFORMER_FACTORIES]
    if not transformers:
        raise _fail(f"--config {config_path}: no transformer component (factory "
                    f"{' or '.join(TRANSFORMER_FACTORIES)}) for the head's features", 2)
    spans = config["components"][transformers[0]].get("model", {}).get("get_spans", {})
    # Window and stride: the span getters of the project cut a one-sentence doc (what a cache
    # holds) alike, so the getter's name is not compared.
    if spans_record(spans.get("window"), spans.get("stride")) != recorded:
        given = ", ".join(f"{key} = {value}" for key, value in spans.items()) or "none"
        raise _fail(f"--config {config_path}: the window and stride of its {transformers[0]}'s get_spans "
                    f"({given}) are not those {cache_path} was computed in ({recorded}): the head would run "
                    "on other features than it learns from", 2)


def _cache(path: Path):
    """The cache at ``path``, or a one-line error saying why it cannot be read."""
    from ..research.hidden_cache import load_cache

    try:
        return load_cache(path)
    except FileNotFoundError as err:
        raise _fail(f"{err}: build it with `layer-fusion cache build`", 2)
    except (ValueError, OSError) as err:  # a truncated .npy, a broken meta.json
        raise _fail(f"{path}: not a readable hidden-state cache ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}); build it again", 2)


@cache_app.command("train")
def cache_train(
    train_cache: Path = typer.Argument(..., help="Cache of the training set"),
    dev_cache: Path = typer.Argument(..., help="Cache of the dev set (chooses the epoch)"),
    output: Path = typer.Argument(..., help="spaCy pipeline folder to write"),
    fusion: str = typer.Option("AIF", help="LastLayer, DLFA, AIF, ScalarMix or LayerAttention"),
    layer: List[int] = typer.Option([6, -1], "--layer", help="Hidden state to fuse (repeat)"),
    epochs: int = typer.Option(60, min=1, help="The most epochs to train"),
    patience: int = typer.Option(5, min=1, help="Stop after this many epochs without a better dev accuracy"),
    learn_rate: float = typer.Option(1e-3, help="The head's learning rate"),
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Seed of the head's initialisation and batches"),
    encoder: Optional[Path] = typer.Option(None, help="Encoder folder (default: the caches' own)"),
    config: Path = typer.Option(DEFAULT_HEAD_CONFIG, help="Training config the pipeline is built from"),
):
    """Train a fusion head on caches and save it as a spaCy pipeline on the frozen encoder."""
    import math

    import spacy
    from thinc.api import ConfigValidationError

    from ..atomic_write import atomic_folder, replaceable_folder_reason
    from ..error_text import one_line
    from ..fusion import MODULES, SETTINGS, check_layer_count
    from ..research.cached_training import train_head
    from ..research.fusion_head import HeadSettings
    from ..research.head_export import export_head, pipeline_config

    if fusion not in MODULES:
        raise _fail(f"--fusion {fusion!r} is not one of {', '.join(MODULES)}", 2)
    if not (math.isfinite(learn_rate) and learn_rate > 0):
        raise _fail(f"--learn-rate {learn_rate}: must be a number > 0", 2)
    try:
        check_layer_count(fusion, len(layer), setting="--layer")
    except ValueError as err:
        raise _fail(f"--fusion {fusion}: {err}", 2)
    # Read before training, not after: the head trains for minutes before the config is used.
    try:
        spacy.util.load_config(config)
    except (OSError, ValueError, ConfigValidationError) as err:
        hint = " (the default is the project's; run from the project folder or pass --config)" \
            if config == DEFAULT_HEAD_CONFIG else ""
        raise _fail(f"--config {config}: {one_line(err)}{hint}", 2)
    problem = replaceable_folder_reason(output)
    if problem:
        raise _fail(f"cannot write OUTPUT {output}: {problem}", 2)
    if output.is_dir() and any(output.iterdir()) and not (output / "config.cfg").is_file():
        # The pipeline replaces OUTPUT whole: only an empty folder or an older pipeline may go.
        raise _fail(f"OUTPUT {output} is a folder that holds other things than a spaCy pipeline: "
                    "choose a new or empty folder", 2)
    train, dev = _cache(train_cache), _cache(dev_cache)
    # The pipeline is built on the encoder after training: check it first, not minutes later.
    encoder_given = encoder is not None
    if encoder is not None:
        _require_encoder_folder(encoder, "--encoder")
    else:
        encoder = Path(train.meta["encoder"])
        _require_encoder_folder(encoder, f"the encoder of {train_cache} (its meta.json; --encoder to give another)")
    for path, cache in ((train_cache, train), (dev_cache, dev)):
        if cache.n_sentences == 0:
            raise _fail(f"{path}: the cache holds no sentences", 2)
    if (dev.n_hidden_states, dev.width) != (train.n_hidden_states, train.width):
        raise _fail(f"{dev_cache} ({dev.n_hidden_states} hidden states x {dev.width}) is not from the encoder "
                    f"of {train_cache} ({train.n_hidden_states} x {train.width})", 2)
    # Same shapes need not mean the same encoder or spans: compare what the caches record.
    train_from, dev_from = (_made_from_but_source(c) for c in (train, dev))
    if train_from is not None and dev_from is not None and train_from != dev_from:
        differ = ", ".join(sorted(k for k in set(train_from) | set(dev_from) if train_from.get(k) != dev_from.get(k)))
        raise _fail(f"{dev_cache} and {train_cache} were made from different inputs ({differ}): build both "
                    "with the same encoder", 2)
    recorded = _made_from(train).get("encoder_files_sha256")
    if recorded is not None:
        from ..research.run_records import folder_sha256

        if folder_sha256(encoder) != recorded:
            # The head would run on other features than it was trained on (or not at all).
            raise _fail(f"{'--encoder ' if encoder_given else 'the encoder '}{encoder} is not the encoder "
                        f"{train_cache} was made from (its files differ from those its meta.json records)", 2)
    n = train.n_hidden_states
    for index in layer:
        if not -n <= index < n:
            raise _fail(f"--layer {index}: the caches hold {n} hidden states (0..{n - 1}, or -{n}..-1)", 2)
    if len({index % n for index in layer}) < len(layer):  # [6, 6], or [12, -1] of 13
        raise _fail(f"--layer {' --layer '.join(map(str, layer))}: names a hidden state twice (the caches hold "
                    f"{n}: 0..{n - 1}, or -{n}..-1); a fusion needs different hidden states", 2)
    kwargs = dict(SETTINGS.get(fusion, {}))
    settings = HeadSettings(fusion, list(layer), kwargs, seed=seed, epochs=epochs, patience=patience,
                            learn_rate=learn_rate)
    # The pipeline the head goes into, built once before training: a config without the
    # morphologizer's fusion listener, or settings the encoder cannot take, fail here.
    try:
        built = pipeline_config(config, settings, encoder, train.width)
        spacy.util.load_model_from_config(built, auto_fill=True, validate=True)
    except (KeyError, TypeError, ValueError, ConfigValidationError) as err:
        missing = f"no {err} section or setting" if isinstance(err, KeyError) else one_line(err)
        raise _fail(f"--config {config}: cannot build the pipeline the head goes into ({missing})", 2)
    _require_the_caches_spans(built, config, train, train_cache)
    head, history = train_head(settings, train, dev, log=msg.text)
    nlp = export_head(head, settings, encoder, config)
    with atomic_folder(output) as tmp:  # a pipeline folder appears complete or not at all
        nlp.to_disk(tmp)
    msg.good(f"Saved {output}: English dev {100 * history['best_dev_accuracy']:.2f} "
             f"(best epoch {history['best_epoch']} of {history['epochs_run']} run, at most {epochs})")

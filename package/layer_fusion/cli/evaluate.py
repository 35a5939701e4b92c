"""`layer-fusion evaluate`: UPOS accuracy of a pipeline on CoNLL-U files, with CIs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..evaluation import EVAL_BATCH_SIZE
from .common import _check_lang, _fail, _load, _quantize, _unexpected, _use_segmenter, _warn, _warn_no_upos, app, msg


@app.command()
def evaluate(
    pipeline: str = typer.Argument(..., help="Installed pipeline package name or pipeline folder"),
    conllu: List[Path] = typer.Argument(..., help="CoNLL-U files with gold UPOS", exists=True, dir_okay=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write metrics JSON here"),
    batch_size: int = typer.Option(EVAL_BATCH_SIZE, "--batch-size", min=1),
    # At least 10: with one or two resamples the "95% interval" need not hold the estimate.
    n_resamples: int = typer.Option(1000, "--n-resamples", min=10,
                                    help="Bootstrap resamples of the sentences for the 95% intervals"),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap's resampling"),
    max_sentences: Optional[int] = typer.Option(None, "--max-sentences", min=1, help="Cap per file"),
    raw_text: bool = typer.Option(
        False, "--raw-text",
        help="Also tag each sentence's raw text (# text) and report token F1 and UPOS F1 on "
             "span-aligned tokens (CoNLL 2018)",
    ),
    lang: Optional[str] = typer.Option(
        None, "--lang", help="With --raw-text: segment words with this language's segmenter (th, vi, zh, ja), or split the Maltese article (mt) or English contractions (en)"
    ),
    paragraphs: Optional[int] = typer.Option(
        None, "--paragraphs", min=1,
        help="With --raw-text: also tag the raw text a paragraph at a time (# newpar, # newdoc; at most this "
             "many sentences per text) and score each sentence on its own tokens",
    ),
    int8: bool = typer.Option(False, "--int8", help="Run the encoder's linear layers in int8 (CPU)"),
):
    """UPOS accuracy on gold words with 95% sentence-bootstrap CIs, per file and in total.

    With --raw-text, also the end-to-end scores on raw text (layer_fusion.raw_text); with
    --paragraphs N, also on raw text tagged up to N sentences at a time (layer_fusion.raw_documents)."""
    import numpy
    from tqdm import tqdm

    from ..atomic_write import atomic_text_output, unwritable_reason
    from ..conllu import ConlluError
    from ..evaluation import NoSentencesError, TreebankResult, evaluate_sentences, read_sentences
    from ..raw_documents import evaluate_raw_documents
    from ..raw_text import evaluate_raw_text
    from ..report_table import ci, pct

    if lang is not None and not raw_text:
        raise _fail("--lang only changes how raw text is tokenized: add --raw-text", 2)
    if lang is not None:
        _check_lang(lang)
    if paragraphs is not None and not raw_text:
        raise _fail("--paragraphs tags raw text a paragraph at a time: add --raw-text", 2)
    if output is not None and str(output) == "-":  # tag's '-' is stdout; here stdout holds the tables
        raise _fail("--output -: the tables go to stdout; give the metrics JSON a file name", 2)
    if output is not None and unwritable_reason(output):
        raise _fail(f"cannot write --output {output}: {unwritable_reason(output)}", 2)
    seen = {}
    for path in conllu:
        # Results are keyed by file: a second copy would hide in the first. The file's identity
        # (device, inode) catches symlinks and hard links alike.
        try:
            stat = path.stat()
        except OSError as err:  # gone or unreadable since the command line was checked
            raise _fail(f"cannot read {path}: {err.strerror or err}", 2)
        first = seen.setdefault((stat.st_dev, stat.st_ino), path)
        if first is not path:
            raise _fail(f"{path} is given twice" + ("" if first == path else f" (as {first})"), 2)
        if output is not None and output.exists() and output.samefile(path):
            raise _fail(f"--output {output} is the CoNLL-U input {path}: the metrics would overwrite it", 2)
    # Every file is read and checked before the pipeline loads: a bad file fails at once.
    inputs = []
    for path in conllu:
        try:
            inputs.append((path, read_sentences(path, max_sentences)))
        except (ConlluError, NoSentencesError) as err:
            raise _fail(str(err), 1)
        except OSError as err:
            raise _fail(f"cannot read {path}: {err.strerror or err}", 1)
    nlp = _load(pipeline)
    if lang is not None:
        _use_segmenter(nlp, lang)
    if int8:
        _quantize(nlp, instead="without --int8 it runs unquantized")
    results, raw, raw_paragraphs = [], [], []
    # One step per sentence tagged: gold words, then raw text with --raw-text, then paragraphs.
    passes = 1 + raw_text + (paragraphs is not None)
    bar = tqdm(total=passes * sum(len(sentences) for _, sentences in inputs), desc="sentences", unit=" sent",
               disable=None)
    for path, sentences in inputs:
        try:
            results.append(evaluate_sentences(
                nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed, name=str(path),
                progress=bar.update,
            ))
            if raw_text:
                raw.append(evaluate_raw_text(
                    nlp, sentences, batch_size=batch_size, n_resamples=n_resamples, seed=seed, name=str(path),
                    progress=bar.update,
                ).to_dict())
            if paragraphs is not None:
                raw_paragraphs.append(evaluate_raw_documents(
                    nlp, sentences, max_sentences=paragraphs, batch_size=batch_size, n_resamples=n_resamples,
                    seed=seed, name=str(path), progress=bar.update,
                ).to_dict())
        except Exception as err:  # noqa: BLE001 - e.g. a pipeline that loads but fails on text
            bar.close()
            raise _unexpected(err, f"evaluating {pipeline} on {path} failed", 1)
    bar.close()
    for r in results:
        if r.words_untagged == r.words:
            _warn_no_upos(pipeline, f"any of the {r.words} words of {r.name}")
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
    # max_col: wasabi cuts columns at 30 characters by default, which misaligns long paths.
    msg.table(rows, header=("file", "sentences", "words", "UPOS acc.", "95% CI"), divider=True,
              aligns=("l", "r", "r", "r", "l"), max_col=10_000)
    if raw_text:
        msg.table(
            [(r.name, pct(d["token_f1"]), ci(d["token_f1_ci95"]), pct(d["upos_f1"]), ci(d["upos_f1_ci95"]))
             for r, d in zip(results, raw)],
            header=("raw text", "token F1", "95% CI", "UPOS F1", "95% CI"), divider=True,
            aligns=("l", "r", "l", "r", "l"), max_col=10_000,
        )
        for r, d in zip(results, raw):
            if d["rebuilt_texts"]:
                _warn(f"{r.name}: {d['rebuilt_texts']} of {r.sentences} sentences have no '# text' line, or one "
                      "that does not hold their tokens: their raw text was rebuilt from the tokens and SpaceAfter, "
                      "which makes tokenizing them easier than real text")
    if paragraphs is not None:
        msg.table(
            [(r.name, pct(d["upos_f1"]), ci(d["upos_f1_ci95"]), pct(p["upos_f1"]), ci(p["upos_f1_ci95"]))
             for r, d, p in zip(results, raw, raw_paragraphs)],
            header=(f"raw text, up to {paragraphs} sentences a text", "UPOS F1 sentences", "95% CI",
                    "UPOS F1 paragraphs", "95% CI"), divider=True,
            aligns=("l", "r", "l", "r", "l"), max_col=10_000,
        )
    if output is not None:
        metrics = {
            "files": {r.name: r.to_dict() for r in results},
            **({"raw_text": {r.name: d for r, d in zip(results, raw)}} if raw_text else {}),
            **({"raw_paragraphs": {r.name: d for r, d in zip(results, raw_paragraphs)}} if paragraphs else {}),
            "total": total.to_dict(),
            "model": {"pipeline": pipeline, "components": list(nlp.pipe_names),
                      "encoder_dtype": nlp.meta.get("layer_fusion", {}).get("encoder_dtype", "fp32"),
                      # int8: the scheme, and the CPU's instructions its tags depend on
                      **{key: nlp.meta["layer_fusion"][key] for key in ("int8_scheme", "int8_cpu")
                         if key in nlp.meta.get("layer_fusion", {})}},
            "settings": {
                "batch_size": batch_size, "n_resamples": n_resamples, "seed": seed,
                "max_sentences": max_sentences, "raw_text": raw_text, "lang": lang,
                "paragraphs": paragraphs,
                "metric": "UPOS accuracy on gold syntactic words (token.pos_ vs column 4)",
                "total": "words of all files pooled; CI: sentences of all files resampled together",
            },
        }
        try:
            with atomic_text_output(output) as handle:
                handle.write(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n")
        except OSError as err:  # disk full, permissions, ...: atomic_text_output left nothing behind
            raise _fail(f"cannot write --output {output}: {err.strerror or err}", 1)
        msg.good(f"Wrote {output}")

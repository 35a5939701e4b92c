"""Zero-shot UPOS accuracy of a trained pipeline on every evaluation set in the targets config.

Scores token.pos_ on gold syntactic words, with 95% sentence-bootstrap CIs; adds the
macro-average over the low-resource group, the GUM per-genre breakdown and the domain pairs.
Writes OUTPUT_JSON (see layer_fusion.evaluation.evaluate_targets for its keys) and, with
--table, a markdown table rendered from that JSON by layer_fusion.report_table.render_markdown.

    python scripts/evaluate_zero_shot.py training/finetuned/model-last ../shared/ud metrics/finetuned/zero_shot.json \
        --table metrics/finetuned/zero_shot.md [--batch-size 32] [--n-resamples 1000] [--max-sentences N] \
        [--raw-text]
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import spacy
import typer
from wasabi import msg

from layer_fusion.atomic_write import unwritable_reason, write_text_atomic
from layer_fusion.conllu import ConlluError
from layer_fusion.error_text import escape_line_breaks
from layer_fusion.evaluation import (EVAL_BATCH_SIZE, NoSentencesError, check_test_file_contents, check_test_files,
                                     evaluate_targets)
from layer_fusion.targets import TargetsError, load_targets
from layer_fusion.provenance import provenance
from layer_fusion.quantization import DEFAULT_SCHEME
from layer_fusion.report_table import pct, ci, render_markdown

DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "configs" / "targets.cfg"
app = typer.Typer(add_completion=False)


def fail(text: str) -> None:
    """Exit 1 with ``text`` as one line on stderr (wasabi's ``msg.fail`` prints on stdout and
    wraps a long message, a file path included, at 80 columns)."""
    typer.echo(f"{msg.icons['fail']} {escape_line_breaks(text)}", err=True)
    raise typer.Exit(1)


def run(
    nlp,
    model: str,
    ud_dir: Path,
    output_json: Path,
    table: Optional[Path] = None,
    targets: Path = DEFAULT_TARGETS,
    batch_size: int = EVAL_BATCH_SIZE,
    n_resamples: int = 1000,
    seed: int = 0,
    max_sentences: Optional[int] = None,
    progress: bool = True,
    raw_text: bool = False,
) -> dict:
    """Evaluate a loaded pipeline and write the outputs; returns the metrics dict."""
    start = time.perf_counter()
    spec = load_targets(targets)
    metrics = evaluate_targets(
        nlp, ud_dir, spec, batch_size=batch_size, n_resamples=n_resamples, seed=seed,
        max_sentences=max_sentences, progress=progress, raw_text=raw_text,
    )
    meta = nlp.meta
    metrics["model"] = {
        "path": model,
        "name": f"{meta.get('lang', '')}_{meta.get('name', '')}",
        "version": meta.get("version"),
        "spacy_version": meta.get("spacy_version"),
        "pipeline": list(nlp.pipe_names),
        "encoder_dtype": meta.get("layer_fusion", {}).get("encoder_dtype", "fp32"),
    }
    if meta.get("layer_fusion", {}).get("quantization"):
        metrics["model"]["quantization"] = meta["layer_fusion"]["quantization"]
        # int8 tags depend on the CPU's vector instructions (quantization.cpu_kernels).
        metrics["model"]["int8_cpu"] = meta["layer_fusion"]["int8_cpu"]
    metrics["settings"]["targets"] = str(targets)
    config_file = Path(model) / "config.cfg"
    if config_file.is_file():  # a pipeline folder (an installed package has no path here)
        metrics["provenance"] = provenance(config_file)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    write_text_atomic(output_json, json.dumps(metrics, ensure_ascii=False, indent=1) + "\n")
    if table is not None:
        write_text_atomic(table, render_markdown(metrics))
    return metrics


@app.command()
def main(
    model: str = typer.Argument(..., help="Pipeline path or installed package name"),
    ud_dir: Path = typer.Argument(..., help="Folder with the UD_* treebank folders", exists=True, file_okay=False),
    output_json: Path = typer.Argument(..., help="Metrics JSON to write"),
    table: Optional[Path] = typer.Option(None, "--table", help="Also write a markdown table here"),
    targets: Path = typer.Option(DEFAULT_TARGETS, "--targets", exists=True, dir_okay=False),
    batch_size: int = typer.Option(EVAL_BATCH_SIZE, "--batch-size", min=1),
    # At least 10: with one or two resamples the "95% interval" need not hold the estimate.
    n_resamples: int = typer.Option(1000, "--n-resamples", min=10,
                                    help="Bootstrap resamples of the sentences for the 95% intervals"),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap's resampling"),
    max_sentences: Optional[int] = typer.Option(None, "--max-sentences", min=1, help="Cap per set (smoke runs)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to tag on (-1: CPU)"),
    raw_text: bool = typer.Option(False, "--raw-text", help="Also the end-to-end scores on raw text"),
    int8: bool = typer.Option(False, "--int8", help="Encoder's linear layers in int8 (layer_fusion.quantization)"),
    int8_scheme: str = typer.Option(
        DEFAULT_SCHEME, "--int8-scheme", help="With --int8: a scheme of layer_fusion.quantization.SCHEMES"),
):
    """UPOS accuracy with 95% CIs on every listed treebank; JSON (+ markdown table)."""
    # The settings and test files are checked before the model loads and the evaluation runs (minutes).
    try:
        spec = load_targets(targets)
        check_test_files(ud_dir, spec)
        check_test_file_contents(ud_dir, spec, max_sentences)
    except TargetsError as err:
        fail(str(err))
    except FileNotFoundError as err:  # UD_DIR holds none of the test files
        fail(f"{err.filename}: {err.strerror}")
    except (ConlluError, NoSentencesError) as err:  # a malformed or empty test file
        fail(str(err))
    except OSError as err:  # an unreadable test file
        fail(f"{err.filename or 'a test file'}: {err.strerror or err}")
    for setting, path in (("OUTPUT_JSON", output_json), ("--table", table)):
        if path is not None and unwritable_reason(path):
            fail(f"cannot write {setting} {path}: {unwritable_reason(path)}")
    if table is not None and Path(os.path.realpath(table)) == Path(os.path.realpath(output_json)):
        fail(f"--table {table} is OUTPUT_JSON: the table would replace the metrics")
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        nlp = spacy.load(model)
    except (OSError, ValueError) as err:  # no such pipeline, or not one spaCy can load
        fail(f"cannot load {model}: {' '.join(str(err).split())}")
    if int8:
        from layer_fusion.quantization import quantize_encoder

        try:
            quantize_encoder(nlp, scheme=int8_scheme)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--int8-scheme")
    try:
        metrics = run(nlp, model, ud_dir, output_json, table, targets, batch_size, n_resamples, seed,
                      max_sentences, raw_text=raw_text)
    except (ConlluError, NoSentencesError) as err:  # a test file changed since the check
        fail(str(err))
    except OSError as err:  # an unreadable test file, or an output that became unwritable
        fail(f"{err.filename or 'a test file or an output'}: {err.strerror or err}")
    macro = metrics["macro_low_resource"]
    if macro.get("n_treebanks"):
        msg.good(
            f"Macro UPOS accuracy, {macro['n_treebanks']} low-resource treebanks: "
            f"{pct(macro['accuracy'])} {ci(macro['ci95'])}"
        )
    raw = metrics.get("macro_low_resource_raw_text")
    if raw:
        msg.good(
            f"Raw text: token F1 {pct(raw['token_f1']['accuracy'])} (spaced languages "
            f"{pct(raw['token_f1_spaced']['accuracy'])}), UPOS F1 {pct(raw['upos_f1']['accuracy'])}"
        )
    if metrics["missing"]:
        msg.warn(f"{len(metrics['missing'])} test file(s) missing: "
                 + ", ".join(m["key"] for m in metrics["missing"]))
    msg.good(f"Wrote {output_json}" + (f" and {table}" if table else "") + f" ({metrics['seconds']}s)")


if __name__ == "__main__":
    app()

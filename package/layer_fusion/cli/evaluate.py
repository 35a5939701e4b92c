"""`layer-fusion evaluate`: UPOS accuracy of a pipeline on CoNLL-U files, with CIs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .common import _load, app, msg


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

    from ..atomic_write import atomic_text_output
    from ..evaluation import TreebankResult, evaluate_conllu
    from ..report_table import ci, pct

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

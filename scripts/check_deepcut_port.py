"""Check: PyThaiNLP's ONNX port of DeepCut (the `th` segmenter) against DeepCut's own engine.

`layer-fusion tag --lang th` runs DeepCut's network from PyThaiNLP's wheel under ONNX Runtime.
This compares its words with the original package's (deepcut 0.7.0.0 on TensorFlow) on every
sentence text of a CoNLL-U file, with PyThaiNLP's joining of split numbers off (a
post-processing step of PyThaiNLP's, not part of the network) and on. Segmentation only: the
file's annotation is not read. TensorFlow is not a dependency of the project, so run it in an
environment of its own:

    python -m venv /tmp/deepcut && /tmp/deepcut/bin/pip install torch==2.13.0 \
        -e "package/[th]" deepcut==0.7.0.0
    /tmp/deepcut/bin/python scripts/check_deepcut_port.py \
        ../shared/ud/UD_Thai-PUD/th_pud-ud-test.conllu --output reports/bench/deepcut_port.json
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)


def words(pieces):
    return [w for p in pieces for w in p.split()]


@app.command()
def main(conllu: Path = typer.Argument(..., exists=True, dir_okay=False),
         output: Path = typer.Option(..., "--output")):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    import deepcut
    from pythainlp.tokenize import word_tokenize

    from layer_fusion.atomic_write import write_text_atomic
    from layer_fusion.conllu import read_conllu
    from layer_fusion.raw_text import sentence_text

    texts = [sentence_text(s)[0] for s in read_conllu(conllu)]
    original = [words(deepcut.tokenize(t)) for t in texts]
    report = {"file": str(conllu), "texts": len(texts)}
    for join in (False, True):
        port = [words(word_tokenize(t, engine="deepcut", keep_whitespace=True, join_broken_num=join))
                for t in texts]
        report[f"identical_join_broken_num_{str(join).lower()}"] = sum(a == b for a, b in zip(original, port))
    write_text_atomic(output, json.dumps(report, indent=1) + "\n")
    typer.echo(json.dumps(report))


if __name__ == "__main__":
    app()

"""Build a tiny random XLM-R encoder folder for the smoke workflow.

Its SentencePiece vocabulary is trained on English UD text (the training language
only), its weights are random: it checks that every step runs, not accuracy. It takes
seconds, so it is always built (the folder is replaced once the new one is complete):
a folder kept because it exists would ignore changed options or text.
"""

from itertools import islice
from pathlib import Path

import typer
from wasabi import msg

from layer_fusion.atomic_write import atomic_folder
from layer_fusion.conllu import read_conllu
from layer_fusion.research.tiny_models import build_tiny_xlmr


def main(
    output_dir: Path = typer.Argument(..., help="Folder to write the HF model to"),
    conllu: Path = typer.Argument(..., help="CoNLL-U file whose sentences train the vocabulary"),
    layers: int = typer.Option(6, help="Transformer layers"),
    hidden: int = typer.Option(32, help="Hidden size"),
    max_sentences: int = typer.Option(2000, help="Sentences used for the vocabulary"),
):
    sentences = [" ".join(s.words) for s in islice(read_conllu(conllu), max_sentences)]
    with atomic_folder(output_dir) as tmp:
        build_tiny_xlmr(tmp, hidden=hidden, layers=layers, sentences=sentences, vocab_size=1000)
    msg.good(f"Tiny random encoder ({layers} layers, width {hidden}) in {output_dir}")


if __name__ == "__main__":
    typer.run(main)

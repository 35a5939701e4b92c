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

from . import cache, dataset, encoder, evaluate, inspect, tag  # noqa: E402,F401  (register the commands)
from .common import app  # noqa: E402

__all__ = ["app"]

if __name__ == "__main__":
    app()

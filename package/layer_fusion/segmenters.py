"""Word segmenters for languages written without spaces between words.

A rule-based tokenizer cannot find words in ``ฉันไปโรงเรียน`` (Thai) or tell the syllables
of one Vietnamese word (``sinh viên``) from two words: that needs a dictionary or a model.
``SEGMENTERS`` maps a language code to one, each behind an optional extra
(``pip install "spacy-layer-fusion[th]"``), used by ``layer-fusion tag --lang`` and by
``segmenter = "th"`` under ``[nlp.tokenizer]`` (``layer_fusion.tokenizer``):

* ``th``: PyThaiNLP's ``word_tokenize`` with DeepCut, run by ONNX Runtime (``ThaiSegmenter``;
  the engine is chosen by ``docs/selection_protocol.md``, "The Thai word segmenter");
* ``vi``, ``zh``, ``ja``: spaCy's own tokenizers for those languages (pyvi, jieba, SudachiPy).

Each segmenter is a callable from text to a ``Doc`` whose text is the input's, spaces
included. In a pipeline, ``SegmentingTokenizer`` holds it beside the rule-based tokenizer,
which it saves: a segmenter is a setting, not data, so a saved pipeline loads with any
``segmenter`` setting.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Dict, Tuple

import srsly


class _Tokenizer:
    """spaCy's tokenizer interface for a callable from text to ``Doc``: ``pipe`` calls it."""

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)


class ThaiSegmenter(_Tokenizer):
    """Thai words by PyThaiNLP's ``word_tokenize`` with engine ``deepcut`` by default:
    DeepCut's character CNN, trained on the BEST-2010 corpus, which PyThaiNLP ships in its
    wheel as an ONNX model and runs with ONNX Runtime (no TensorFlow). The engine is the one
    with the best published BEST-2010 word F1 among those that run offline
    (``docs/selection_protocol.md``); ``engine="attacut"`` and spaCy's own dictionary engine
    ``newmm`` are compared in ``reports/bench/tokenizer.md``.

    PyThaiNLP also joins the pieces of a number the model splits (``5 , 000`` -> ``5,000``)."""

    def __init__(self, vocab, engine: str = "deepcut"):
        self.vocab = vocab
        self.engine = engine

    def __call__(self, text: str):
        from pythainlp.tokenize import word_tokenize
        from spacy.tokens import Doc
        from spacy.util import get_words_and_spaces

        pieces = word_tokenize(text, engine=self.engine, keep_whitespace=True)
        # A piece may carry spaces (attacut returns ' เด '): words never do.
        words, spaces = get_words_and_spaces([w for p in pieces for w in p.split()], text)
        return Doc(self.vocab, words=words, spaces=spaces)

    # Nothing to save: the engine ships with its package.
    def to_bytes(self, **kwargs) -> bytes:
        return b""

    def from_bytes(self, data: bytes, **kwargs):
        return self

    def to_disk(self, path, **kwargs) -> None:
        return None

    def from_disk(self, path, **kwargs):
        return self


def _spacy_segmenter(module_name: str, class_name: str, **kwargs):
    def make(vocab):
        segmenter = getattr(importlib.import_module(module_name), class_name)(vocab, **kwargs)
        if hasattr(segmenter, "initialize") and module_name.endswith(".zh"):
            segmenter.initialize()
        return segmenter

    return make


# language -> (constructor on a vocab, modules it imports, the extra that installs them)
SEGMENTERS: Dict[str, Tuple[Callable, Tuple[str, ...], str]] = {
    # PyThaiNLP before 5.4 imports the deepcut package (TensorFlow) here: the extra pins 5.4+.
    "th": (ThaiSegmenter, ("pythainlp", "pythainlp.tokenize.deepcut"), "th"),
    "vi": (_spacy_segmenter("spacy.lang.vi", "VietnameseTokenizer", use_pyvi=True), ("pyvi",), "vi"),
    "zh": (_spacy_segmenter("spacy.lang.zh", "ChineseTokenizer", segmenter="jieba"), ("jieba",), "zh"),
    "ja": (_spacy_segmenter("spacy.lang.ja", "JapaneseTokenizer", split_mode=None), ("sudachipy", "sudachidict_core"), "ja"),
}


class SegmentingTokenizer(_Tokenizer):
    """A pipeline's tokenizer when its config sets ``segmenter``: text is split by
    ``segmenter``, while ``rules`` (the pipeline's rule-based tokenizer) is kept and is what
    ``to_disk``/``to_bytes`` save.

    Why: the segmenter's engine ships with its package, so it has nothing of its own to
    save, and the config names it. Saving the rules instead means a saved pipeline loads
    with any ``segmenter`` setting, null included, and nothing is lost on the way (special
    cases added to the rules survive): ``spacy.load(path, config={"nlp": {"tokenizer":
    {"segmenter": "vi"}}})`` works on a pipeline saved without one, and the reverse.
    """

    def __init__(self, rules, segmenter):
        self.rules = rules
        self.segmenter = segmenter

    def __call__(self, text: str):
        return self.segmenter(text)

    def to_bytes(self, **kwargs) -> bytes:
        return self.rules.to_bytes(**kwargs)

    def from_bytes(self, data: bytes, **kwargs):
        # As from_disk: bytes of a segmenter itself (b"" for th, its settings for vi, zh,
        # ja) are not rules, and the rules stay as the config built them.
        if data and "prefix_search" in srsly.msgpack_loads(data):
            self.rules.from_bytes(data, **kwargs)
        return self

    def to_disk(self, path, **kwargs) -> None:
        self.rules.to_disk(path, **kwargs)

    def from_disk(self, path, **kwargs):
        # The rules are one file. Pipelines saved by a segmenter itself have none (th) or
        # a folder of the segmenter's settings (vi, zh, ja), which the config now gives:
        # then the rules stay as the config built them.
        if Path(path).is_file():
            self.rules.from_disk(path, **kwargs)
        return self


def make_segmenter(vocab, lang: str):
    """The word segmenter for ``lang`` on ``vocab``; a one-line error names the extra to
    install when its dependency is missing."""
    if lang not in SEGMENTERS:
        raise ValueError(f"no word segmenter for language {lang!r}; known: {', '.join(sorted(SEGMENTERS))}")
    construct, modules, extra = SEGMENTERS[lang]
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ImportError(
                f"the {lang!r} word segmenter needs {module}: pip install \"spacy-layer-fusion[{extra}]\""
            ) from None
    return construct(vocab)

"""Word segmenters for languages written without spaces between words (and Maltese and English).

A rule-based tokenizer cannot find words in ``ฉันไปโรงเรียน`` (Thai) or tell the syllables
of one Vietnamese word (``sinh viên``) from two words: that needs a dictionary or a model.
``SEGMENTERS`` maps a language code to one, each but Maltese and English behind an optional extra
(``pip install "spacy-layer-fusion[th]"``), used by ``layer-fusion tag --lang`` and by
``segmenter = "th"`` under ``[nlp.tokenizer]`` (``layer_fusion.tokenizer``):

* ``th``: PyThaiNLP's ``word_tokenize`` with DeepCut, run by ONNX Runtime (``ThaiSegmenter``;
  the engine is chosen by ``docs/selection_protocol.md``, "The Thai word segmenter");
* ``vi``, ``zh``, ``ja``: spaCy's own tokenizers for those languages (pyvi, jieba, SudachiPy;
  SudachiPy on pieces of a long line, ``segmenter_wrappers.PiecewiseSegmenter``);
* ``mt``: Maltese is written with spaces, but its article is joined to the next word by a
  hyphen, which UD splits off (``il-`` ``kelb``): ``maltese_articles`` does that on the rules'
  tokens. Rules only, so no extra.
* ``en``: English contractions are split into their words (``don't`` -> ``do`` ``n't``) and
  abbreviations kept whole (``Dr.``) by spaCy's English tokenizer exceptions, applied to the
  rules' tokens by ``english_contractions``. No extra.

Each segmenter is a callable from text to a ``Doc`` whose text is the input's, spaces
included. The models learned composed text (NFC), so decomposed text (NFD) is segmented in
its composed form and the tokens carried back
(``segmenter_wrappers.ComposedTextSegmenter``). In a pipeline, ``SegmentingTokenizer`` holds
it beside the rule-based tokenizer, which it saves: a segmenter is a setting, not data, so a
saved pipeline loads with any ``segmenter`` setting.
The Thai and Chinese segmenters get only the text in their own script (``SCRIPT_RUNS``); the
rule-based tokenizer splits the rest (Latin words, numbers, URLs, punctuation), which their
models would cut into characters (``Zürich`` became ``Z ü rich`` under DeepCut, ``Tôi``
became ``T ô i`` under jieba).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import unicodedata
from pathlib import Path
from typing import Callable, Dict, List, Optional, Pattern, Tuple

import srsly

from .segmenter_wrappers import ComposedTextSegmenter, PiecewiseSegmenter, TokenizerPipe
from .tokenizer_rules import MARKS


class WordSegmenter(TokenizerPipe):
    """A ``Doc`` of the words ``words(text)`` returns, in order, with the text's whitespace
    put back between them. A returned piece may carry spaces (attacut returns ``' เด '``):
    words never do. Raises ValueError when the words are not the text's own characters."""

    def __init__(self, vocab, words: Callable[[str], List[str]]):
        self.vocab = vocab
        self.words = words

    def __call__(self, text: str):
        from spacy.tokens import Doc
        from spacy.util import get_words_and_spaces

        words, spaces = get_words_and_spaces([w for piece in self.words(text) for w in piece.split()], text)
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


class ThaiSegmenter(WordSegmenter):
    """Thai words by PyThaiNLP's ``word_tokenize`` with engine ``deepcut`` by default:
    DeepCut's character CNN, trained on the BEST-2010 corpus, which PyThaiNLP ships in its
    wheel as an ONNX model and runs with ONNX Runtime (no TensorFlow). The engine is the one
    with the best published BEST-2010 word F1 among those that run offline
    (``docs/selection_protocol.md``); ``reports/bench/thai_segmenters.md`` compares it with
    the other candidates, ``engine="attacut"`` and spaCy's own dictionary engine ``newmm`` among them.

    PyThaiNLP also joins the pieces of a number the model splits (``5 , 000`` -> ``5,000``)."""

    def __init__(self, vocab, engine: str = "deepcut"):
        super().__init__(vocab, self._word_tokenize)
        self.engine = engine

    def _word_tokenize(self, text: str) -> List[str]:
        from pythainlp.tokenize import word_tokenize

        return word_tokenize(text, engine=self.engine, keep_whitespace=True)


# SudachiPy refuses a text of more than 49,149 UTF-8 bytes ("Input is too long"), and spaCy's
# JapaneseTokenizer passes it a line whole (about 16,000 Japanese characters).
SUDACHI_MAX_BYTES = 49_149



def _spacy_segmenter(module_name: str, class_name: str, **kwargs):
    def make(vocab, rules=None):
        segmenter = getattr(importlib.import_module(module_name), class_name)(vocab, **kwargs)
        if hasattr(segmenter, "initialize") and module_name.endswith(".zh"):
            segmenter.initialize()
        return segmenter

    return make


def _runs_of(chars: str) -> Pattern[str]:
    """Maximal runs of ``chars`` (a character class body), with the spaces between them: a
    segmenter sees a line in its script whole, as it would without the other scripts. A
    character keeps the marks after it (combining marks, variation selectors: ``葛\U000E0100``)."""
    run = f"[{chars}][{chars}{MARKS}]*"
    return re.compile(f"{run}(?:\\s+{run})*")


# language -> the text its segmenter splits; None: all of it (Vietnamese is written in Latin
# letters, SudachiPy segments the Latin letters and digits of Japanese text itself, and the
# Maltese and English splitters refine the rules' own tokens).
SCRIPT_RUNS: Dict[str, Optional[Pattern[str]]] = {
    "th": _runs_of("\u0E00-\u0E7F"),  # the Thai block: letters, marks, digits, ฯ ๆ ๏ ๚ ๛
    # Han ideographs: the unified blocks, extension A, compatibility ideographs, extensions B+, 〇
    "zh": _runs_of("\u3007\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\U00020000-\U0003134F"),
    "vi": None,
    "ja": None,
    "mt": None,
    "en": None,
}


def _refining(refiner: Callable) -> Callable:
    """A constructor on (vocab, rules) of ``refiner(rules)`` (a ``RulesRefiner``), around
    new multilingual rules on ``vocab`` when ``rules`` is None."""

    def make(vocab, rules):
        if rules is None:
            import spacy

            from .tokenizer import multilingual_tokenizer

            rules = multilingual_tokenizer(spacy.blank("xx", vocab=vocab))
        return refiner(rules)

    return make


def _maltese_articles(rules):
    from .maltese_articles import MalteseArticleSplitter

    return MalteseArticleSplitter(rules)


def _english_contractions(rules):
    from .english_contractions import EnglishContractionSplitter

    return EnglishContractionSplitter(rules)


def _on_composed_text(construct: Callable) -> Callable:
    """``construct``'s segmenter, given the composed form of decomposed text
    (``ComposedTextSegmenter``)."""
    return lambda vocab, rules: ComposedTextSegmenter(construct(vocab, rules))


# language -> (constructor on a vocab and the rule-based tokenizer, modules it imports, the
# extra that installs them). Only the Maltese and English splitters work on the rules'
# tokens; the others split text themselves, in its composed form (NFC).
SEGMENTERS: Dict[str, Tuple[Callable, Tuple[str, ...], str]] = {
    # PyThaiNLP before 5.4 imports the deepcut package (TensorFlow) here: the extra pins 5.4+.
    "th": (_on_composed_text(lambda vocab, rules: ThaiSegmenter(vocab)),
           ("pythainlp", "pythainlp.tokenize.deepcut"), "th"),
    "vi": (_on_composed_text(_spacy_segmenter("spacy.lang.vi", "VietnameseTokenizer", use_pyvi=True)),
           ("pyvi",), "vi"),
    "zh": (_on_composed_text(_spacy_segmenter("spacy.lang.zh", "ChineseTokenizer", segmenter="jieba")),
           ("jieba",), "zh"),
    "ja": (_on_composed_text(lambda vocab, rules: PiecewiseSegmenter(
        _spacy_segmenter("spacy.lang.ja", "JapaneseTokenizer", split_mode=None)(vocab, rules), SUDACHI_MAX_BYTES)),
        ("sudachipy", "sudachidict_core"), "ja"),
    # Rules, no model: nothing to install; the rules handle decomposed text themselves.
    "mt": (_refining(_maltese_articles), (), ""),
    # spaCy's English tokenizer exceptions, on the rules' tokens: nothing to install.
    "en": (_refining(_english_contractions), (), ""),
}


class SegmentingTokenizer(TokenizerPipe):
    """A pipeline's tokenizer when its config sets ``segmenter``: text is split by
    ``segmenter``, while ``rules`` (the pipeline's rule-based tokenizer) is kept and is what
    ``to_disk``/``to_bytes`` save.

    Why: the segmenter's engine ships with its package, so it has nothing of its own to
    save, and the config names it. Saving the rules instead means a saved pipeline loads
    with any ``segmenter`` setting, null included, and nothing is lost on the way (special
    cases added to the rules survive): ``spacy.load(path, config={"nlp": {"tokenizer":
    {"segmenter": "vi"}}})`` works on a pipeline saved without one, and the reverse.

    script: the runs of text that ``segmenter`` splits (``SCRIPT_RUNS``); ``rules`` splits
    the rest. None: the segmenter splits all of it.
    """

    def __init__(self, rules, segmenter, script: Optional[Pattern[str]] = None):
        self.rules = rules
        self.segmenter = segmenter
        self.script = script

    def __call__(self, text: str):
        if self.script is None:
            return self.segmenter(text)
        from spacy.tokens import Doc
        from spacy.util import get_words_and_spaces

        # The rules' whole-text steps need the whole text (a quotation may open before a
        # run and close after it; the text's end): the pieces are split without them, and
        # the steps run on the joined Doc.
        split = getattr(self.rules, "split", self.rules)
        words, start = [], 0
        for run in self.script.finditer(text):
            words += _words(split, text[start:run.start()]) + _words(self.segmenter, run.group())
            start = run.end()
        words += _words(split, text[start:])
        words, spaces = get_words_and_spaces(_marks_kept(words, text), text)
        doc = Doc(self.rules.vocab, words=words, spaces=spaces)
        whole_text_rules = getattr(self.rules, "whole_text_rules", None)
        return whole_text_rules(doc, text) if whole_text_rules is not None else doc

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


def _words(tokenizer, text: str):
    """The tokens of ``text`` that are not whitespace (``get_words_and_spaces`` puts the
    whitespace back)."""
    return [token.text for token in tokenizer(text) if not token.is_space] if text else []


def _marks_kept(words: List[str], text: str) -> List[str]:
    """``words`` (in the order of ``text``) with each word that begins with a mark (a
    combining mark, a variation selector: general category M) joined to the word written
    right before it: DeepCut and jieba cut ``ก\u0301`` and ``葛\U000E0100`` in two, and
    a character keeps its marks."""
    out: List[str] = []
    end = 0
    for word in words:
        start = text.find(word, end)
        if out and start == end and unicodedata.category(word[0])[0] == "M":
            out[-1] += word
        else:
            out.append(word)
        end = start + len(word)
    return out


def segmenting_tokenizer(tokenizer, lang: str) -> SegmentingTokenizer:
    """``tokenizer`` (a pipeline's, or its rules when it segments already) with ``lang``'s
    word segmenter, which splits the text in ``lang``'s script (``SCRIPT_RUNS``)."""
    rules = tokenizer.rules if isinstance(tokenizer, SegmentingTokenizer) else tokenizer
    return SegmentingTokenizer(rules, make_segmenter(rules.vocab, lang, rules), SCRIPT_RUNS[lang])


def make_segmenter(vocab, lang: str, rules=None):
    """The word segmenter for ``lang`` on ``vocab``; a one-line error names the extra to
    install when its dependency is missing. rules: the rule-based tokenizer that the Maltese
    and English splitters refine (default: new multilingual rules on ``vocab``, not a pipeline's: pass
    them, or use ``segmenting_tokenizer``); the others ignore it."""
    construct, modules, extra = SEGMENTERS[require_segmenter(lang)]
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise _missing(lang, module, extra) from None
    return construct(vocab, rules)


def require_segmenter(lang: str) -> str:
    """``lang``, when it has a word segmenter whose packages are installed; else the
    ValueError or ImportError that ``make_segmenter`` would raise. Found without importing
    the packages (seconds for some; only the parents of a submodule are imported), so a
    command line can be checked before a pipeline loads."""
    if lang not in SEGMENTERS:
        raise ValueError(f"no word segmenter for language {lang!r}; known: {', '.join(sorted(SEGMENTERS))}")
    _, modules, extra = SEGMENTERS[lang]
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None  # imports the parents of a submodule
        except ImportError:  # a parent is missing, or fails to import
            found = False
        if not found:
            raise _missing(lang, module, extra)
    return lang


def _missing(lang: str, module: str, extra: str) -> ImportError:
    return ImportError(f"the {lang!r} word segmenter needs {module}: pip install \"spacy-layer-fusion[{extra}]\"")

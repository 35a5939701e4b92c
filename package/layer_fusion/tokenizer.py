"""A language-agnostic tokenizer for raw text in many scripts, and word segmenters for
languages written without spaces between words.

``layer_fusion.MultilingualTokenizer.v1`` is spaCy's rule-based tokenizer (the ``xx``
rules) with these changes, each found by measuring where the ``xx`` rules disagree with
UD's surface tokens, and kept only when it is not a convention of one language:

* **Letters of every script, and combining marks, end a word.** spaCy's letter classes
  miss Armenian, Georgian, Malayalam, Gujarati, Gurmukhi, Oriya, Myanmar, Khmer, Tibetan,
  Mongolian and others, and combining marks (U+0300-U+036F ...): so ``alẹ́.`` (Yoruba;
  NFC keeps ẹ́ as ẹ + U+0301) kept its full stop. A period after any of them is split off.
* **Sentence and clause punctuation of more scripts** (``SCRIPT_PUNCTUATION``: Armenian
  ։ ՝, Ethiopic ። ፣ ፤ ..., Devanagari ॥, Myanmar ၊ ။, Khmer ។ ៕ ៖, Tibetan ། ༎, ...) is
  split off as prefix, suffix and infix, like ``,`` and ``.``.
* **A hyphen or tilde between letters stays inside the word** (Suid-Afrika, ne-ne,
  сондай-ақ, Улаан-Үдэ, nag-isip, መኖሪያ~ቤቱ): most UD treebanks keep hyphenated words
  whole (English EWT is an exception). Dashes (– — --) between words are still split.
* **Runs of ! and ? (``!!``, ``?!``, ``?..``) are one token**, as ``...`` already was.
* **Hashtags and mentions stay whole** (``#gaeilge``, ``@user``).
* **Apostrophe clitics of one letter**: ``i'r``, ``sy'n``, ``iba't``, ``niya'y``, ``it's``
  split before the apostrophe (the clitic keeps it; not the Breton letter ``c'h``); a
  one-letter word written with a leading apostrophe (Afrikaans ``'n``, Dutch ``'s``) is
  not split.
* **Elision**: a word of one or two letters before an apostrophe and a word of two letters
  or more is split after the apostrophe (``l'homme`` -> ``l'`` ``homme``, ``qu'il``).

Each change can be left out (``multilingual_tokenizer(nlp, without=...)``) to measure it:
``scripts/bench_tokenizer.py``, whose output (``reports/bench/tokenizer.md``) shows what each
adds on the targets and on treebanks that are never targets.

Languages without spaces between words need a dictionary or a model: ``segmenter``
(``th``, ``vi``, ``zh``, ``ja``) swaps in spaCy's own segmenter for that language,
whose dependency is an optional extra (``pip install "spacy-layer-fusion[th]"``).
"""
from __future__ import annotations

import re
from typing import Callable, Dict, Optional, Tuple

from spacy.lang.char_classes import ALPHA, ALPHA_LOWER, CONCAT_QUOTES
from spacy.lang.punctuation import TOKENIZER_INFIXES, TOKENIZER_PREFIXES, TOKENIZER_SUFFIXES
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex, registry

# Scripts whose letters spaCy's ALPHA classes leave out (Unicode block ranges).
EXTRA_LETTERS = (
    "\u0530-\u0588\u058A-\u058F"  # Armenian (without ։ U+0589)
    "\u10A0-\u10FF\u1C90-\u1CBF"  # Georgian
    "\u0A00-\u0A7F\u0A80-\u0AFF\u0B00-\u0B7F\u0D00-\u0D7F"  # Gurmukhi Gujarati Oriya Malayalam
    "\u0700-\u074F\u0780-\u07BF\u07C0-\u07F7"  # Syriac Thaana N'Ko
    "\u0E00-\u0E7F\u0E80-\u0EFF\u0F00-\u0F0C\u0F13-\u0FFF"  # Thai Lao Tibetan (without ། ༎ ...)
    "\u1000-\u1049\u104C-\u109F\u1780-\u17D3\u17D7\u17DC-\u17FF"  # Myanmar Khmer
    "\u1800-\u1801\u1804-\u18AF"  # Mongolian
    "\u13A0-\u13FF\u1400-\u166D\u166F-\u167F\u2D30-\u2D7F"  # Cherokee, Canadian syllabics, Tifinagh
    "\uA500-\uA60C\uA610-\uA62B\uA6A0-\uA6F1"  # Vai Bamum
)
# Combining marks: a letter followed by marks is still a letter (NFC leaves many unfused).
COMBINING_MARKS = "\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F"

# Sentence and clause punctuation that spaCy's lists lack, by script.
SCRIPT_PUNCTUATION = (
    "\u0589\u055D"  # Armenian full stop ։, comma ՝
    "\u1361-\u1368"  # Ethiopic ፡ ። ፣ ፤ ፥ ፦ ፧ ፨
    "\u0965"  # Devanagari double danda ॥ (। is already listed)
    "\u104A\u104B"  # Myanmar ၊ ။
    "\u17D4-\u17D6\u17D8-\u17DA"  # Khmer ។ ៕ ៖ ៘ ៙ ៚
    "\u0F0D-\u0F12"  # Tibetan ། ༎ ...
    "\u0E5A\u0E5B"  # Thai ๚ ๛
    "\u05C3\u05C0"  # Hebrew sof pasuq ׃, paseq ׀
    "\u0700-\u070D"  # Syriac
    "\u1802\u1803\u1808\u1809"  # Mongolian
    "\u0DF4"  # Sinhala kunddaliya
    "\u07F8\u07F9"  # N'Ko comma, exclamation
    "\u166E"  # Canadian syllabics full stop
    "\uA60D-\uA60F"  # Vai
    "\uA6F3-\uA6F7"  # Bamum
    "\uA9C8\uA9C9"  # Javanese
    "\u3002\uFF0E\uFF61\u3001\uFF0C\uFF01\uFF1F\uFF1A\uFF1B"  # CJK full-width
)

_LETTER = ALPHA + EXTRA_LETTERS + COMBINING_MARKS
_PUNCT = f"[{SCRIPT_PUNCTUATION}]"

# The xx rules that the changes replace (matched by their source text).
_HYPHEN_INFIX = next(p for p in TOKENIZER_INFIXES if "(?:-|" in p)


# The changes, by name (``multilingual_tokenizer(nlp, without=...)`` leaves some out, to
# measure each one: scripts/bench_tokenizer.py).
RULES = (
    "script_letters",  # a full stop after a letter of any script or a combining mark
    "script_punctuation",  # SCRIPT_PUNCTUATION split off
    "hyphenated_words",  # a hyphen or tilde between letters does not split
    "punctuation_runs",  # !! ?! ?.. are one token
    "hashtags",  # #word and @word stay whole
    "apostrophe_clitics",  # i'r -> i 'r; 'n stays whole
    "apostrophe_elision",  # d'un -> d' un (a one- or two-letter word elided before a vowel)
)


def multilingual_prefixes(without=()):
    """spaCy's prefixes, with the changes of ``RULES`` not in ``without``."""
    dropped = set()
    if "hashtags" not in without:
        dropped.add("#")
    if "apostrophe_clitics" not in without:
        dropped.add("\\'")
    out = [p for p in TOKENIZER_PREFIXES if p not in dropped]
    if "hashtags" not in without:
        out.append(r"#(?![^\W_])")
    if "apostrophe_clitics" not in without:
        out.append(r"'(?![a-z](?:$|[^\w']))")
    if "punctuation_runs" not in without:
        out.append(r"[!?][!?.]+")
    if "script_punctuation" not in without:
        out.append(_PUNCT)
    return out


def multilingual_suffixes(without=()):
    out = []
    if "punctuation_runs" not in without:
        out.append(r"[!?][!?.]+")
    if "script_punctuation" not in without:
        out.append(_PUNCT)
    if "script_letters" not in without:
        out.append(rf"(?<=[{EXTRA_LETTERS}{COMBINING_MARKS}])\.")
    return out + list(TOKENIZER_SUFFIXES)


def multilingual_infixes(without=()):
    out = list(TOKENIZER_INFIXES)
    if "hyphenated_words" not in without:
        out.remove(_HYPHEN_INFIX)
        # Dashes between letters split; a plain hyphen or a tilde does not.
        out.append(rf"(?<=[{_LETTER}0-9])(?:–|—|--|---|——)(?=[{_LETTER}])")
    if "script_punctuation" not in without:
        out.append(rf"(?<=\S){_PUNCT}(?=\S)")
    if "apostrophe_clitics" not in without:
        # A one-letter clitic at the end of a word: i'r -> i 'r (a zero-width split);
        # not the Breton letter c'h.
        out.append(rf"(?<=[{_LETTER}])(?<![cC])(?=['’][{ALPHA_LOWER}](?:$|[^\w]))")
        out.append(rf"(?<=[cC])(?=['’](?![hH])[{ALPHA_LOWER}](?:$|[^\w]))")
    if "apostrophe_elision" not in without:
        # A one- or two-letter word elided before a word of two letters or more:
        # d'un -> d' un, qu'il -> qu' il.
        out.append(rf"(?<=^[{_LETTER}]['’])(?=[{_LETTER}]{{2}})")
        out.append(rf"(?<=^[{_LETTER}][{_LETTER}]['’])(?=[{_LETTER}]{{2}})")
    return out


def multilingual_tokenizer(nlp, without=()) -> Tokenizer:
    """The rule-based tokenizer described in the module docstring, on ``nlp.vocab``.

    without: names from ``RULES`` to leave out (for measuring each rule).
    """
    unknown = set(without) - set(RULES)
    if unknown:
        raise ValueError(f"unknown tokenizer rule(s) {sorted(unknown)}; known: {', '.join(RULES)}")
    return Tokenizer(
        nlp.vocab,
        rules=nlp.Defaults.tokenizer_exceptions,
        prefix_search=compile_prefix_regex(multilingual_prefixes(without)).search,
        suffix_search=compile_suffix_regex(multilingual_suffixes(without)).search,
        infix_finditer=compile_infix_regex(multilingual_infixes(without)).finditer,
        token_match=None if "hashtags" in without else re.compile(r"^[#@][^\W_][\w]*$").match,
        url_match=nlp.Defaults.url_match,
    )


class ThaiSegmenter:
    """Thai words by PyThaiNLP's ``word_tokenize`` (engine ``attacut`` by default: a small
    character CNN shipped in its wheel). spaCy's own Thai tokenizer uses the dictionary
    engine ``newmm``, which finds far fewer of UD Thai's words (reports/bench/tokenizer.md)."""

    def __init__(self, vocab, engine: str = "attacut"):
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

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)

    # Nothing to save: the engine ships with its package.
    def to_bytes(self, **kwargs) -> bytes:
        return b""

    def from_bytes(self, data: bytes, **kwargs):
        return self

    def to_disk(self, path, **kwargs) -> None:
        return None

    def from_disk(self, path, **kwargs):
        return self


def _thai(vocab):
    return ThaiSegmenter(vocab)


def _spacy_segmenter(module_name: str, class_name: str, **kwargs):
    def make(vocab):
        import importlib

        segmenter = getattr(importlib.import_module(module_name), class_name)(vocab, **kwargs)
        if hasattr(segmenter, "initialize") and module_name.endswith(".zh"):
            segmenter.initialize()
        return segmenter

    return make


# language -> (constructor on a vocab, modules it imports, the extra that installs them)
SEGMENTERS: Dict[str, Tuple[Callable, Tuple[str, ...], str]] = {
    "th": (_thai, ("pythainlp", "attacut"), "th"),
    "vi": (_spacy_segmenter("spacy.lang.vi", "VietnameseTokenizer", use_pyvi=True), ("pyvi",), "vi"),
    "zh": (_spacy_segmenter("spacy.lang.zh", "ChineseTokenizer", segmenter="jieba"), ("jieba",), "zh"),
    "ja": (_spacy_segmenter("spacy.lang.ja", "JapaneseTokenizer", split_mode=None), ("sudachipy", "sudachidict_core"), "ja"),
}


def make_segmenter(vocab, lang: str):
    """The word segmenter for ``lang`` on ``vocab``; a one-line error names the extra to
    install when its dependency is missing."""
    if lang not in SEGMENTERS:
        raise ValueError(f"no word segmenter for language {lang!r}; known: {', '.join(sorted(SEGMENTERS))}")
    construct, modules, extra = SEGMENTERS[lang]
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ImportError(
                f"the {lang!r} word segmenter needs {module}: pip install \"spacy-layer-fusion[{extra}]\""
            ) from None
    return construct(vocab)


@registry.tokenizers("layer_fusion.MultilingualTokenizer.v1")
def create_multilingual_tokenizer(segmenter: Optional[str] = None) -> Callable:
    """Config: ``[nlp.tokenizer] @tokenizers = "layer_fusion.MultilingualTokenizer.v1"``.

    segmenter: null (the language-agnostic rules) or one of ``SEGMENTERS``.
    """
    if segmenter is not None and segmenter not in SEGMENTERS:
        raise ValueError(
            f"[nlp.tokenizer] segmenter = {segmenter!r}: expected null or one of {', '.join(sorted(SEGMENTERS))}"
        )

    def make(nlp):
        if segmenter is not None:
            return make_segmenter(nlp.vocab, segmenter)
        return multilingual_tokenizer(nlp)

    return make

r"""The rules of the language-agnostic tokenizer (``layer_fusion.tokenizer``).

spaCy's ``xx`` prefix, suffix and infix rules, token match and exceptions, with these
changes, each found by measuring where the ``xx`` rules disagree with UD's surface tokens,
and kept only when it is not a convention of one language:

* **Letters of every script, and combining marks, end a word.** spaCy's letter classes
  miss whole scripts (Armenian, Georgian, Ethiopic, Malayalam, Myanmar, Khmer, Tibetan,
  ...), letters of scripts they cover (Belarusian ``ў``, Kazakh ``қ``, Serbian ``ђ``) and
  combining marks: so ``alẹ́.`` (Yoruba; NFC keeps ẹ́ as ẹ + U+0301) and ``купіў.`` kept
  their full stop. A period after any Unicode letter or mark they miss is split off.
* **Sentence and clause punctuation of more scripts** (``SCRIPT_PUNCTUATION``: Armenian
  ։ ՝, Ethiopic ። ፣ ፤ ..., Devanagari ॥, Myanmar ၊ ။, Khmer ។ ៕ ៖, Tibetan ། ༎, ...) is
  split off as prefix, suffix and infix, like ``,`` and ``.``; a run of it (``。。。``) is one
  token, as ``...`` is.
* **A hyphen or tilde between letters stays inside the word** (Suid-Afrika, ne-ne,
  сондай-ақ, Улаан-Үдэ, nag-isip, መኖሪያ~ቤቱ): most UD treebanks keep hyphenated words
  whole (English EWT is an exception). Dashes (– — --) between words are still split.
* **Runs of ! and ? (``!!``, ``?!``, ``?..``) are one token**, as ``...`` already was.
* **Hashtags and mentions stay whole** (``#gaeilge``, ``@user``).
* **A run of ASCII symbols written apart from words is one token** (``<<``, ``**``, ``->``,
  ``||``, ``&//``: two or more of ``- / \ | & * + = < > ~ ^ # % @``); not quotes, brackets,
  sentence punctuation, other symbols (``©®``) or emoji, which spaCy splits one by one.
* **Dotted abbreviations keep their final full stop**: two or more groups of one or two
  letters of any script (with their marks), each followed by a full stop (``t.d.``,
  ``e.g.``, ``ஐ.நா.``), are one token; a domain or name with a longer group is not
  (``bbc.co.uk.`` ends ``bbc.co.uk`` ``.``), nor, at that cost, an abbreviation with one
  (``M.Phil.``, ``тыс.руб.``): UD's gold has none, and its text has domains and names.
* **Emoji sequences are one token** (Unicode UTS #51): a symbol with skin-tone modifiers,
  variation selectors or tag characters (``👍🏽``, ``❤️``), symbols joined by the zero-width
  joiner (``👨‍👩‍👧``, ``🚣‍♀️``) and flags (``🇮🇪``) are one character to a reader, and one
  token in UD (Irish-TwittIrish, Belarusian-HSE); the ``xx`` rules split them into code
  points. So is a keycap (``#️⃣``: a digit, # or * with U+20E3), which no treebank here
  holds. Emoji written one after another are still split one by one, as in UD.
* **HTML tags are one token** (``<strong>``, ``</a>``, ``<br/>``: a tag name without
  attributes, since a space would split the tag anyway), at the start, the end or inside a
  word (``<b>Увага</b>``); the ``xx`` rules cut them into ``<``, ``strong``, ``>``.
  Web text keeps them (Belarusian-HSE holds hundreds).
* **An opening double quote written as two grave accents is one token**, as LaTeX and the
  Penn Treebank write it, before the word; the closing ``''`` already is one in spaCy's
  rules. German-GSD and Russian-GSD, never targets, write their quotes so.
* **A single Cyrillic letter with its full stop is one token** (``г.``, ``ж.``, ``т.``:
  год, жылы, то есть), as spaCy's exceptions already keep ``a.``-``z.``; not the words ``я``
  and ``є``, which end sentences (``Гэта я.``; the initial ``Я.`` is kept). Not Armenian,
  whose treebank splits initials (``Ա.``), and not other scripts, for want of evidence.
* **A bracket before a colon, semicolon or equals sign is punctuation**, not one of
  spaCy's reversed emoticons (``(see above):`` ends ``)`` ``:``, not ``):``).
* **Apostrophe clitics of one letter**: ``i'r``, ``sy'n``, ``iba't``, ``niya'y``, ``it's``
  split before the apostrophe (the clitic keeps it; not the Breton letter ``c'h``, and not
  a Cyrillic letter: ``ім'я``, ``сям’я`` are words); a one-letter word written with a
  leading apostrophe, straight or curly (Afrikaans ``'n``, ``’n``, Dutch ``'s``), is not
  split. After the apostrophe a letter counts with its combining marks, so decomposed
  text (NFD: ``l'e`` + U+0301) splits as composed text does (``l' école``, ``c 'è``); a
  mark on the letter before the apostrophe (NFD ``ṣ'``) is not handled: the rules look
  back a fixed number of characters.
* **Elision**: a word of one or two Latin letters before an apostrophe and a word of two
  letters or more is split after the apostrophe (``l'homme`` -> ``l'`` ``homme``,
  ``qu'il``); not the Breton letter ``c'h``, not in Cyrillic, where the apostrophe is a
  sign inside words (``аб’ект``), and not the English pronoun ``I`` or English's contractions
  ``'ll``, ``'re`` and ``'ve``: ``I'll``, ``i've``, ``we'll``, ``We're`` stay whole rather than
  ``we'`` ``ll`` (UD's English treebanks write them as one multiword token).
* **A word-final apostrophe stays with its word** (Maltese ``ta'``, Irish ``a'``, English
  ``students'``) unless it closes a quotation opened earlier in the text
  (``'Jail-Deliverer'``): ``tokenizer.MultilingualTokenizer``, since this needs the whole
  text; named in ``RULES``, so that it can be left out and measured like the others.
* **A one-letter word that ends the text gives its full stop back** (Welsh ``gen i.``,
  English ``because of X.``): spaCy's exceptions keep ``a.``-``z.`` whole, and its suffixes a
  full stop after one capital, for initials, which a sentence's last word seldom is (in UD's
  text, 75 such tokens ending a line against 5). Latin letters only, and only at the text's
  end (``tokenizer.MultilingualTokenizer``; ``final_one_letter_words`` says why).

Each change can be left out (``tokenizer.multilingual_tokenizer(nlp, without=...)``) to measure it:
``scripts/bench_tokenizer.py``, whose output (``reports/bench/tokenizer.md``) shows what each
adds on the targets and on treebanks that are never targets. The disagreements were read on the
targets' test text among others, so the targets' figures are not held out from these rules.
"""
from __future__ import annotations

import re
import sys
import unicodedata

from spacy.lang.char_classes import ALPHA, ALPHA_LOWER, LATIN
from spacy.lang.punctuation import TOKENIZER_INFIXES, TOKENIZER_PREFIXES, TOKENIZER_SUFFIXES


def _char_class(codepoints) -> str:
    """A regex character class body (no brackets) for sorted code points, as ranges."""
    out, run = [], []
    for cp in codepoints:
        if run and cp == run[-1] + 1:
            run.append(cp)
            continue
        if run:
            out.append(_range(run[0], run[-1]))
        run = [cp]
    if run:
        out.append(_range(run[0], run[-1]))
    return "".join(out)


def _range(first: int, last: int) -> str:
    def esc(cp: int) -> str:
        return f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}"

    return esc(first) if first == last else f"{esc(first)}-{esc(last)}"


def _code_points_by_category():
    """One pass over Python's Unicode database, when the module is imported: the code points
    of letters and marks (general categories L* and M*), of marks alone, and of other
    symbols (So)."""
    letters_and_marks, marks, symbols = [], [], []
    for cp in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if category[0] in "LM":
            letters_and_marks.append(cp)
            if category[0] == "M":
                marks.append(cp)
        elif category == "So":
            symbols.append(cp)
    return letters_and_marks, marks, symbols


_LETTERS_AND_MARKS, _MARK_POINTS, _SYMBOL_POINTS = _code_points_by_category()


def _letters_missing_from_alpha() -> str:
    """Every Unicode letter and mark that spaCy's ALPHA leaves out: whole scripts (Armenian,
    Georgian, Ethiopic, Thai, Myanmar, Khmer, ...), and letters of scripts it does cover
    (Belarusian and Uzbek ў, Kazakh қ ғ ұ, Serbian ђ ћ џ, Greek ϊ ΐ)."""
    alpha = re.compile(f"[{ALPHA}]")
    return _char_class(cp for cp in _LETTERS_AND_MARKS if not alpha.match(chr(cp)))


EXTRA_LETTERS = _letters_missing_from_alpha()
# Combining marks: a letter followed by marks is still a letter (NFC leaves many unfused).
COMBINING_MARKS = "\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F"
# Every mark (general category M*). Python's \w leaves marks out, so "the word ends here"
# is (?![\w{MARKS}]).
MARKS = _char_class(_MARK_POINTS)
# The apostrophe rules count letters with their marks, so that decomposed text (NFD) splits
# as composed text does: a lowercase letter and its marks, then the word's end; two letters.
_ONE_LETTER_WORD = rf"[{ALPHA_LOWER}][{MARKS}]*(?![\w{MARKS}])"
_TWO_LETTERS = rf"[^\W\d_][{MARKS}]*[^\W\d_]"
# What an elided word may come before: two letters or more, but not 'll, 're or 've ending
# the word, in any case (English's contractions: we'll, We're, we've), before which no
# language elides: we' ll would be neither English's tokens nor the word.
_AFTER_ELISION = rf"(?!(?:[lL][lL]|[rR][eE]|[vV][eE])(?![\w{MARKS}])){_TWO_LETTERS}"
# Cyrillic letters (U+0400-U+052F). In Cyrillic the apostrophe is a sign inside words
# (аб’ект, ім'я, сям'я), so no apostrophe rule splits a Cyrillic letter off after it.
CYRILLIC_LETTERS = _char_class(cp for cp in range(0x0400, 0x0530) if unicodedata.category(chr(cp))[0] == "L")
# A one-letter clitic after an apostrophe: i'r -> i 'r; not a Cyrillic letter (ім'я).
_ONE_LETTER_CLITIC = rf"(?![{CYRILLIC_LETTERS}]){_ONE_LETTER_WORD}"

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

# Emoji sequences (UTS #51). A base is any "other symbol" (So: emoji, dingbats, ♀, ⚠). What
# may follow it: skin-tone modifiers, text and emoji variation selectors, tag characters
# (subdivision flags). A flag is a pair of regional indicators; a keycap is a digit, # or *
# with COMBINING ENCLOSING KEYCAP (U+20E3). A sequence has two code points or more, so a
# lone symbol is still split by spaCy's rules (°C, ©).
_SYMBOLS = _char_class(_SYMBOL_POINTS)
_EMOJI_MODIFIERS = "\U0001F3FB-\U0001F3FF\uFE0E\uFE0F\U000E0020-\U000E007F"
_EMOJI_UNIT = f"[{_SYMBOLS}][{_EMOJI_MODIFIERS}]*"
# One group: spaCy anchors each prefix with ^ and each suffix with $ by concatenation.
EMOJI_SEQUENCE = (
    "(?:[\\U0001F1E6-\\U0001F1FF]{2}"  # a flag
    "|(?<![0-9#*])[0-9#*]\\uFE0F?\\u20E3"  # a keycap: 1️⃣ #️⃣ (the xx rules split # off); not 12⃣
    f"|{_EMOJI_UNIT}(?:\\u200D{_EMOJI_UNIT})+"  # joined by ZERO WIDTH JOINER
    f"|[{_SYMBOLS}][{_EMOJI_MODIFIERS}]+)"  # modified
)
# One mark, or a run of them as one token (。。。, as ... is): a run split one mark at a time
# would also cost time quadratic in its length (spaCy strips one suffix per pass).
_PUNCT_RUN = f"[{SCRIPT_PUNCTUATION}]+"

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
    "apostrophe_elision",  # d'un -> d' un (a one- or two-letter word elided before a word)
    "final_apostrophes",  # ta' stays whole unless its apostrophe closes a quotation
    "final_one_letter_words",  # gen i. ends i . at the text's end (Latin letters)
    "symbol_runs",  # << ** -> || written apart are one token
    "dotted_abbreviations",  # t.d. e.g. ஐ.நா. keep their final full stop
    "reversed_emoticons",  # ): (; [= are punctuation, not emoticons
    "emoji_sequences",  # 👍🏽 ❤️ 👨‍👩‍👧 🇮🇪 are one token
    "html_tags",  # <strong> </a> <br/> are one token
    "grave_accent_quotes",  # ``Hallo'' opens with one token
    "cyrillic_letter_abbreviations",  # г. ж. keep their full stop
)

# A run of these written apart from words is one token (<< ** -> || //=): no quotes,
# brackets, sentence punctuation or emoji, whose runs UD treebanks split.
SYMBOL_RUN = r"[-/\\|&*+=<>~^#%@]{2,}"

# One or two letters of any script (each with its marks), a full stop after each group, two
# groups or more: one token with its final full stop (t.d., i.n., e.g., ஐ.நா., ஐ.ஏ.எஸ்.). The
# xx rules split the last full stop. A string with a longer group gives its final full stop
# back: the domains and names of UD's text (bbc.co.uk., J.Aron.), where no gold abbreviation
# has one; the cost is abbreviations that do (M.Phil., тыс.руб., Prof.Dr.), split too.
# A letter never begins with a mark (_LETTER holds the combining marks): otherwise a mark
# could be read as a letter or as a mark, and a failed match would try every reading, in
# time exponential in the number of groups (NFD "ệ." * 20 + "x").
_LETTER_WITH_MARKS = rf"(?![{MARKS}])[{_LETTER}][{MARKS}]*"
DOTTED_ABBREVIATION = rf"(?:{_LETTER_WITH_MARKS}(?:{_LETTER_WITH_MARKS})?\.){{2,}}"

# An HTML tag without attributes (a space splits a tag with attributes anyway): ASCII
# letters and digits, a closing or self-closing slash. Not <3, nor <duffie@Stanford.EDU>.
HTML_TAG = r"</?[A-Za-z][A-Za-z0-9]*/?>"

# A single Cyrillic letter (with any marks: decomposed text) and its full stop; not the
# one-letter words that end sentences and abbreviate nothing: я ("I" in Russian, Ukrainian,
# Belarusian: ``Гэта я.``) and Ukrainian є ("is": ``Так воно і є.``). Bulgarian е ("is")
# ends sentences too, but е. is also Russian's т. е. ("that is"), so it stays one token. An
# upper-case Я. is an initial (Я. Купала), and stays one token.
CYRILLIC_LETTER_ABBREVIATION = rf"(?![яє])[{CYRILLIC_LETTERS}][{MARKS}]*\."

# spaCy's emoticons that begin with a bracket: in running text they are a bracket
# followed by punctuation, ``(see above):``.
REVERSED_EMOTICONS = ("):", ")-:", "(:", "(-:", "(;", "(-;", "(=", "[:", "[-:", "[=", "]=")


def multilingual_prefixes(without=()):
    """spaCy's prefixes, with the changes of ``RULES`` not in ``without``."""
    dropped = set()
    if "hashtags" not in without:
        dropped.add("#")
    if "apostrophe_clitics" not in without:
        dropped.update(("\\'", "’"))
    out = [p for p in TOKENIZER_PREFIXES if p not in dropped]
    if "punctuation_runs" not in without:
        # First, so that a run written apart (``Dėl ko ?..``) is not taken one ? at a time.
        out.insert(0, r"[!?][!?.]+")
    if "hashtags" not in without:
        out.append(r"#(?![^\W_])")
    if "apostrophe_clitics" not in without:
        # A one-letter word written with a leading apostrophe, straight or curly ('n, ’n,
        # 's) keeps it; any other apostrophe before a word is split off, as spaCy does.
        out.append(rf"['’](?![a-z](?![\w'’{MARKS}]))")
    if "script_punctuation" not in without:
        # Before spaCy's prefixes, which take 。 ， ！ one at a time: a run written apart
        # (``好 。。。``) is one token, as at a word's end.
        out.insert(0, _PUNCT_RUN)
    if "emoji_sequences" not in without:
        # First: spaCy's symbol prefix would take the sequence's first code point alone.
        out.insert(0, EMOJI_SEQUENCE)
    if "html_tags" not in without:
        out.insert(0, HTML_TAG)  # before spaCy's prefix <, which would take it alone
    if "grave_accent_quotes" not in without:
        out.insert(0, "``")  # before spaCy's prefix `, which would take one at a time
    return out


def multilingual_suffixes(without=()):
    out = []
    if "punctuation_runs" not in without:
        # Not from a ! or ? that another ! or ? precedes, directly or across one or two
        # full stops (?.?.?): such a start is never the first match's, and tried from each
        # mark of a long run inside a word the search takes time quadratic in its length.
        out.append(r"(?<![!?])(?<![!?]\.)(?<![!?]\.\.)[!?][!?.]+")
    if "script_punctuation" not in without:
        # Only from a run's first mark: tried at every mark of a run inside a word, the
        # search would fail at each (no end of text), in time quadratic in the run's length.
        out.append(rf"(?<![{SCRIPT_PUNCTUATION}]){_PUNCT_RUN}")
    if "script_letters" not in without:
        out.append(rf"(?<=[{EXTRA_LETTERS}{COMBINING_MARKS}])\.")
    if "emoji_sequences" not in without:
        # A suffix search takes the match that starts first: the whole sequence. Not from a
        # symbol joined to the one before it (a later start is never the first), else a
        # long joined chain inside a word is scanned from each of its symbols.
        out.append(rf"(?<![{_SYMBOLS}{_EMOJI_MODIFIERS}]\u200D){EMOJI_SEQUENCE}")
    if "html_tags" not in without:
        out.append(HTML_TAG)  # starts before the suffix >, so the search takes the tag
    if "grave_accent_quotes" not in without:
        out.append("``")  # a closing quote written as the opening one: ``Hallo``
    return out + list(TOKENIZER_SUFFIXES)


def multilingual_infixes(without=()):
    out = list(TOKENIZER_INFIXES)
    if "emoji_sequences" not in without:
        out.insert(0, EMOJI_SEQUENCE)  # before spaCy's symbol infix, which splits code points
    if "html_tags" not in without:
        out.insert(0, HTML_TAG)  # between two words written together: a<b>c
    if "hyphenated_words" not in without:
        out.remove(_HYPHEN_INFIX)
        # Dashes between letters split; a plain hyphen or a tilde does not.
        out.append(rf"(?<=[{_LETTER}0-9])(?:–|—|--|---|——)(?=[{_LETTER}])")
    if "script_punctuation" not in without:
        out.append(rf"(?<=\S){_PUNCT_RUN}(?=\S)")
    if "apostrophe_clitics" not in without:
        # A one-letter clitic at the end of a word: i'r -> i 'r (a zero-width split);
        # not the Breton letter c'h.
        out.append(rf"(?<=[{_LETTER}])(?<![cC])(?=['’]{_ONE_LETTER_CLITIC})")
        out.append(rf"(?<=[cC])(?=['’](?![hH]){_ONE_LETTER_CLITIC})")
    if "apostrophe_elision" not in without:
        # A one- or two-letter word elided before a word of two letters or more:
        # d'un -> d' un, qu'il -> qu' il.
        # Latin script only: in Cyrillic the apostrophe is a sign inside words (аб’ект,
        # з’ява); and never the Breton letter c'h (c'hoant).
        # Not the English pronoun I (I'ma), nor a word before English's contractions
        # (_AFTER_ELISION: we'll, We're), which no language elides.
        out.append(rf"(?<=^[{LATIN}]['’])(?<!^[cCiI]['’])(?={_AFTER_ELISION})")
        out.append(rf"(?<=^[cC]['’])(?={_AFTER_ELISION})(?![hH])")
        out.append(rf"(?<=^[{LATIN}][{LATIN}]['’])(?={_AFTER_ELISION})")
    return out


def multilingual_token_match(without=()):
    """Whole strings kept as one token: hashtags and mentions, runs of symbols, dotted
    abbreviations, a Cyrillic letter with its full stop. spaCy tries it again after each
    prefix or suffix it strips, so ``(г.,`` keeps ``г.``."""
    patterns = []
    if "hashtags" not in without:
        patterns.append(r"[#@][^\W_][\w]*")
    if "symbol_runs" not in without:
        patterns.append(SYMBOL_RUN)
    if "dotted_abbreviations" not in without:
        patterns.append(DOTTED_ABBREVIATION)
    if "cyrillic_letter_abbreviations" not in without:
        patterns.append(CYRILLIC_LETTER_ABBREVIATION)
    return re.compile(f"^(?:{'|'.join(patterns)})$").match if patterns else None


def multilingual_exceptions(exceptions, without=()):
    """The language's special cases, less the reversed emoticons (unless left out)."""
    if "reversed_emoticons" in without:
        return exceptions
    return {text: tokens for text, tokens in exceptions.items() if text not in REVERSED_EMOTICONS}

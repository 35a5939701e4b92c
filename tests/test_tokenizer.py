"""The multilingual tokenizer: each rule on sentences written for the test (not UD text),
each rule's absence restoring spaCy's stock behaviour, config and disk round trips."""
import pytest
import spacy

from layer_fusion.tokenizer import multilingual_tokenizer
from layer_fusion.tokenizer_rules import RULES

CONFIG = {"nlp": {"tokenizer": {"@tokenizers": "layer_fusion.MultilingualTokenizer.v1"}}}


def words(text, without=()):
    nlp = spacy.blank("xx")
    nlp.tokenizer = multilingual_tokenizer(nlp, without=without)
    return [t.text for t in nlp(text)]


def stock(text):
    return [t.text for t in spacy.blank("xx")(text)]


# (rule, text, tokens with the rule) -- every case also differs from spaCy's xx rules.
CASES = [
    ("script_letters", "A dé ilé wọ̀.", ["A", "dé", "ilé", "wọ̀", "."]),
    ("script_letters", "Մենք տեսանք Վանը.", ["Մենք", "տեսանք", "Վանը", "."]),
    # Letters of scripts spaCy covers, missing from its classes: Belarusian ў, Kazakh қ.
    ("script_letters", "Я купіў.", ["Я", "купіў", "."]),
    ("script_letters", "Бұл жоқ.", ["Бұл", "жоқ", "."]),
    ("script_punctuation", "Ես տուն եմ։ Դու՝ ոչ։", ["Ես", "տուն", "եմ", "։", "Դու", "՝", "ոչ", "։"]),
    ("script_punctuation", "እሱ ቤት ነው። እሷ፣ አይደለችም።", ["እሱ", "ቤት", "ነው", "።", "እሷ", "፣", "አይደለችም", "።"]),
    ("script_punctuation", "राम घर गया॥", ["राम", "घर", "गया", "॥"]),
    ("script_punctuation", "သူ သွားတယ်။", ["သူ", "သွားတယ်", "။"]),
    ("script_punctuation", "គាត់ទៅផ្ទះ។", ["គាត់ទៅផ្ទះ", "។"]),
    # A run is one token, as ... is: written after a word, apart, and between words.
    ("script_punctuation", "እሱ ቤት ነው።። ።። አዎ፣፣አይ", ["እሱ", "ቤት", "ነው", "።።", "።።", "አዎ", "፣፣", "አይ"]),
    ("script_punctuation", "わかりません。。。I see", ["わかりません", "。。。", "I", "see"]),
    # Full-width marks spaCy lists one by one: a run apart, first or after a bracket is one
    # token too (spaCy's prefixes took one at a time).
    ("script_punctuation", "好 。。。 好", ["好", "。。。", "好"]),
    ("script_punctuation", "，，，好（！！）", ["，，，", "好", "（", "！！", "）"]),
    ("hyphenated_words", "a well-known co-author", ["a", "well-known", "co-author"]),
    ("hyphenated_words", "bir~iki", ["bir~iki"]),
    ("punctuation_runs", "Really?! No!! Why?..", ["Really", "?!", "No", "!!", "Why", "?.."]),
    ("punctuation_runs", "Why ?.. No !!", ["Why", "?..", "No", "!!"]),
    ("hashtags", "love #nlp and @ana!", ["love", "#nlp", "and", "@ana", "!"]),
    ("symbol_runs", "a << b ** c -> d (//)", ["a", "<<", "b", "**", "c", "->", "d", "(", "//", ")"]),
    ("dotted_abbreviations", "sagt t.d. at e.g. ஐ.நா. சபை",
     ["sagt", "t.d.", "at", "e.g.", "ஐ.நா.", "சபை"]),
    ("reversed_emoticons", "(see above): yes (b); no", ["(", "see", "above", ")", ":", "yes", "(", "b", ")", ";", "no"]),
    ("apostrophe_clitics", "mae'r tŷ sy'n fawr", ["mae", "'r", "tŷ", "sy", "'n", "fawr"]),
    ("apostrophe_clitics", "'n Boek", ["'n", "Boek"]),
    ("apostrophe_clitics", "Hy het ’n boek", ["Hy", "het", "’n", "boek"]),
    # A one-letter word before a one-letter clitic: the clitic, not elision (i' r).
    ("apostrophe_clitics", "i'r ysgol", ["i", "'r", "ysgol"]),
    ("apostrophe_elision", "l'homme qu'il voit", ["l'", "homme", "qu'", "il", "voit"]),
    ("final_apostrophes", "ktieb ta' Marija", ["ktieb", "ta'", "Marija"]),
    # A quotation's closing apostrophe stays split; a possessive after it does not.
    ("final_apostrophes", "the 'new race' and students' books",
     ["the", "'", "new", "race", "'", "and", "students'", "books"]),
    ("final_apostrophes", "‘Ráákà’ ni a' dul", ["‘", "Ráákà", "’", "ni", "a'", "dul"]),
    # A one-letter word ending the text, lower or upper case, before trailing whitespace; an
    # initial inside the text keeps its full stop.
    ("final_one_letter_words", "Does dim arian gen i.", ["Does", "dim", "arian", "gen", "i", "."]),
    ("final_one_letter_words", "J. Smith said X. Then Y.\n", ["J.", "Smith", "said", "X.", "Then", "Y", ".", "\n"]),
    # Skin tone, emoji variation selector, a flag (two regional indicators), written apart
    # and attached to words and punctuation.
    ("emoji_sequences", "great \U0001F44D\U0001F3FD I \u2764\uFE0F Cork \U0001F1EE\U0001F1EA!",
     ["great", "\U0001F44D\U0001F3FD", "I", "\u2764\uFE0F", "Cork", "\U0001F1EE\U0001F1EA", "!"]),
    ("emoji_sequences", "yes\U0001F44D\U0001F3FD wow!\U0001F1EE\U0001F1EA\U0001F1EC\U0001F1E7",
     ["yes", "\U0001F44D\U0001F3FD", "wow", "!", "\U0001F1EE\U0001F1EA", "\U0001F1EC\U0001F1E7"]),
    # Joined by ZERO WIDTH JOINER: a family, a woman rowing (♀ with a variation selector),
    # inside a word; a subdivision flag (tag characters).
    ("emoji_sequences", "we \U0001F468\u200D\U0001F469\u200D\U0001F467 row\U0001F6A3\u200D\u2640\uFE0Fnow",
     ["we", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "row", "\U0001F6A3\u200D\u2640\uFE0F", "now"]),
    ("emoji_sequences", "(\U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F)",
     ["(", "\U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F", ")"]),
    # Keycaps: # and a digit with the emoji variation selector and U+20E3, * without the
    # selector; the xx rules take # off as a prefix.
    ("emoji_sequences", "press #\uFE0F\u20E3 or *\u20E3, then 1\uFE0F\u20E3!",
     ["press", "#\uFE0F\u20E3", "or", "*\u20E3", ",", "then", "1\uFE0F\u20E3", "!"]),
    # At a word's start and end, written apart, inside a word; closing and self-closing.
    ("html_tags", "<strong>Увага</strong> тут <br/> a<b>c</b>.",
     ["<strong>", "Увага", "</strong>", "тут", "<br/>", "a", "<b>", "c", "</b>", "."]),
    # Opening a quotation, after a bracket, and written (wrongly) to close one.
    ("grave_accent_quotes", "Er sagte ``Hallo'' und (``ja``).",
     ["Er", "sagte", "``", "Hallo", "''", "und", "(", "``", "ja", "``", ")", "."]),
    # After a number, inside brackets and before a comma; one letter with a combining mark
    # (NFD й); an upper-case letter spaCy's classes miss (Kazakh Қ).
    ("cyrillic_letter_abbreviations", "у 1991 г. (ж.), т. е. и\u0306. Қ. Сәтбаев",
     ["у", "1991", "г.", "(", "ж.", ")", ",", "т.", "е.", "и\u0306.", "Қ.", "Сәтбаев"]),
]


@pytest.mark.parametrize("rule,text,expected", CASES, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(CASES)])
def test_rule_tokenizes_as_written_and_differs_from_stock_xx(rule, text, expected):
    assert words(text) == expected
    assert stock(text) != expected
    assert words(text, without=(rule,)) != expected  # the rule is what makes the difference


def test_punctuation_spacy_already_splits_stays_split():
    # Arabic, Devanagari danda, CJK full-width: in spaCy's lists already, and kept.
    assert words("ذهب الولد، ثم عاد؟") == ["ذهب", "الولد", "،", "ثم", "عاد", "؟"]
    assert words("राम घर गया।") == ["राम", "घर", "गया", "।"]
    assert words("他来了。你呢？") == ["他来了", "。", "你呢", "？"]


def test_what_is_not_changed():
    # Dashes between words, quotes, digits with a hyphen, the Breton letter c'h, English 's.
    assert words("word—word") == ["word", "—", "word"]
    assert words("so ». no 😍😍 ()") == stock("so ». no 😍😍 ()")  # quotes, emoji, brackets: not runs
    assert words("'hello' she said") == ["'", "hello", "'", "she", "said"]
    assert words("pages 10-12") == stock("pages 10-12")
    assert words("ar plac'h") == ["ar", "plac'h"]
    assert words("c'hoant C'hwec'h") == ["c'hoant", "C'hwec'h"]  # c'h is a letter, not elision
    assert words("аб’ект з’явіўся") == ["аб’ект", "з’явіўся"]  # Cyrillic apostrophe: no elision
    # nor a one-letter clitic: ім'я, сям’я are words
    assert words("ім'я сям’я сям'ю") == ["ім'я", "сям’я", "сям'ю"] == stock("ім'я сям’я сям'ю")
    # The English pronoun I is not elided: I'll stays whole (not I' ll); I'm is a clitic.
    assert words("I'll go, I’ve been, I'm here, i'll") == \
        ["I'll", "go", ",", "I’ve", "been", ",", "I", "'m", "here", ",", "i'll"]
    # Nor any short word before English's contractions 'll, 're, 've (not we' ll); a longer
    # word after the apostrophe is still elision (d'llama, qu'reste), and so is 're inside one.
    assert words("we'll see, We’re here, we've won, it'll RE'VE") == \
        ["we'll", "see", ",", "We’re", "here", ",", "we've", "won", ",", "it'll", "RE'VE"]
    assert words("d'llama qu'reste l'reel") == ["d'", "llama", "qu'", "reste", "l'", "reel"]
    assert words("John's car") == ["John", "'s", "car"]
    # A dotted abbreviation has groups of one or two letters (with their marks); a domain or
    # a name with a longer group gives its sentence-final full stop back.
    assert words("Read bbc.co.uk. Then ஐ.ஏ.எஸ். Ph.D. by J.Aron.") == \
        ["Read", "bbc.co.uk", ".", "Then", "ஐ.ஏ.எஸ்.", "Ph.D.", "by", "J.Aron", "."]
    assert words("fine :) sad :(") == ["fine", ":)", "sad", ":("]  # emoticons, eyes first
    assert words("in the U.S. and in 1996. Then") == ["in", "the", "U.S.", "and", "in", "1996", ".", "Then"]
    assert words("See https://example.org/a-b.html now.") == ["See", "https://example.org/a-b.html", "now", "."]
    # Emoji: one after another still split one by one (as in UD), a lone symbol as before,
    # a zero-width joiner inside a word of letters (Devanagari) untouched.
    assert words("lol \U0001F602\U0001F602 \U0001F44D\U0001F3FD\U0001F44D\U0001F3FD") == \
        ["lol", "\U0001F602", "\U0001F602", "\U0001F44D\U0001F3FD", "\U0001F44D\U0001F3FD"]
    assert words("20°C ©2020 ™") == stock("20°C ©2020 ™")
    assert words("12\u20E3 x") == stock("12\u20E3 x")  # not a keycap: two digits
    assert words("टिप्पणि\u200dयों") == ["टिप्पणि\u200dयों"]
    # Not HTML tags: a heart, an address in angle brackets, comparisons.
    for text in ("<3 you", "<duffie@Stanford.EDU>", "a < b > c", "3<5"):
        assert words(text) == stock(text)
    # A tag with attributes: the space splits it, and its parts are cut as before; the
    # closing tag has none.
    assert words('<a href="x">here</a>') == ["<", "a", 'href="x">here', "</a>"]
    # Armenian initials keep their full stop split, as ArmTDP writes them; two Cyrillic
    # letters are not an abbreviation.
    assert words("Ա. Սարգսյան") == ["Ա", ".", "Սարգսյան"]
    assert words("до н.э. и во.") == ["до", "н.э.", "и", "во", "."]
    # The words я and є end sentences; an upper-case Я. is an initial, т. е. an abbreviation.
    assert words("Гэта я. Так і є. Я. Купала, т. е.") == \
        ["Гэта", "я", ".", "Так", "і", "є", ".", "Я.", "Купала", ",", "т.", "е."]
    # One grave accent is still split off on its own (Markdown's `code`).
    assert words("a `b` c") == ["a", "`", "b", "`", "c"]


def test_without_every_rule_it_is_spacys_xx_tokenizer():
    text = ("A dé ilé wọ̀. Ես տուն եմ։ well-known Really?! #nlp mae'r 'n l'homme word—word "
            "'hello' 10-12 John's https://example.org/a-b.html ok\U0001F44D\U0001F3FD \U0001F1EE\U0001F1EA "
            "<b>x</b> у 1991 г. ``so''")
    assert words(text, without=RULES) == stock(text)


def test_word_final_apostrophe_across_quotations():
    # A quotation closed after punctuation, then one closed after a letter; each closes
    # once, so the possessive after them stays whole.
    text = "'Stop.' I said. He read 'the games' twice and the girls' too."
    assert words(text) == ["'", "Stop", ".", "'", "I", "said", ".", "He", "read", "'", "the",
                           "games", "'", "twice", "and", "the", "girls'", "too", "."]


@pytest.mark.parametrize("before", ["  ", "\n", " (", " [", " \u201c"])
def test_a_quotation_opens_after_whitespace_tokens_and_opening_brackets(before):
    """A line break or a second space is a token of its own, and an opening bracket or quote
    touches the apostrophe: a quotation opens there all the same, so its closing apostrophe
    is not glued to the word before it; a possessive after it still is."""
    got = [w for w in words(f"He read{before}'the games' and the girls' too") if not w.isspace()]
    assert got[got.index("games"):] == ["games", "'", "and", "the", "girls'", "too"]


@pytest.mark.parametrize("quote", ['"', "\u00bb", "\u201d"])
def test_a_quotation_opens_at_an_apostrophe_between_a_quote_and_a_word(quote):
    """``"'Hello'`` (German ``»'Hallo'``, Swedish ``”'Hej'``): the apostrophe after the quote
    opens a quotation, so the one after Hello closes it and the possessive stays whole."""
    assert words(f"He said {quote}'Hello' and the boys' toys")[2:] == [quote, "'", "Hello", "'", "and", "the",
                                                                    "boys'", "toys"]


def test_a_quote_before_a_closing_apostrophe_does_not_open_one():
    """``"no"'`` then a word: the apostrophe after the quote closes the quotation opened
    before; the possessive after it stays whole."""
    assert words("He said 'the word \"no\"' and the boys' toys") == [
        "He", "said", "'", "the", "word", '"', "no", '"', "'", "and", "the", "boys'", "toys"]


def test_suffix_rules_guarded_against_quadratic_search_find_what_they_found():
    """The guards on the ! ? run and emoji-sequence suffixes (no search from inside a run)
    keep the match that starts first, which is the one spaCy strips."""
    import re

    from layer_fusion.tokenizer_rules import EMOJI_SEQUENCE, multilingual_suffixes

    runs = re.compile(r"(?<![!?])(?<![!?]\.)(?<![!?]\.\.)[!?][!?.]+$")
    assert r"(?<![!?])(?<![!?]\.)(?<![!?]\.\.)[!?][!?.]+" in multilingual_suffixes()
    for text in ["Why?..", "a.?!", "a..?!?", "a?.?.?", "a?...?", "a!?!b?", "?!", "a...!", "a.?.?..!"]:
        plain = re.search(r"[!?][!?.]+$", text)
        guarded = runs.search(text)
        assert (plain and plain.span()) == (guarded and guarded.span()), text
    emoji = re.compile(next(p for p in multilingual_suffixes() if p.endswith(EMOJI_SEQUENCE)) + "$")
    for text in ["a\U0001F468\u200d\U0001F469\u200d\U0001F467", "a\U0001F44D\U0001F3FD", "\U0001F1EE\U0001F1EA",
                 "x\U0001F3FD\u200d\U0001F602", "a\U0001F602\u200d"]:
        plain = re.search(EMOJI_SEQUENCE + "$", text)
        guarded = emoji.search(text)
        assert (plain and plain.span()) == (guarded and guarded.span()), text


def test_dotted_abbreviations_fail_without_trying_every_reading_of_the_marks():
    """Decomposed text (NFD) puts a mark after each letter of a dotted string. If a mark could be
    read both as a letter and as a mark, a string that is not an abbreviation would be tried
    every way (3 ** 30 here) before it failed: the tokenizer would hang, so it runs in a child
    process with a bound no working version comes near (it takes milliseconds)."""
    import subprocess
    import sys
    import unicodedata

    text = unicodedata.normalize("NFD", "Thế là " + "ệ." * 30 + "x xong.")
    code = ("import sys, spacy\n"
            "from layer_fusion.tokenizer import multilingual_tokenizer\n"
            "tok = multilingual_tokenizer(spacy.blank('xx'))\n"
            "print('|'.join(t.text for t in tok(sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", code, text], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.rstrip("\n").split("|")[-2:] == ["xong", "."]
    # the same string that ends as an abbreviation still is one
    assert words(unicodedata.normalize("NFD", "ệ." * 30 + " x")) == [unicodedata.normalize("NFD", "ệ." * 30), "x"]


def test_a_curly_one_letter_word_does_not_open_a_quotation():
    """Afrikaans ’n is one token, not an opening ’ before n, so the possessive apostrophe
    after it is not taken for the quotation's close."""
    assert words("’n Boek en die kinders' speelgoed") == ["’n", "Boek", "en", "die", "kinders'", "speelgoed"]


def test_combining_marks_are_part_of_the_word_after_an_apostrophe():
    """Decomposed text (NFD) tokenizes as its composed form does; a letter with a combining
    mark after an apostrophe is not a one-letter clitic (Python's \\w leaves marks out)."""
    import unicodedata

    # Elision before a longer word; a one-letter clitic with its accent (c'è as c 'è).
    for composed in ("l'école", "l’été", "s'étaient", "d'ól", "c'è", "dell'è", "qu'à"):
        decomposed = unicodedata.normalize("NFD", composed)
        assert decomposed != composed
        assert words(decomposed) == [unicodedata.normalize("NFD", w) for w in words(composed)]
    assert words("l'e\u0301cole") == ["l'", "e\u0301cole"]
    # Yoruba: NFC keeps the tone mark on ọ unfused (ọ + U+0300); elision, not a clitic 'ọ.
    assert words("Ó gbé e l'ọ́wọ́.") == ["Ó", "gbé", "e", "l'", "ọ́wọ́", "."]
    assert words("n'ọ̀nà") == ["n'", "ọ̀nà"]
    # A one-letter clitic is still one where a space or punctuation follows its letter.
    assert words("sy'n, i'r") == ["sy", "'n", ",", "i", "'r"]


def test_word_final_apostrophes_join_as_spacys_retokenizer_merges_and_keep_exception_norms():
    """``joined_to_previous`` (one pass) against ``Doc.retokenize`` merges (the reference,
    quadratic in the doc's length): same tokens, whitespace, and the norms a tokenizer
    exception set on the other tokens."""
    from layer_fusion.final_apostrophes import joined_to_previous, word_final_apostrophes

    nlp = spacy.blank("xx")
    nlp.tokenizer = multilingual_tokenizer(nlp)
    nlp.tokenizer.add_special_case("gonna", [{"ORTH": "gon", "NORM": "going"}, {"ORTH": "na", "NORM": "to"}])
    text = "ktieb ta' Marija  gonna read students' books, 'the games' and ta'\nta' "
    nlp.tokenizer.final_apostrophes = False
    split = nlp(text)
    merges = word_final_apostrophes(split)
    assert len(merges) == 4
    reference = nlp(text)
    with reference.retokenize() as retokenizer:
        for i in merges:
            retokenizer.merge(reference[i - 1 : i + 1])
    joined = joined_to_previous(split, merges)
    assert joined.text == text
    assert [(t.text, t.whitespace_, t.norm_) for t in joined] == \
        [(t.text, t.whitespace_, t.norm_) for t in reference]
    assert [t.norm_ for t in joined if t.text in ("gon", "na")] == ["going", "to"]
    nlp.tokenizer.final_apostrophes = True
    assert [t.text for t in nlp(text)] == [t.text for t in joined]


@pytest.mark.parametrize("setting", ["final_apostrophes", "final_one_letter_words"])
def test_whole_text_rule_settings_survive_saving_and_pickling(tmp_path, setting):
    import pickle

    from spacy.tokenizer import Tokenizer

    from layer_fusion.tokenizer import MultilingualTokenizer

    assert setting in MultilingualTokenizer.SETTINGS
    nlp = spacy.blank("xx")
    for without in ((), (setting,)):
        tokenizer = multilingual_tokenizer(nlp, without=without)
        on = not without
        assert getattr(pickle.loads(pickle.dumps(tokenizer)), setting) is on
        fresh = multilingual_tokenizer(nlp, without=(setting,) if on else ())
        assert getattr(fresh.from_bytes(tokenizer.to_bytes()), setting) is on
        tokenizer.to_disk(tmp_path / "tokenizer")
        assert getattr(multilingual_tokenizer(nlp).from_disk(tmp_path / "tokenizer"), setting) is on
    # A pipeline saved before the rule existed keeps its tokens: the rule stays off.
    old = multilingual_tokenizer(nlp).from_bytes(Tokenizer(nlp.vocab).to_bytes())
    assert getattr(old, setting) is False
    before_this_rule = srsly_without(multilingual_tokenizer(nlp).to_bytes(), setting)
    assert getattr(multilingual_tokenizer(nlp).from_bytes(before_this_rule), setting) is False
    assert getattr(multilingual_tokenizer(nlp).from_bytes(before_this_rule), next(
        other for other in MultilingualTokenizer.SETTINGS if other != setting)) is True


def srsly_without(data: bytes, key: str) -> bytes:
    import srsly

    loaded = srsly.msgpack_loads(data)
    del loaded[key]
    return srsly.msgpack_dumps(loaded)


def test_a_one_letter_word_gives_its_full_stop_back_only_at_the_texts_end():
    """Where the rule applies and where it does not, against the same text without it."""
    same = "Dywedodd i. Wedyn"  # inside the text: the exceptions' i. stays
    assert words(same) == words(same, without=("final_one_letter_words",)) == ["Dywedodd", "i.", "Wedyn"]
    # Decomposed text: the letter with its combining mark; the text's last token only.
    assert words("Ó sí i\u0301.") == ["Ó", "sí", "i\u0301", "."]
    assert words("gen i.  \n") == ["gen", "i", ".", " \n"]
    # Not a Cyrillic letter (kept: Belarusian-HSE's 1932 г.), not two letters or an
    # abbreviation with dots, not a letter alone or a full stop alone.
    for kept in ("у 1932 г.", "in the U.S.", "e.g.", "Dr.", "i", ".", "", " "):
        assert words(kept) == words(kept, without=("final_one_letter_words",)), kept
    assert words("ab.") == ["ab", "."]


def test_the_final_full_stop_split_keeps_the_text_and_exception_norms():
    """``full_stop_split_off`` (one pass) against ``Doc.retokenize`` splitting the same token
    (the reference): same tokens and whitespace, and a norm a tokenizer exception set on
    another token is kept."""
    from layer_fusion.final_one_letter_words import final_one_letter_word, full_stop_split_off

    nlp = spacy.blank("xx")
    nlp.tokenizer = multilingual_tokenizer(nlp, without=("final_one_letter_words",))
    nlp.tokenizer.add_special_case("gonna", [{"ORTH": "gon", "NORM": "going"}, {"ORTH": "na", "NORM": "to"}])
    text = "gonna see X.\n"
    doc = nlp(text)
    i = final_one_letter_word(doc)
    assert doc[i].text == "X."
    reference = nlp(text)
    with reference.retokenize() as retokenizer:
        retokenizer.split(reference[i], ["X", "."], heads=[(reference[i], 1), reference[i - 1]])
    split = full_stop_split_off(doc, i)
    assert split.text == text
    assert [(t.text, t.whitespace_, t.norm_) for t in split] == [(t.text, t.whitespace_, t.norm_) for t in reference]
    assert [t.norm_ for t in split if t.text in ("gon", "na")] == ["going", "to"]


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="unknown tokenizer rule"):
        multilingual_tokenizer(spacy.blank("xx"), without=("hyphens",))


def test_registered_and_saved_with_the_pipeline(tmp_path):
    nlp = spacy.blank("xx", config=CONFIG)
    text = "Ես տուն եմ։ #nlp well-known ta' Marija t.d. (a): <b>г.</b>"
    expected = ["Ես", "տուն", "եմ", "։", "#nlp", "well-known", "ta'", "Marija", "t.d.", "(", "a", ")", ":",
                "<b>", "г.", "</b>"]
    assert [t.text for t in nlp(text)] == expected
    nlp.to_disk(tmp_path / "p")
    assert [t.text for t in spacy.load(tmp_path / "p")(text)] == expected


def test_bad_segmenter_setting_names_the_setting():
    config = {"nlp": {"tokenizer": {**CONFIG["nlp"]["tokenizer"], "segmenter": "xx"}}}
    with pytest.raises(ValueError, match=r"\[nlp.tokenizer\] segmenter = 'xx'"):
        spacy.blank("xx", config=config)

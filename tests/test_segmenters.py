"""The word segmenters behind `--lang` and `segmenter = ...`: the words they find, the
error when an extra is missing, and saved pipelines with and without one."""
import importlib

import pytest
import spacy

from layer_fusion.segmenters import ThaiSegmenter, make_segmenter

TOKENIZER = {"@tokenizers": "layer_fusion.MultilingualTokenizer.v1"}


# pythainlp.tokenize.deepcut fails to import under PyThaiNLP before 5.4 (no deepcut package).
@pytest.mark.parametrize("missing", ["pythainlp", "pythainlp.tokenize.deepcut"])
def test_missing_segmenter_dependency_names_the_extra(monkeypatch, missing):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == missing:
            raise ImportError(f"No module named {missing!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r'pip install "spacy-layer-fusion\[th\]"'):
        make_segmenter(spacy.blank("xx").vocab, "th")
    with pytest.raises(ValueError, match="no word segmenter for language 'xx'"):
        make_segmenter(spacy.blank("xx").vocab, "xx")


@pytest.mark.parametrize("lang,text,words", [
    # Thai: BEST's conventions (DeepCut's training data) split compounds such as โรงเรียน.
    ("th", "ฉันไปโรงเรียนทุกวัน แล้วกลับบ้าน", ["ฉัน", "ไป", "แล้ว", "กลับ", "บ้าน"]),
    ("vi", "Tôi là sinh viên ở Hà Nội.", ["sinh viên", "Hà Nội"]),  # words of several syllables, spaced
    ("zh", "我们今天去学校学习。", ["我们", "今天", "学校"]),
    ("ja", "私は毎日学校に行きます。", ["毎日", "学校"]),
])
def test_segmenters_cover_the_text_and_find_words(lang, text, words):
    nlp = spacy.blank("xx")
    nlp.tokenizer = make_segmenter(nlp.vocab, lang)
    doc = nlp(text)
    assert doc.text == text
    found = [t.text for t in doc if not t.is_space]
    assert set(words) <= set(found), found
    if lang != "vi":  # more than the whitespace split finds, fewer than one per character
        assert len(text.split()) < len(found) < len(text.replace(" ", ""))


@pytest.mark.parametrize("lang,text", [
    ("th", "ฉันไปโรงเรียน"), ("vi", "Tôi là sinh viên."), ("zh", "我们今天去学校。"), ("ja", "私は学校に行きます。"),
    ("mt", "Il-kelb tal-Kunsill."), ("en", "I don't know Dr. Smith."),
])
def test_segmenter_setting_loads_either_way_and_keeps_the_rules(tmp_path, lang, text):
    """README: ``segmenter = ...`` under ``[nlp.tokenizer]``. A pipeline saved without one
    (as shipped) loads with one, and saved again loads without one, its rules intact."""
    plain = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    plain.tokenizer.add_special_case("gonna", [{"ORTH": "gon"}, {"ORTH": "na"}])
    plain.to_disk(tmp_path / "plain")
    segmenter = make_segmenter(plain.vocab, lang)
    expected = [t.text for t in segmenter(text)]
    assert expected != [t.text for t in plain(text)]  # the segmenter changes something

    nlp = spacy.load(tmp_path / "plain", config={"nlp": {"tokenizer": {"segmenter": lang}}})
    assert isinstance(nlp.tokenizer.segmenter, type(segmenter))
    assert [t.text for t in nlp(text)] == expected
    nlp.to_disk(tmp_path / "segmented")
    assert [t.text for t in spacy.load(tmp_path / "segmented")(text)] == expected
    if lang == "mt":  # the article split refines the pipeline's own rules, special cases included
        assert [t.text for t in spacy.load(tmp_path / "segmented")("we gonna il-kelb")] == \
            ["we", "gon", "na", "il-", "kelb"]
    if lang == "en":  # so do the English exceptions; a special case of the rules wins over theirs
        own = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
        own.tokenizer.add_special_case("Dr.", [{"ORTH": "D"}, {"ORTH": "r."}])
        own.to_disk(tmp_path / "own")
        own = spacy.load(tmp_path / "own", config={"nlp": {"tokenizer": {"segmenter": lang}}})
        assert [t.text for t in own("we gonna Dr. don't")] == ["we", "gon", "na", "D", "r.", "do", "n't"]

    back = spacy.load(tmp_path / "segmented", config={"nlp": {"tokenizer": {"segmenter": None}}})
    assert [t.text for t in back("we gonna go")] == ["we", "gon", "na", "go"]
    assert [t.text for t in back(text)] == [t.text for t in plain(text)]
    assert back.tokenizer.to_bytes(exclude=["vocab"]) == plain.tokenizer.to_bytes(exclude=["vocab"])


# DeepCut's own engine (deepcut 0.7.0.0 on TensorFlow 2.21, `deepcut.tokenize`) on this text,
# spaces left out. PyThaiNLP runs an ONNX port of the same network; over the 1,000 Thai-PUD
# texts the two segment identically once PyThaiNLP's joining of split numbers is off.
DEEPCUT_TEXT = "ร้านกาแฟแห่งนี้เปิดตั้งแต่เช้าตรู่จนถึงเที่ยงคืน ทุกวัน"
DEEPCUT_WORDS = ["ร้าน", "กาแฟ", "แห่ง", "นี้", "เปิด", "ตั้งแต่", "เช้าตรู่", "จนถึง", "เที่ยง", "คืน", "ทุก", "วัน"]


def test_thai_default_is_deepcut_and_matches_its_own_engine():
    """docs/selection_protocol.md picks DeepCut. AttaCut segments this text otherwise
    (จน | ถึง, เที่ยงคืน), so the reference also shows which engine ran."""
    nlp = spacy.blank("xx")
    nlp.tokenizer = make_segmenter(nlp.vocab, "th")
    doc = nlp(DEEPCUT_TEXT)
    assert [t.text for t in doc if not t.is_space] == DEEPCUT_WORDS
    assert doc.text == DEEPCUT_TEXT
    attacut = ThaiSegmenter(nlp.vocab, engine="attacut")
    assert [t.text for t in attacut(DEEPCUT_TEXT) if not t.is_space] != DEEPCUT_WORDS


def test_segmenting_tokenizer_keeps_its_rules_when_a_segmenter_saved_nothing_or_a_folder(tmp_path):
    """Pipelines saved by a segmenter itself hold no tokenizer file (th) or a folder of its
    settings (vi, zh, ja): loading keeps the rules the config built."""
    from layer_fusion.segmenters import SegmentingTokenizer

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    built = nlp.tokenizer.to_bytes(exclude=["vocab"])
    tokenizer = SegmentingTokenizer(nlp.tokenizer, make_segmenter(nlp.vocab, "th"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "cfg").write_text("{}")
    tokenizer.from_disk(tmp_path / "folder").from_disk(tmp_path / "missing").from_bytes(b"")
    assert tokenizer.rules.to_bytes(exclude=["vocab"]) == built
    # to_bytes of spaCy's vi segmenter: its settings, which used to wipe the rules' special cases
    from spacy.lang.vi import VietnameseTokenizer

    tokenizer.from_bytes(VietnameseTokenizer(nlp.vocab).to_bytes())
    assert tokenizer.rules.to_bytes(exclude=["vocab"]) == built


def test_readme_attacut_recipe_tags_with_attacut_and_saves_a_pipeline_that_loads(tmp_path):
    """README: the engine is set on a loaded pipeline. A bare ThaiSegmenter in its place
    saved no tokenizer file, so the saved pipeline did not load."""
    from layer_fusion.segmenters import SCRIPT_RUNS, SegmentingTokenizer

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    rules = nlp.tokenizer
    nlp.tokenizer = SegmentingTokenizer(nlp.tokenizer, ThaiSegmenter(nlp.vocab, engine="attacut"), SCRIPT_RUNS["th"])
    attacut = [t.text for t in ThaiSegmenter(nlp.vocab, engine="attacut")(DEEPCUT_TEXT)]
    assert [t.text for t in nlp(DEEPCUT_TEXT)] == attacut
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert [t.text for t in loaded(DEEPCUT_TEXT)] == [t.text for t in rules(DEEPCUT_TEXT)]


@pytest.mark.parametrize("lang,text,whole", [
    ("th", "ฉันไปเที่ยวZürichกับJosé ที่ร้านcafé ดูได้ที่ https://example.com/a-b ราคา 5,000 บาท",
     ["Zürich", "José", "café", "https://example.com/a-b", "5,000"]),
    ("zh", "我和José在Zürich的café见面，网址是https://example.com/a-b。", ["José", "Zürich", "café"]),
])
def test_a_segmenter_splits_only_its_own_script(lang, text, whole):
    """Latin words, URLs and numbers inside Thai or Chinese text are the rule-based
    tokenizer's: DeepCut cut `Zürich` into `Z ü rich`, jieba `José` into `Jos é`. The text
    in the segmenter's script is segmented as it is alone."""
    from layer_fusion.segmenters import SCRIPT_RUNS, segmenting_tokenizer

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    rules = nlp.tokenizer
    nlp.tokenizer = segmenting_tokenizer(rules, lang)
    doc = nlp(text)
    assert doc.text == text
    found = [t.text for t in doc if not t.is_space]
    assert all(word in found for word in whole), found
    segmenter = make_segmenter(nlp.vocab, lang)
    runs = [m.group() for m in SCRIPT_RUNS[lang].finditer(text)]
    from_runs = [t.text for run in runs for t in segmenter(run) if not t.is_space]
    assert [w for w in found if SCRIPT_RUNS[lang].fullmatch(w)] == \
        [w for w in from_runs if SCRIPT_RUNS[lang].fullmatch(w)]
    # A line in the script alone is segmented as by the segmenter itself.
    assert [t.text for t in nlp(DEEPCUT_TEXT if lang == "th" else runs[0])] == \
        [t.text for t in segmenter(DEEPCUT_TEXT if lang == "th" else runs[0])]


@pytest.mark.parametrize("lang,script_word", [("zh", "我"), ("th", "ที่")])
def test_a_quotation_open_before_a_run_in_the_segmenters_script_closes_after_it(lang, script_word):
    """The rules joined word-final apostrophes piece by piece between the segmenter's runs, so a
    quotation opened before a run was forgotten after it: its closing apostrophe was glued
    to the word (``Bern'``). A possessive after the quotation stays whole."""
    from layer_fusion.segmenters import segmenting_tokenizer

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    tokenizer = segmenting_tokenizer(nlp.tokenizer, lang)
    got = [t.text for t in tokenizer(f"'Zürich {script_word} Bern' and girls' toys")]
    assert got == ["'", "Zürich", script_word, "Bern", "'", "and", "girls'", "toys"]


@pytest.mark.parametrize("lang,script_word", [("zh", "我"), ("th", "ที่"), ("mt", "il-kelb"), ("en", "don't")])
def test_a_one_letter_word_ending_the_text_gives_its_full_stop_back_with_a_segmenter_too(lang, script_word):
    """The rules' whole-text steps run on the Doc a segmenter's runs and the rules' pieces
    make together: the text's end is known there, not in a piece before a run."""
    from layer_fusion.segmenters import segmenting_tokenizer

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    tokenizer = segmenting_tokenizer(nlp.tokenizer, lang)
    assert [t.text for t in tokenizer(f"J. {script_word} X.")][-2:] == ["X", "."]
    assert [t.text for t in tokenizer(f"X. {script_word}")][0] == "X."


@pytest.mark.parametrize("lang,text,word", [
    ("zh", "葛\U000E0100城是", "葛\U000E0100"),  # an ideographic variation selector
    ("zh", "我爱\ufe00你", "爱\ufe00"),
    ("th", "ก\u0301", "ก\u0301"),  # a combining mark no Thai letter composes with
])
def test_a_character_keeps_its_marks_in_the_segmenters_script(lang, text, word):
    """A mark after a character of the script was cut from it: the script's runs left it
    out (the rules took it alone), and jieba and DeepCut cut it off themselves."""
    from layer_fusion.segmenters import segmenting_tokenizer

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": TOKENIZER}})
    doc = segmenting_tokenizer(nlp.tokenizer, lang)(text)
    assert doc.text == text
    assert word in [t.text for t in doc]


def test_japanese_line_longer_than_sudachipy_takes_is_segmented_in_pieces():
    """SudachiPy refuses more than 49,149 UTF-8 bytes at once; the segmenter cuts such a line
    after sentence ends, so its words are those of each sentence on its own."""
    nlp = spacy.blank("xx")
    nlp.tokenizer = make_segmenter(nlp.vocab, "ja")
    sentence = "私は毎日学校に行きます。"
    words = [t.text for t in nlp(sentence)]
    text = sentence * 1500  # 54,000 bytes
    doc = nlp(text)
    assert doc.text == text
    assert [t.text for t in doc] == words * 1500
    assert doc[3].tag_ == nlp(sentence)[3].tag_  # SudachiPy's own attributes are kept
    assert not doc.has_annotation("SENT_START")  # no sentence starts where the pieces join
    # A decimal point is no place to cut: the pieces end after sentence ends.
    prices = "あいうえお" + "価格は3.5ドルです。" * 1900  # 51,315 bytes
    assert "3" not in [t.text for t in nlp(prices)]


@pytest.mark.parametrize("text,max_bytes,pieces", [
    ("ab. cd. ef", 16, ["ab. ", "cd. ", "ef"]),  # 4 characters a piece, cut after the space
    ("abcdefghij", 16, ["abcd", "efgh", "ij"]),  # no place to cut: where full
    ("語語。語語語語語", 20, ["語語。", "語語語語語"]),  # 5 characters a piece
    ("あいうえお。か3.5きくけこ", 40, ["あいうえお。", "か3.5きくけこ"]),  # not after a decimal point
    ("x" * 9 + "\r\n" + "y" * 10, 40, ["x" * 9, "\r\n" + "y" * 8, "yy"]),  # \r\n kept whole
    ("ab   cdefgh", 16, ["ab", "   ", "cdef", "gh"]),  # before or after a run of spaces
    ("ae\u0301e\u0301e\u0301", 16, ["ae\u0301", "e\u0301e\u0301"]),  # a letter keeps its mark
    ("short", 49_149, ["short"]),
])
def test_text_pieces_fit_and_join_back(text, max_bytes, pieces):
    from layer_fusion.segmenter_wrappers import text_pieces

    assert text_pieces(text, max_bytes) == pieces
    assert "".join(pieces) == text and all(len(p.encode("utf-8")) <= max_bytes for p in pieces)

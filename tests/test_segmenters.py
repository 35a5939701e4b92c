"""The word segmenters behind `--lang` and `segmenter = ...`: the words they find, the
error when an extra is missing, and a saved pipeline that uses one."""
import importlib

import pytest
import spacy

from layer_fusion.segmenters import ThaiSegmenter, make_segmenter

TOKENIZER = {"@tokenizers": "layer_fusion.MultilingualTokenizer.v1"}


def test_missing_segmenter_dependency_names_the_extra(monkeypatch):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "pythainlp":
            raise ImportError("No module named 'pythainlp'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r'pip install "spacy-layer-fusion\[th\]"'):
        make_segmenter(spacy.blank("xx").vocab, "th")
    with pytest.raises(ValueError, match="no word segmenter for language 'xx'"):
        make_segmenter(spacy.blank("xx").vocab, "xx")


@pytest.mark.parametrize("lang,text", [
    ("th", "ฉันไปโรงเรียนทุกวัน แล้วกลับบ้าน"),
    ("vi", "Tôi là sinh viên ở Hà Nội."),
    ("zh", "我们今天去学校学习。"),
    ("ja", "私は毎日学校に行きます。"),
])
def test_segmenters_cover_the_text_and_find_words(lang, text):
    nlp = spacy.blank("xx")
    nlp.tokenizer = make_segmenter(nlp.vocab, lang)
    doc = nlp(text)
    assert doc.text == text
    found = [t.text for t in doc if not t.is_space]
    if lang == "vi":  # words of several syllables, written with spaces inside
        assert "sinh viên" in found and "Hà Nội" in found
    else:  # more than the whitespace split finds, fewer than one per character
        assert len(text.split()) < len(found) < len(text.replace(" ", ""))


def test_thai_segmenter_in_a_saved_pipeline(tmp_path):
    config = {"nlp": {"tokenizer": {**TOKENIZER, "segmenter": "th"}}}
    nlp = spacy.blank("xx", config=config)
    assert isinstance(nlp.tokenizer, ThaiSegmenter)
    nlp.to_disk(tmp_path / "p")
    text = "ฉันไปโรงเรียน"
    assert [t.text for t in spacy.load(tmp_path / "p")(text)] == [t.text for t in nlp(text)]


def test_thai_default_is_deepcut_and_matches_its_own_api():
    """docs/selection_protocol.md picks DeepCut; PyThaiNLP only wraps it, spaces excepted.
    AttaCut segments this text otherwise (จน | ถึง, เที่ยงคืน), so the engine is checked too."""
    import deepcut  # the th extra, installed by make setup

    text = "ร้านกาแฟแห่งนี้เปิดตั้งแต่เช้าตรู่จนถึงเที่ยงคืน ทุกวัน"
    nlp = spacy.blank("xx")
    nlp.tokenizer = make_segmenter(nlp.vocab, "th")
    expected = [w for w in deepcut.tokenize(text) if not w.isspace()]
    assert [t.text for t in nlp(text) if not t.is_space] == expected
    assert nlp(text).text == text
    attacut = ThaiSegmenter(nlp.vocab, engine="attacut")
    assert [t.text for t in attacut(text) if not t.is_space] != expected

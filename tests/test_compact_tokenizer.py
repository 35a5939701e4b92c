"""The compact (SentencePiece-library) tokenizer against the fast tokenizer it stands in for:
the same wordpieces per word, the same batch encoding, the same tags from a loaded pipeline,
and a saved pipeline unchanged."""
import filecmp
import json
import shutil
import unicodedata

import numpy
import pytest
import spacy
import torch
from pipelines import listener_config, synthetic_examples, trained_fusion_transformer, transformer_config

from layer_fusion.encoder.sentencepiece_model import spm_to_hf_id
from layer_fusion.compact_tokenizer import SentencePieceWordTokenizer, is_compact, load_compact
from layer_fusion.length_order import wordpiece_lengths
from layer_fusion.research.tiny_models import build_tiny_xlmr

SENTENCES = [
    "the cat sat on the mat, and the dog ran to the house!",
    "Ọmọ náà ń ṣeré ní àgbàlá.",
    "Mo fẹ́ lọ sí ọjà lọ́la.",
    "ang aso ay nasa bahay",
    "குழந்தை வீடு சென்றது",
    "бала үйге барды",
    "der Hund und die Katze",
    "ሰላም ነው። እሺ፣",
    "hello... world!!! 2021-03-05 (iii) ***",
] * 30

WORDS = sorted({w for s in SENTENCES for w in s.split()}) + [
    # whitespace and characters the normalizer removes: the fast tokenizer's "▁"
    " ", "  ", "\n", "\t", "\u00a0", "\u3000", "\u200b", "\u200b\u200b", "\ufeff", "",
    # trailing and inner whitespace, combining marks (NFD), unknown characters
    "cat ", " cat", "cat dog", "a\u0301", "ẹ́.", "😀", "ᚠᚢᚦ", "\x00",
    "ﬁ", "①", "ＡＢＣ", "!!!!!!!!", "((((", "........", "e-mail", "don't",
    # ends the normalizer maps to a space (zero-width joiners, a byte-order mark) or removes
    # (control characters that str.isspace calls whitespace), and one it keeps (NEL)
    "cat\u200b", "cat\u200c", "cat\u200d", "cat\ufeff", "cat\x0b", "cat\x1c", "cat\x1f", "cat\x85",
    "cat \x1c", "\x7f", "\x0b", "\x1c", "\x01",
]


@pytest.fixture(scope="module")
def xlmr_layout(tmp_path_factory):
    """A tiny XLM-R whose SentencePiece model has XLM-R's layout, as the real encoder's does."""
    return build_tiny_xlmr(tmp_path_factory.mktemp("xlmr_layout"), sentences=SENTENCES, vocab_size=100,
                           xlmr_layout=True)


def original_xlmr_normalizer(folder):
    """Rewrite ``folder``'s tokenizer.json with the normalizer of XLM-R's original
    tokenizer.json (multilingual-e5-small's): no ``Strip``, runs of spaces to one space.
    Converting a SentencePiece model with recent transformers (4.53 here) gives the other one."""
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf8"))
    steps = [n for n in data["normalizer"]["normalizers"] if n["type"] != "Strip"]
    for step in steps:
        if step["type"] == "Replace":
            step["content"] = " "
    data["normalizer"]["normalizers"] = steps
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf8")


@pytest.fixture(scope="module", params=["converted", "original"])
def tokenizers(request, xlmr_layout, tmp_path_factory):
    """(compact, fast) for a tokenizer.json as transformers converts it today (trailing
    whitespace stripped) and as XLM-R's original one (kept)."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp(request.param)
    for path in xlmr_layout.iterdir():
        shutil.copy(path, folder / path.name)
    if request.param == "original":
        original_xlmr_normalizer(folder)
    compact = load_compact(folder)
    assert compact is not None
    assert compact.keeps_trailing_space == (request.param == "original")
    return compact, AutoTokenizer.from_pretrained(str(folder), use_fast=True)


def _score(compact, ids):
    return sum(compact.sp_model.get_score(compact.sp_model.piece_to_id(p)) for p in compact.convert_ids_to_tokens(ids))


def test_each_word_gets_the_fast_tokenizers_pieces_or_an_equal_scoring_tie(tokenizers):
    compact, fast = tokenizers
    ours = compact.encode_words(WORDS)
    theirs = fast(WORDS, add_special_tokens=False)["input_ids"]
    ties = []
    for word, a, b in zip(WORDS, ours, theirs):
        if a == b:
            continue
        pieces_a, pieces_b = compact.convert_ids_to_tokens(a), fast.convert_ids_to_tokens(b)
        # A tie: the same text cut differently, with the same Unigram score.
        assert "".join(pieces_a) == "".join(pieces_b), (word, pieces_a, pieces_b)
        assert _score(compact, a) == pytest.approx(_score(compact, b), abs=1e-4), (word, pieces_a, pieces_b)
        ties.append(word)
    assert len(ties) <= 3, ties
    # Blank words and trailing whitespace: one "▁" where the normalizer keeps whitespace.
    by_word = dict(zip(WORDS, ours))
    kept = [compact.convert_tokens_to_ids("▁")] if compact.keeps_trailing_space else []
    assert by_word[" "] == by_word["\u200b"] == by_word["\ufeff"] == kept
    assert by_word[""] == []
    assert by_word["cat "] == by_word["cat"] + kept
    assert by_word["cat\u200c"] == by_word["cat\ufeff"] == by_word["cat"] + kept
    assert by_word["cat\x1c"] == by_word["cat\x0b"] == by_word["cat"] and by_word["\x0b"] == by_word["\x7f"] == []


def test_decomposed_text_keeps_its_marks(tokenizers):
    """NFD text: SentencePiece's normalizer composes it; the fast tokenizer's drops some marks
    (here the tone mark of lọ́la), which is why ``layer-fusion tag`` NFC-normalizes its input."""
    compact, fast = tokenizers
    words = ["lọ́la", "àgbàlá", "Ọmọ", "ṣeré", "fẹ́"]
    decomposed = [unicodedata.normalize("NFD", w) for w in words]
    assert decomposed != words
    ours = compact.encode_words(decomposed)
    assert ours == compact.encode_words(words)
    assert ["".join(compact.convert_ids_to_tokens(ids)) for ids in ours] == ["▁" + w for w in words]
    assert fast(decomposed, add_special_tokens=False)["input_ids"] != ours


def test_a_special_token_spelled_in_text_stays_text(tokenizers):
    compact, fast = tokenizers
    (ids,) = compact.encode_words(["<s>"])
    assert ids == [spm_to_hf_id(i) for i in compact.sp_model.encode("<s>")] and compact.cls_token_id not in ids
    assert fast(["<s>"], add_special_tokens=False)["input_ids"] == [[compact.cls_token_id]]


def test_batch_encoding_equals_the_fast_tokenizer_call(tokenizers):
    compact, fast = tokenizers
    word_lists = [s.split() for s in SENTENCES[:9]] + [["a"], ["cat", " ", "\u200b", "dog "]]
    ours = compact.batch_encoding(word_lists)
    theirs = fast(word_lists, is_split_into_words=True, add_special_tokens=True, return_attention_mask=True,
                  return_tensors="np", padding="longest")
    numpy.testing.assert_array_equal(ours["input_ids"], theirs["input_ids"])
    numpy.testing.assert_array_equal(ours["attention_mask"], theirs["attention_mask"])
    expected_word_ids = [[-1 if w is None else w for w in theirs.word_ids(i)] for i in range(len(word_lists))]
    numpy.testing.assert_array_equal(ours["word_ids"], expected_word_ids)
    assert ours["input_texts"] == [fast.convert_ids_to_tokens(row) for row in theirs["input_ids"]]
    assert wordpiece_lengths(compact, word_lists) == wordpiece_lengths(fast, word_lists)


def test_a_model_without_xlmr_layout_keeps_the_fast_tokenizer(tiny_xlmr, tiny_bert):
    assert load_compact(tiny_xlmr) is None  # its pieces 1 and 2 are words, not <s> and </s>
    assert load_compact(tiny_bert) is None  # no SentencePiece model


def _tags_and_hidden(nlp, texts):
    docs = [nlp.make_doc(t) for t in texts]
    hidden = nlp.get_pipe("transformer").model.predict(docs).model_output.hidden_states
    return [[t.pos_ for t in doc] for doc in nlp.pipe(texts)], [torch.as_tensor(h).clone() for h in hidden]


def test_a_loaded_pipeline_uses_it_tags_the_same_and_saves_unchanged(xlmr_layout, tmp_path):
    texts = SENTENCES[:9] + ["the  cat\n sat", "ẹ́. ሰላም ነው።"]
    trained_fusion_transformer(xlmr_layout, split_words=True).to_disk(tmp_path / "p")
    compact = spacy.load(tmp_path / "p")
    fast = spacy.load(tmp_path / "p", config={"components": {"transformer": {"compact_tokenizer": False}}})
    assert is_compact(compact.get_pipe("transformer").model.tokenizer)
    assert not is_compact(fast.get_pipe("transformer").model.tokenizer)
    assert isinstance(compact.get_pipe("transformer").model.tokenizer, SentencePieceWordTokenizer)
    tags, hidden = _tags_and_hidden(compact, texts)
    tags_fast, hidden_fast = _tags_and_hidden(fast, texts)
    assert tags == tags_fast
    for a, b in zip(hidden, hidden_fast):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Saving writes back the fast tokenizer's files: the folder loads as before.
    compact.to_disk(tmp_path / "q")
    hf_p, hf_q = tmp_path / "p" / "transformer" / "hf", tmp_path / "q" / "transformer" / "hf"
    names = sorted(path.name for path in hf_p.iterdir())
    assert names == sorted(path.name for path in hf_q.iterdir())
    assert "tokenizer.json" in names
    _, mismatch, errors = filecmp.cmpfiles(hf_p, hf_q, names, shallow=False)
    assert not mismatch and not errors
    assert _tags_and_hidden(spacy.load(tmp_path / "q"), texts)[0] == tags
    # to_bytes (pickling, spawned workers) saves it as the fast tokenizer it stands in for.
    again = spacy.blank("xx").from_config(compact.config).from_bytes(compact.to_bytes())
    assert again.get_pipe("transformer").model.tokenizer.is_fast
    assert _tags_and_hidden(again, texts)[0] == tags
    assert is_compact(compact.get_pipe("transformer").model.tokenizer)  # unchanged by to_bytes


def test_the_stock_forward_pass_keeps_the_fast_tokenizer(xlmr_layout, tmp_path):
    """Without split_words the forward pass aligns on character offsets, which only the
    fast tokenizer gives."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("xx")
    nlp.add_pipe("fusion_transformer", name="transformer",
                 config=transformer_config(xlmr_layout, "layer_fusion.TransformerModel.v2"))
    nlp.add_pipe("morphologizer", config={"model": {"@architectures": "spacy.Tagger.v2", "nO": None,
                                                    "tok2vec": listener_config(32, "DLFA")}})
    examples = synthetic_examples(nlp, 5)
    nlp.initialize(lambda: examples)
    nlp.to_disk(tmp_path / "p")
    assert not is_compact(spacy.load(tmp_path / "p").get_pipe("transformer").model.tokenizer)

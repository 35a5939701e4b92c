"""layer-fusion tag's writers: one record per input line whatever the line holds, and CoNLL-U
that reads back (checked with the project's own reader, which any break would derail)."""
import json

import pytest

from layer_fusion.conllu import read_conllu
from layer_fusion.output_formats import FORMATS
from layer_fusion.tagging import TaggedLine

# Everything a text line may still hold that a line-oriented reader breaks on.
BREAKS = "\t\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
LINE = TaggedLine(text="".join(f"w{i}{c}" for i, c in enumerate(BREAKS)) + "end",
                  words=[f"w{i}" for i in range(len(BREAKS))] + ["e\u2028nd"], tags=["NOUN"] * (len(BREAKS) + 1))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_line_break_of_any_kind_survives_in_a_record(fmt):
    out = FORMATS[fmt](LINE, 7)
    expected_lines = {"conllu": 2 + len(LINE.words) + 1, "jsonl": 1, "text": 1}[fmt]
    assert len(out.splitlines()) == expected_lines
    assert not set(out) & set(BREAKS.replace("\t", "")), repr(out)


def test_conllu_output_reads_back_with_its_text_and_words(tmp_path):
    path = tmp_path / "out.conllu"
    path.write_text(FORMATS["conllu"](LINE, 7) * 2, encoding="utf-8")
    first, second = read_conllu(path)
    assert first.sent_id == "7" and first.text == LINE.text.translate({ord(c): " " for c in BREAKS})
    assert first.words == [w.replace("\u2028", " ") for w in LINE.words] == second.words
    assert first.upos == LINE.tags


def test_jsonl_keeps_the_text_exactly():
    record = json.loads(FORMATS["jsonl"](LINE, 1))
    assert record == {"text": LINE.text, "tokens": LINE.words, "pos": LINE.tags}


def test_conllu_space_after_gives_the_words_text_back(tmp_path):
    """SpaceAfter=No where no whitespace follows a word inside the line, never on the last
    word: the project's reader then rebuilds the line from the words (a spaCy Doc on them)."""
    from spacy.vocab import Vocab

    record = TaggedLine(text="Hello, world!", words=["Hello", ",", "world", "!"],
                        tags=["INTJ", "PUNCT", "NOUN", "PUNCT"], spaces=[False, True, False, False])
    out = FORMATS["conllu"](record, 1)
    assert [row.split("\t")[9] for row in out.strip().splitlines()[2:]] == ["SpaceAfter=No", "_", "SpaceAfter=No", "_"]
    path = tmp_path / "out.conllu"
    path.write_text(out, encoding="utf-8")
    [sentence] = read_conllu(path)
    assert sentence.to_doc(Vocab()).text.rstrip() == record.text
    unknown = FORMATS["conllu"](TaggedLine(record.text, record.words, record.tags), 1)  # spaces not known
    assert [row.split("\t")[9] for row in unknown.strip().splitlines()[2:]] == ["_"] * 4

"""The CoNLL-U reader: words, spaces, UPOS, metadata, and errors that name file and line."""
import re
import unicodedata

import pytest

from layer_fusion.conllu import ConlluError, UPOS_TAGS, read_conllu



def row(tid, form, upos="NOUN", misc="_"):
    return "\t".join([tid, form, "_", upos, "_", "_", "_", "_", "_", misc])


def write(tmp_path, lines, name="x.conllu", newline="\n", bom=False, final_blank=True):
    text = newline.join(lines) + (newline if final_blank else "")
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


SENT_MWT = [
    "# newdoc id = doc1",
    "# meta::genre = fiction",
    "# sent_id = s1",
    "# text = Del gato, no.",
    row("1-2", "Del", "_", "SpaceAfter=No"),
    row("1", "De", "ADP"),
    row("2", "el", "DET"),
    row("2.1", "ghost", "_"),
    row("3", "gato", "NOUN", "SpaceAfter=No"),
    row("4", ",", "PUNCT"),
    row("5", "no", "ADV", "SpaceAfter=No|Other=1"),
    row("6", ".", "PUNCT", "SpaceAfter=No"),
    "",
    "# sent_id = s2",
    "# text = Sí",
    row("1", "Sí", "INTJ"),
    "",
]


def test_multiword_tokens_empty_nodes_and_spaces(tmp_path):
    sents = list(read_conllu(write(tmp_path, SENT_MWT)))
    assert len(sents) == 2
    s = sents[0]
    assert s.words == ["De", "el", "gato", ",", "no", "."]
    assert s.upos == ["ADP", "DET", "NOUN", "PUNCT", "ADV", "PUNCT"]
    # last part of the MWT takes its SpaceAfter=No; other parts get a space
    assert s.spaces == [True, False, False, True, False, False]
    assert s.sent_id == "s1" and s.text == "Del gato, no."
    assert s.line == 1 and sents[1].line == 14


def test_sentence_to_doc_keeps_words_spaces_and_gold_upos(tmp_path):
    import spacy

    s = list(read_conllu(write(tmp_path, SENT_MWT)))[0]
    vocab = spacy.blank("xx").vocab
    plain, gold = s.to_doc(vocab), s.to_doc(vocab, with_upos=True)
    assert [t.text for t in plain] == s.words and plain.text == "De elgato, no."
    assert [t.pos_ for t in plain] == [""] * len(s) and [t.pos_ for t in gold] == s.upos
    heads = s.to_doc(vocab, heads=[2, 2, 2, 2, 2, 2], deps=["dep"] * 2 + ["ROOT"] + ["dep"] * 3)
    assert [t.head.i for t in heads] == [2] * 6


def test_comments_and_document_metadata_are_inherited(tmp_path):
    s1, s2 = read_conllu(write(tmp_path, SENT_MWT))
    assert s1.meta["meta::genre"] == "fiction" and s1.meta["newdoc id"] == "doc1"
    assert s2.meta["meta::genre"] == "fiction" and s2.doc_id == "doc1"
    assert s2.genre == "fiction"
    assert "text" in s2.meta and s2.meta["text"] == "Sí"
    assert s2.meta["sent_id"] == "s2"


def test_new_document_resets_document_metadata(tmp_path):
    lines = SENT_MWT[:-1] + ["", "# newdoc id = doc2", "# sent_id = s3", row("1", "x"), ""]
    sents = list(read_conllu(write(tmp_path, lines)))
    assert sents[2].doc_id == "doc2" and "meta::genre" not in sents[2].meta
    assert sents[2].genre is None


def test_a_bare_newdoc_resets_document_metadata_and_stays_on_its_own_sentence(tmp_path):
    """A ``# newdoc`` without an id marks where a document starts: not inherited, so the
    sentence after it can tell a second such document from the first's continuation."""
    lines = SENT_MWT[:-1] + ["", "# newdoc", "# sent_id = s3", row("1", "x"), "",
                             "# sent_id = s4", row("1", "y"), ""]
    sents = list(read_conllu(write(tmp_path, lines)))
    assert "newdoc" in sents[2].meta and sents[2].doc_id is None and "meta::genre" not in sents[2].meta
    assert "newdoc" not in sents[3].meta and sents[3].doc_id is None


@pytest.mark.parametrize(
    "sent_id,expected",
    [("GUM_vlog_radiology-12", ("vlog", None)), ("weblog-blogspot.com_x-0001", (None, "weblog")),
     ("reviews-005N-0001", (None, "reviews")), ("plain-1", (None, None))],
)
def test_genre_fallbacks(tmp_path, sent_id, expected):
    (s,) = read_conllu(write(tmp_path, [f"# sent_id = {sent_id}", row("1", "a"), ""]))
    assert (s.genre, s.ewt_genre()) == expected


def test_crlf_bom_and_missing_final_blank_line(tmp_path):
    lines = ["# sent_id = a", row("1", "one", "NUM"), row("2", "two", "NUM"), "", "# sent_id = b", row("1", "three", "NUM")]
    path = write(tmp_path, lines, newline="\r\n", bom=True, final_blank=False)
    sents = list(read_conllu(path))
    assert [s.sent_id for s in sents] == ["a", "b"]
    assert sents[0].words == ["one", "two"] and sents[1].words == ["three"]
    assert all("\r" not in w for s in sents for w in s.words)
    assert sents[1].upos == ["NUM"]


def test_several_blank_lines_and_trailing_whitespace_line(tmp_path):
    path = write(tmp_path, [row("1", "a"), "", "", "   ", row("1", "b"), "", ""])
    assert [s.words for s in read_conllu(path)] == [["a"], ["b"]]


def test_words_are_nfc_normalized(tmp_path):
    decomposed = "e\u0301"  # e + combining acute
    (s,) = read_conllu(write(tmp_path, [row("1", decomposed)]))
    assert s.words == ["\u00e9"] and unicodedata.is_normalized("NFC", s.words[0])


def test_empty_sentence_is_skipped_and_counted(tmp_path):
    lines = ["# sent_id = only-comments", "", "# sent_id = empty-node", row("0.1", "x", "_"), "", row("1", "a"), ""]
    reader = read_conllu(write(tmp_path, lines))
    with pytest.warns(UserWarning, match="skipped 2"):
        sents = list(reader)
    assert [s.words for s in sents] == [["a"]]
    assert reader.n_empty_skipped == 2 and reader.n_sentences == 1


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("1\tword\t_\tNOUN\t_\t_\t_\t_\t_", "expected 10 tab-separated columns, found 9"),
        (row("x", "word"), "ID 'x' is not a word id (1, 2, ... without leading zeros)"),
        (row("0", "word"), "ID '0' is not a word id"),
        (row("02", "word"), "ID '02' is not a word id"),
        (row("2", "word", "NOUNN"), "UPOS 'NOUNN' is not one of the 17 UD tags"),
        (row("3", "word"), "word id 3 out of sequence"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad, reason):
    lines = ["# sent_id = ok", row("1", "fine"), "", "# sent_id = bad", row("1", "fine"), bad, ""]
    path = write(tmp_path, lines, name="broken.conllu")
    with pytest.raises(ConlluError) as info:
        list(read_conllu(path))
    message = str(info.value)
    assert message.startswith(f"{path}:6: ")
    assert reason in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError) and info.value.line_no == 6


def test_error_line_numbers_count_crlf_lines(tmp_path):
    path = write(tmp_path, [row("1", "a"), "", row("1", "b", "BAD")], newline="\r\n")
    with pytest.raises(ConlluError, match=r"x\.conllu:3: "):
        list(read_conllu(path))


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_conllu(tmp_path / "nope.conllu"))


def test_real_treebank_counts_match_manifest(ud_dir):
    # Tagalog-TRG: 128 sentences, 734 syntactic words (MANIFEST.tsv); GUM test has MWTs and genres.
    sents = list(read_conllu(ud_dir / "UD_Tagalog-TRG" / "tl_trg-ud-test.conllu"))
    assert len(sents) == 128 and sum(len(s) for s in sents) == 734
    gum = list(read_conllu(ud_dir / "UD_English-GUM" / "en_gum-ud-test.conllu"))
    assert len(gum) == 1464 and sum(len(s) for s in gum) == 28397
    assert all(s.genre and s.sent_id.startswith(f"GUM_{s.genre}_") for s in gum)
    assert all(set(s.upos) <= UPOS_TAGS for s in gum)


def _full_row(tid, form, upos, feats, head, rel):
    return "\t".join([tid, form, "_", upos, "_", feats, head, rel, "_", "_"])


def test_feats_heads_and_relations_are_kept(tmp_path):
    path = write(tmp_path, [
        "# sent_id = t1",
        "1-2\tDel\t_\t_\t_\t_\t_\t_\t_\t_",
        _full_row("1", "De", "ADP", "_", "3", "case"),
        _full_row("2", "el", "DET", "Definite=Def", "3", "det"),
        _full_row("2.1", "ghost", "_", "_", "_", "_"),
        _full_row("3", "gato", "NOUN", "Gender=Masc|Number=Sing", "0", "root"),
        "",
        "# sent_id = t2 (no tree annotated)",
        _full_row("1", "Sí", "INTJ", "_", "_", "_"),
        "",
    ])
    s1, s2 = read_conllu(path)
    assert s1.feats == ["", "Definite=Def", "Gender=Masc|Number=Sing"]
    assert s1.heads == [3, 3, 0] and s1.deprels == ["case", "det", "root"]
    assert s2.heads == [None] and s2.deprels == [""] and s2.feats == [""]
    assert s1.misc == ["", "", ""] and s2.misc == [""]


def test_misc_is_kept_per_word_not_for_ranges_or_empty_nodes(tmp_path):
    path = write(tmp_path, [
        "1-2\tDel\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No",
        "1\tDe\t_\tADP\t_\t_\t_\t_\t_\tGloss=of",
        "2\tel\t_\tDET\t_\t_\t_\t_\t_\t_",
        "2.1\tghost\t_\t_\t_\t_\t_\t_\t_\tGloss=none",
        "3\tgato\t_\tNOUN\t_\t_\t_\t_\t_\tGloss=cat|SpaceAfter=No",
        "",
    ])
    [s] = read_conllu(path)
    assert s.misc == ["Gloss=of", "", "Gloss=cat|SpaceAfter=No"]


@pytest.mark.parametrize("head,reason", [("x", "HEAD 'x' is not a word id, 0 or _"),
                                         ("²", "HEAD '²' is not a word id, 0 or _"),
                                         ("5", "HEAD 5 points past the last word (2)")])
def test_bad_head_names_file_and_line(tmp_path, head, reason):
    """The line of the word with the bad HEAD (a HEAD past the end was put at the sentence's
    first line)."""
    path = write(tmp_path, ["# sent_id = t", _full_row("1", "a", "DET", "_", "2", "det"),
                            _full_row("2", "b", "NOUN", "_", head, "root"), ""])
    with pytest.raises(ConlluError) as err:
        list(read_conllu(path))
    assert str(err.value).startswith(f"{path}:3: ") and reason in str(err.value)


def test_invalid_utf8_is_an_error_naming_its_line(tmp_path):
    path = write(tmp_path, [row("1", "a"), "", row("1", "b"), row("2", "c")])
    data = path.read_bytes().replace(b"\tc\t", b"\tc\xff\t")
    path.write_bytes(data)
    bad = data.index(b"\xff")
    byte = bad - data.index(b"2\tc") + 1
    with pytest.raises(ConlluError, match=rf"x\.conllu:4: not valid UTF-8 \(invalid start byte\) at "
                                          rf"byte {byte} of the line \(byte offset {bad} in the file\)"):
        list(read_conllu(path))


def test_invalid_utf8_positions_count_a_byte_order_mark_as_tag_does(tmp_path):
    """The CoNLL-U reader and `layer-fusion tag`'s line reader say where a bad byte is in the
    same words (error_text.utf8_error_at), a byte-order mark counted as bytes of line 1."""
    from layer_fusion.input_lines import InputDecodeError, read_lines

    path = tmp_path / "bom.conllu"
    path.write_bytes(b"\xef\xbb\xbf# sent_id = \xff\n")
    where = "byte 16 of the line (byte offset 15 in the file)"
    with pytest.raises(ConlluError, match=re.escape(f"bom.conllu:1: not valid UTF-8 (invalid start byte) at {where}")):
        list(read_conllu(path))
    with pytest.raises(InputDecodeError, match=re.escape(f"not valid UTF-8 at line 1, {where}")):
        list(read_lines([str(path)]))


def test_bom_is_only_stripped_from_the_first_line(tmp_path):
    path = write(tmp_path, [row("1", "a"), "", row("1", "\ufeffb")], bom=True)
    first, second = list(read_conllu(path))
    assert first.words == ["a"] and second.words == ["\ufeffb"]


def test_empty_form_is_an_error_naming_its_line(tmp_path):
    path = write(tmp_path, [row("1", "a"), row("2", "")])
    with pytest.raises(ConlluError, match=r"x\.conllu:2: empty FORM"):
        list(read_conllu(path))
    path = write(tmp_path, [row("1", "a"), row("2", " \u3000")])
    with pytest.raises(ConlluError, match=r"x\.conllu:2: FORM is only whitespace"):
        list(read_conllu(path))
    for form in (" a", "a ", "a\u3000"):  # whitespace at a FORM's edge: not the text's word
        path = write(tmp_path, [row("1", "b"), row("2", form)])
        with pytest.raises(ConlluError, match=r"x\.conllu:2: FORM .* begins or ends with whitespace"):
            list(read_conllu(path))
    (s,) = read_conllu(write(tmp_path, [row("1", "xin chào"), row("2", "a")]))  # a space inside a word
    assert s.words == ["xin chào", "a"]


@pytest.mark.parametrize("tid", ["1-1", "2-1", "2-3"])
def test_a_multiword_range_of_fewer_than_two_words_or_not_at_the_next_word_is_an_error(tmp_path, tid):
    """"1-1" (one word), "2-1" (backwards) and "2-3" (the next word is 1) name their line."""
    path = write(tmp_path, [row(tid, "ab"), row("1", "a"), row("2", "b")])
    with pytest.raises(ConlluError, match=rf"x\.conllu:1: bad multiword token range '{tid}'"):
        list(read_conllu(path))
    (s,) = read_conllu(write(tmp_path, [row("1-2", "ab"), row("1", "a"), row("2", "b")]))
    assert s.tokens == ["ab"] and s.words == ["a", "b"]


@pytest.mark.parametrize("rows,line,tid", [
    ([row("1-2", "ab"), row("1", "a"), row("2-3", "bc"), row("2", "b"), row("3", "c")], 3, "2-3"),  # overlapping
    ([row("1-3", "abc"), row("1", "a"), row("2-3", "bc"), row("2", "b"), row("3", "c")], 3, "2-3"),  # nested
    ([row("1-2", "ab"), row("1-2", "ab"), row("1", "a"), row("2", "b")], 2, "1-2"),  # repeated
])
def test_a_multiword_range_inside_an_open_one_is_an_error(tmp_path, rows, line, tid):
    """Accepted before: words then had two surface tokens, and the raw-text evaluation failed
    with an IndexError after tagging, or scored every word against its neighbour's tag."""
    path = write(tmp_path, rows)
    with pytest.raises(ConlluError, match=rf"x\.conllu:{line}: multiword token range '{tid}' begins inside "):
        list(read_conllu(path))


def test_a_byte_order_mark_starting_a_later_line_is_dropped(tmp_path):
    """Files joined with cat: the second file's BOM began its first line, which then read as a
    word row ("comment line inside a sentence")."""
    first = write(tmp_path, ["# sent_id = a", row("1", "a"), ""], name="a.conllu", bom=True)
    second = write(tmp_path, ["# sent_id = b", row("1", "b")], name="b.conllu", bom=True)
    joined = tmp_path / "joined.conllu"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    assert [(s.sent_id, s.words) for s in read_conllu(joined)] == [("a", ["a"]), ("b", ["b"])]


def test_carriage_return_line_ends_are_named(tmp_path):
    """A file with CR-only line ends is one line to Python's reader: it was read as one
    sentence without words, skipped, and then "no sentences"."""
    path = tmp_path / "mac.conllu"
    path.write_bytes("\r".join(["# sent_id = a", row("1", "a"), ""]).encode())
    with pytest.raises(ConlluError, match=r"mac\.conllu:1: a carriage return inside the line"):
        list(read_conllu(path))

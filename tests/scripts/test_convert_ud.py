"""scripts/convert_ud.py: DocBin round trips against the CoNLL-U syntactic words and UPOS."""
import pytest
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from layer_fusion.conllu import read_conllu

from runners import load_script


convert_ud = load_script("convert_ud")


def row(tid, form, upos="NOUN", misc="_"):
    return "\t".join([tid, form, "_", upos, "XPOSTAG", "Number=Sing" if upos != "_" else "_", "_", "_", "_", misc])


GUM_LIKE = "\n".join([
    "# newdoc id = GUM_vlog_toy",
    "# meta::genre = vlog",
    "# sent_id = GUM_vlog_toy-1",
    "# text = I don't.",
    row("1", "I", "PRON"),
    row("2-3", "don't", "_", "SpaceAfter=No"),
    row("2", "do", "AUX"),
    row("3", "n't", "PART"),
    row("4", ".", "PUNCT"),
    "",
    "# newdoc id = other",
    "# sent_id = GUM_news_other-7",
    row("1", "Yes", "INTJ"),
    "",
    "# sent_id = plain-1",
    row("1", "Cafe\u0301", "PROPN"),
    "",
])


def docs_of(path):
    return list(DocBin().from_disk(path).get_docs(Vocab()))


def make_ud(tmp_path):
    ud = tmp_path / "ud"
    for split in ("train", "dev"):
        p = ud / "UD_English-EWT" / f"en_ewt-ud-{split}.conllu"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(GUM_LIKE, encoding="utf-8")
    tb = ud / "UD_Toy-One"
    tb.mkdir(parents=True)
    (tb / "one.conllu").write_text(GUM_LIKE, encoding="utf-8")
    cfg = tmp_path / "targets.cfg"
    cfg.write_text(
        "\n".join([
            "[treebanks]", "",
            "[treebanks.xx_one]", 'treebank = "UD_Toy-One"', 'language = "Toy"', 'iso = "xx"',
            'group = "low_resource"', 'file = "one.conllu"', "",
            "[treebanks.xx_gone]", 'treebank = "UD_Toy-Gone"', 'language = "Toy"', 'iso = "xx"',
            'group = "low_resource"', 'file = "gone.conllu"', "",
        ]),
        encoding="utf-8",
    )
    return ud, cfg


def test_convert_round_trip(tmp_path):
    ud, cfg = make_ud(tmp_path)
    out = tmp_path / "corpus"
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(out), "--targets", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "xx_gone" in result.output and "not found" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["dev.spacy", "test", "train.spacy"]
    assert sorted(p.name for p in (out / "test").iterdir()) == ["xx_one.spacy"]  # no temp files
    for path in (out / "train.spacy", out / "test" / "xx_one.spacy"):
        docs = docs_of(path)
        gold = list(read_conllu(ud / "UD_Toy-One" / "one.conllu"))
        assert [[t.text for t in d] for d in docs] == [s.words for s in gold]
        assert [[t.pos_ for t in d] for d in docs] == [s.upos for s in gold]
        assert [[bool(t.whitespace_) for t in d] for d in docs] == [s.spaces for s in gold]
        assert docs[0].text == "I do n't. "  # MWT split into syntactic words; its SpaceAfter=No on the last part
        assert docs[2][0].text == "Caf\u00e9"  # NFC
        assert all(t.tag_ == "" and str(t.morph) == "" for d in docs for t in d)
        assert [d.user_data.get("sent_id") for d in docs] == ["GUM_vlog_toy-1", "GUM_news_other-7", "plain-1"]
        assert docs[0].user_data["doc_id"] == "GUM_vlog_toy" and docs[2].user_data["doc_id"] == "other"
    docs = docs_of(out / "test" / "xx_one.spacy")
    assert docs[0].user_data["genre"] == "vlog"  # from # meta::genre
    assert docs[1].user_data["genre"] == "news"  # new document, no meta::genre: from the sent_id
    assert "genre" not in docs[2].user_data
    # train.spacy comes from the UD_English-EWT folder: genre only from EWT's doc-id prefix
    assert all("genre" not in d.user_data for d in docs_of(out / "train.spacy"))


def test_sent_id_genre_without_meta(tmp_path):
    path = tmp_path / "g.conllu"
    path.write_text("# sent_id = GUM_whow_cake-3\n" + row("1", "Bake", "VERB") + "\n\n", encoding="utf-8")
    out = tmp_path / "g.spacy"
    counts = convert_ud.convert_file(path, out, "UD_English-GUM", Vocab())
    assert counts == {"sentences": 1, "words": 1}
    (doc,) = docs_of(out)
    assert doc.user_data["genre"] == "whow" and doc.user_data["treebank"] == "UD_English-GUM"


def test_max_sentences_caps_each_file(tmp_path):
    ud, cfg = make_ud(tmp_path)
    out = tmp_path / "corpus"
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(out), "--targets", str(cfg), "--max-sentences", "2"])
    assert result.exit_code == 0, result.output
    assert len(docs_of(out / "train.spacy")) == 2 and len(docs_of(out / "test" / "xx_one.spacy")) == 2


def test_missing_training_file_fails(tmp_path):
    ud, cfg = make_ud(tmp_path)
    (ud / "UD_English-EWT" / "en_ewt-ud-dev.conllu").unlink()
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(tmp_path / "c"), "--targets", str(cfg)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # not a crash
    assert "en_ewt-ud-dev.conllu not found" in " ".join(result.output.split())  # wasabi wraps lines


def test_a_malformed_target_is_one_line_and_leaves_the_corpus_as_it_was(tmp_path):
    """The error names the file and line; train.spacy and dev.spacy are not replaced either."""
    ud, cfg = make_ud(tmp_path)
    out = tmp_path / "corpus"
    assert CliRunner().invoke(convert_ud.app, [str(ud), str(out), "--targets", str(cfg)]).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*.spacy")}
    assert len(before) == 3
    (ud / "UD_English-EWT" / "en_ewt-ud-train.conllu").write_text(GUM_LIKE.rstrip("\n") + "\n\n" + GUM_LIKE, encoding="utf-8")
    broken = ud / "UD_Toy-One" / "one.conllu"
    broken.write_text(GUM_LIKE.replace("\tPRON\t", "\tPRON\t_\t", 1), encoding="utf-8")
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(out), "--targets", str(cfg)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{broken}:" in result.output and "expected 10 tab-separated columns" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*.spacy")} == before
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files


def test_a_bad_targets_file_is_one_line(tmp_path):
    ud, cfg = make_ud(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('group = "low_resource"', 'group = "low"', 1),
                   encoding="utf-8")
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(tmp_path / "c"), "--targets", str(cfg)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{cfg}: [treebanks.xx_one] group = 'low'" in " ".join(result.output.split())
    assert not (tmp_path / "c").exists()


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.spacy"
    target.write_bytes(b"old")

    class Boom(Exception):
        pass

    def explode(*args, **kwargs):
        raise Boom

    from layer_fusion import atomic_write

    monkeypatch.setattr(atomic_write.os, "replace", explode)
    with pytest.raises(Boom):
        convert_ud.write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.spacy"]


def test_real_gum_and_ewt_round_trip(tmp_path, ud_dir):
    gum = ud_dir / "UD_English-GUM" / "en_gum-ud-test.conllu"
    out = tmp_path / "gum.spacy"
    convert_ud.convert_file(gum, out, "UD_English-GUM", Vocab(), max_sentences=300)
    docs = docs_of(out)
    gold = [s for _, s in zip(range(300), read_conllu(gum))]
    assert len(docs) == 300
    assert [[t.text for t in d] for d in docs] == [s.words for s in gold]
    assert [[t.pos_ for t in d] for d in docs] == [s.upos for s in gold]
    assert all(d.user_data["sent_id"].startswith(f"GUM_{d.user_data['genre']}_") for d in docs)
    # EWT dev: multiword tokens split as in the treebank (e.g. "don't" -> "do", "n't")
    ewt = ud_dir / "UD_English-EWT" / "en_ewt-ud-dev.conllu"
    out = tmp_path / "ewt.spacy"
    counts = convert_ud.convert_file(ewt, out, "UD_English-EWT", Vocab())
    assert counts == {"sentences": 2001, "words": 25147}  # MANIFEST.tsv
    docs = docs_of(out)
    assert {d.user_data["genre"] for d in docs} == {"answers", "email", "newsgroup", "reviews", "weblog"}


TREE = "\n".join([
    "# sent_id = tree-1",
    "\t".join(["1", "Dogs", "_", "NOUN", "_", "Number=Plur", "2", "nsubj", "_", "_"]),
    "\t".join(["2", "bark", "_", "VERB", "_", "Mood=Ind|Tense=Pres", "0", "root", "_", "SpaceAfter=No"]),
    "\t".join(["3", ".", "_", "PUNCT", "_", "_", "2", "punct", "_", "_"]),
    "",
])


def test_syntax_keeps_trees_and_feats_for_train_and_dev_only(tmp_path):
    ud, cfg = make_ud(tmp_path)
    for split in ("train", "dev"):
        (ud / "UD_English-EWT" / f"en_ewt-ud-{split}.conllu").write_text(TREE, encoding="utf-8")
    out = tmp_path / "corpus"
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(out), "--targets", str(cfg), "--syntax"])
    assert result.exit_code == 0, result.output
    for split in ("train", "dev"):
        (doc,) = docs_of(out / f"{split}.spacy")
        assert [t.head.i for t in doc] == [1, 1, 1] and [t.dep_ for t in doc] == ["nsubj", "ROOT", "punct"]
        assert [t.tag_ for t in doc] == ["Number=Plur", "Mood=Ind|Tense=Pres", "_"]
        assert [t.pos_ for t in doc] == ["NOUN", "VERB", "PUNCT"] and all(str(t.morph) == "" for t in doc)
    test_doc = docs_of(out / "test" / "xx_one.spacy")[0]
    assert not test_doc.has_annotation("DEP") and all(t.tag_ == "" for t in test_doc)


def test_syntax_without_a_tree_names_the_sentence(tmp_path):
    ud, cfg = make_ud(tmp_path)  # GUM_LIKE rows carry no HEAD
    result = CliRunner().invoke(convert_ud.app, [str(ud), str(tmp_path / "c"), "--targets", str(cfg), "--syntax"])
    assert result.exit_code != 0
    assert "en_ewt-ud-train.conllu: sentence GUM_vlog_toy-1 (line 1): no complete dependency tree" in str(result.exception) + result.output
    assert not (tmp_path / "c" / "train.spacy").exists()

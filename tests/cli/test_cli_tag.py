"""`layer-fusion tag`: streaming, formats, NFC, long lines, odd characters, errors."""
import json
import os
import unicodedata
from pathlib import Path

import pytest
import spacy
from pipelines import POS_LABELS, build_pipeline, copy_with_other_layers
from runners import run_tag
from typer.testing import CliRunner

from layer_fusion.cli import app
from layer_fusion.tagging import MAX_CHUNK_TOKENS, LineTagger, has_trf_data_cleaner

YORUBA = "Ọmọ náà lọ sí ilé"
# Not in the tiny XLM-R vocabulary: each splits into many pieces.
RARE_WORD = "qzxkwvjqzxkwvj"
HUGE_TOKEN = "zqxjkvwzqxjkvw" * 60  # about 600 wordpieces on its own


@pytest.fixture(scope="module")
def aif_dir(tiny_xlmr, tmp_path_factory) -> Path:
    return build_pipeline(tmp_path_factory.mktemp("aif") / "pipeline", tiny_xlmr, "AIF")


@pytest.fixture(scope="module")
def aif_nlp(aif_dir):
    return spacy.load(aif_dir)


@pytest.fixture(scope="module")
def aif_no_cleaner(tiny_xlmr, tmp_path_factory):
    path = build_pipeline(tmp_path_factory.mktemp("aif-raw") / "pipeline", tiny_xlmr, "AIF", cleaner=False)
    return spacy.load(path)


def jsonl_records(stdout: str):
    return [json.loads(line) for line in stdout.splitlines()]


def tag_jsonl(pipeline, lines, *extra):
    result = run_tag([pipeline, "--format", "jsonl", *extra], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    return jsonl_records(result.stdout)


# ---------------------------------------------------------------------------
# Formats and one record per line
# ---------------------------------------------------------------------------


def test_conllu_output_one_sentence_per_line_with_ids_and_text(aif_dir, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("the cat sat on the mat\n\n   \na big dog ran .\n", encoding="utf8")
    result = run_tag([aif_dir, src])
    assert result.exit_code == 0, result.stderr
    blocks = result.stdout.split("\n\n")
    assert blocks[-1] == ""
    blocks = blocks[:-1]
    # CoNLL-U has no empty sentence (spaCy's reader failed on one): lines 2 and 3 hold no word,
    # so they get no block, and sent_id stays the line number.
    assert [block.splitlines()[0] for block in blocks] == ["# sent_id = 1", "# sent_id = 4"]
    first = blocks[0].splitlines()
    assert first[1] == "# text = the cat sat on the mat"
    rows = [row.split("\t") for row in first[2:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [r[1] for r in rows] == "the cat sat on the mat".split()
    for r in rows:
        assert len(r) == 10 and r[3] in POS_LABELS
        assert r[2] == r[4] == r[5] == r[6] == r[7] == r[8] == r[9] == "_"
    assert blocks[1].splitlines()[1] == "# text = a big dog ran ."
    from layer_fusion.conllu import read_conllu  # every block is a sentence with words

    (tmp_path / "out.conllu").write_text(result.stdout, encoding="utf-8")
    assert [s.words for s in read_conllu(tmp_path / "out.conllu")] == [
        "the cat sat on the mat".split(), "a big dog ran .".split()]


def test_conllu_output_marks_the_words_with_no_space_after(aif_dir, tmp_path):
    """The words of each line and their SpaceAfter give its text back (runs of whitespace
    as one space; a whitespace token is no word but a space after the word before it)."""
    from spacy.vocab import Vocab

    from layer_fusion.conllu import read_conllu

    lines = ["the cat, (a big one) sat.", "one  two\u00a0three", "x"]
    result = run_tag([aif_dir, "--fp32"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    (tmp_path / "out.conllu").write_text(result.stdout, encoding="utf-8")
    rebuilt = [s.to_doc(Vocab()).text.rstrip() for s in read_conllu(tmp_path / "out.conllu")]
    assert rebuilt == [" ".join(line.split()) for line in lines]
    assert "SpaceAfter=No" in result.stdout.split("\n\n")[0]


def test_jsonl_and_text_formats_agree(aif_dir):
    lines = ["the cat sat on the mat", "", "a big dog ran to the house"]
    records = tag_jsonl(aif_dir, lines)
    assert [r["text"] for r in records] == lines
    assert records[1] == {"text": "", "tokens": [], "pos": []}
    text = run_tag([aif_dir, "--format", "text"], input="\n".join(lines) + "\n").stdout.split("\n")
    assert text[-1] == "" and len(text) == 4
    expected = [" ".join(f"{w}/{t}" for w, t in zip(r["tokens"], r["pos"])) for r in records]
    assert text[:3] == expected


def test_text_format_splits_back_into_its_pairs_when_words_hold_spaces():
    """Vietnamese words (--lang vi) hold spaces; the text format writes them with _."""
    from layer_fusion.output_formats import format_text
    from layer_fusion.tagging import TaggedLine

    record = TaggedLine("Tôi yêu Việt Nam .", ["Tôi", "yêu", "Việt Nam", "."], ["PRON", "VERB", "PROPN", "PUNCT"])
    line = format_text(record, 1)
    assert line == "Tôi/PRON yêu/VERB Việt_Nam/PROPN ./PUNCT\n"
    assert [pair.rsplit("/", 1)[1] for pair in line.split()] == record.tags


def test_a_conllu_input_is_tagged_as_text_with_a_warning(aif_dir, tmp_path):
    gold = tmp_path / "gold.conllu"
    gold.write_text("# text = the cat\n1\tthe\t_\tDET\t_\t_\t0\troot\t_\t_\n", encoding="utf-8")
    result = run_tag([aif_dir, gold, "--format", "jsonl", "--fp32"])
    assert result.exit_code == 0 and len(jsonl_records(result.stdout)) == 2
    assert f"{gold}: tag reads plain text" in result.stderr and "layer-fusion evaluate" in result.stderr


def test_output_file_and_several_inputs_in_order(aif_dir, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("the cat\nthe dog\n", encoding="utf8")
    b.write_text("a mat", encoding="utf8")  # no final newline
    out = tmp_path / "out" / "tags.jsonl"
    result = run_tag([aif_dir, a, b, "--output", out, "--format", "jsonl"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert [r["text"] for r in jsonl_records(out.read_text("utf8"))] == ["the cat", "the dog", "a mat"]


def test_pretokenized_splits_on_whitespace_only_not_on_no_break_spaces(aif_dir):
    [record, joined] = tag_jsonl(aif_dir, ["don't  stop\tnow.", "10\u00a0000 cats\u00a0"], "--pretokenized")
    assert record["tokens"] == ["don't", "stop", "now."]
    assert len(record["pos"]) == 3
    assert joined["tokens"] == ["10\u00a0000", "cats"] and len(joined["pos"]) == 2


def test_pretokenized_conllu_with_no_break_spaces_reads_back(aif_dir, tmp_path):
    """A no-break space inside a word stays in its FORM; at a word's edge it is dropped, so no
    FORM begins or ends with whitespace (which CoNLL-U readers refuse)."""
    from layer_fusion.conllu import read_conllu

    result = run_tag([aif_dir, "--pretokenized", "--fp32"], input="\u00a0a 10\u00a0000\u00a0 b\u00a0\n")
    assert result.exit_code == 0, result.stderr
    (tmp_path / "out.conllu").write_text(result.stdout, encoding="utf-8")
    assert [s.words for s in read_conllu(tmp_path / "out.conllu")] == [["a", "10\u00a0000", "b"]]


def test_batch_size_does_not_change_fp32_tags(aif_dir):
    # fp32 only: int8 quantizes each batch's activations with one scale for the whole batch,
    # so its tags may depend on the other lines in a batch (README, "Tagging from the command line").
    lines = [" ".join(["the", "cat", "sat", "on", "a", "mat"][: 2 + i % 5]) for i in range(23)]
    one, seven = (tag_jsonl(aif_dir, lines, "--fp32", "--batch-size", n) for n in ("1", "7"))
    assert one == seven


def test_int8_is_the_default_on_the_cpu_and_fp32_an_option(aif_dir, monkeypatch):
    import layer_fusion.quantization as quantization
    from layer_fusion.quantization import INT8_BY_DEFAULT

    calls = []  # the CLI imports quantize_encoder when it needs it: this stands in for it
    monkeypatch.setattr(quantization, "quantize_encoder", lambda nlp, scheme=None: calls.append(scheme))
    assert INT8_BY_DEFAULT
    for extra, expected in (([], True), (["--int8"], True), (["--fp32"], False)):
        calls.clear()
        result = run_tag([aif_dir, "--format", "text", "-q", *extra], input="the cat sat\n")
        assert result.exit_code == 0, result.output
        assert len(calls) == int(expected), extra


# ---------------------------------------------------------------------------
# NFC
# ---------------------------------------------------------------------------


def test_nfd_and_nfc_yoruba_get_the_same_tokens_and_tags(aif_dir):
    nfc = unicodedata.normalize("NFC", YORUBA)
    nfd = unicodedata.normalize("NFD", YORUBA)
    assert nfc != nfd
    rec_nfc, rec_nfd = tag_jsonl(aif_dir, [nfc, nfd])
    assert rec_nfd == rec_nfc
    assert rec_nfd["text"] == nfc and rec_nfd["tokens"] == nfc.split()


# ---------------------------------------------------------------------------
# Streaming and hidden states
# ---------------------------------------------------------------------------


def test_tagging_reads_lazily_in_bounded_lookahead(aif_nlp):
    tagger = LineTagger(aif_nlp, batch_size=4, lookahead=8)
    produced = 0

    def lines():
        for i in range(200):
            if i - produced >= tagger.lookahead:
                raise AssertionError(f"line {i} read while only {produced} records were output")
            yield "the cat sat"

    for record in tagger.tag(lines()):
        produced += 1
    assert produced == 200


@pytest.mark.parametrize("cleaner", [True, False])
def test_no_doc_keeps_its_hidden_states(aif_nlp, aif_no_cleaner, cleaner, monkeypatch):
    nlp = aif_nlp if cleaner else aif_no_cleaner
    assert has_trf_data_cleaner(nlp) is cleaner
    seen = []
    pipe = nlp.pipe

    def spy(docs, **kwargs):
        # spaCy's as_tuples=True calls nlp.pipe again on the bare docs: record once.
        for item in pipe(docs, **kwargs):
            if kwargs.get("as_tuples"):
                seen.append(item[0])
            yield item

    monkeypatch.setattr(nlp, "pipe", spy)
    records = list(LineTagger(nlp, batch_size=2).tag(["the cat", "a dog ran", "", "the mat"]))
    assert len(records) == 4 and len(seen) == 3
    assert all(doc._.trf_data is None for doc in seen)


# ---------------------------------------------------------------------------
# Long lines
# ---------------------------------------------------------------------------


def _count_unaligned(nlp, monkeypatch):
    """Spy on nlp.pipe: for each tagged doc, its non-space tokens with no wordpiece rows."""
    unaligned = []
    pipe = nlp.pipe

    def spy(docs, **kwargs):
        for item in pipe(docs, **kwargs):
            if kwargs.get("as_tuples"):  # the inner call (bare docs) is not counted again
                doc = item[0]
                lengths = doc._.trf_data.align.lengths
                unaligned.append(sum(1 for t, n in zip(doc, lengths) if n == 0 and not t.is_space))
            yield item

    monkeypatch.setattr(nlp, "pipe", spy)
    return unaligned


LONG_LINES = {
    # 128-token windows of 11-piece words: 1400 wordpieces per window
    "many_subwords": " ".join([RARE_WORD] * 300),
    # over 10,000 characters and over MAX_CHUNK_TOKENS tokens
    "over_10k_chars": " ".join([RARE_WORD, "the", RARE_WORD, "cat"] * 300),
    # single tokens longer than the model's 512 wordpieces, mid-window
    "huge_tokens": f"the cat {HUGE_TOKEN} sat on the mat {HUGE_TOKEN} .",
}


def test_long_line_fixtures_really_exceed_the_limits(aif_nlp):
    tokenizer = aif_nlp.get_pipe("transformer").model.tokenizer
    assert len(tokenizer(HUGE_TOKEN, add_special_tokens=False, verbose=False)["input_ids"]) > 512
    assert len(tokenizer(RARE_WORD, add_special_tokens=False)["input_ids"]) * 128 > 512
    assert len(LONG_LINES["over_10k_chars"]) > 10_000
    assert len(LONG_LINES["over_10k_chars"].split()) > MAX_CHUNK_TOKENS


@pytest.mark.parametrize("name", list(LONG_LINES))
def test_long_lines_every_token_tagged(aif_dir, name):
    line = LONG_LINES[name]
    words = line.split()
    records = tag_jsonl(aif_dir, ["the cat", line, "a dog"], "--pretokenized")
    assert len(records) == 3
    assert records[1]["tokens"] == words
    assert len(records[1]["pos"]) == len(words)
    assert all(tag in POS_LABELS for tag in records[1]["pos"])


@pytest.mark.parametrize("name", list(LONG_LINES))
def test_long_lines_every_token_has_wordpieces(aif_no_cleaner, name, monkeypatch):
    unaligned = _count_unaligned(aif_no_cleaner, monkeypatch)
    [record] = LineTagger(aif_no_cleaner, batch_size=8).tag([LONG_LINES[name]])
    assert len(record.tags) == len(LONG_LINES[name].split())
    assert unaligned and sum(unaligned) == 0


def test_without_chunking_spacy_transformers_drops_tokens(aif_no_cleaner, monkeypatch):
    """Why chunking exists: a stock strided window of these lines is truncated to 512
    wordpieces and the tokens past the cut get no wordpiece at all."""
    unaligned = _count_unaligned(aif_no_cleaner, monkeypatch)
    tagger = LineTagger(aif_no_cleaner, batch_size=8)
    monkeypatch.setattr(tagger, "chunk_bounds", lambda doc: [(0, len(doc))])
    list(tagger.tag([LONG_LINES["many_subwords"], LONG_LINES["huge_tokens"]]))
    assert unaligned and all(n > 0 for n in unaligned)


def test_short_lines_are_not_chunked(aif_nlp):
    tagger = LineTagger(aif_nlp)
    doc = tagger.make_doc("the cat sat on the mat " * 20)
    assert tagger.chunk_bounds(doc) == [(0, len(doc))]


# ---------------------------------------------------------------------------
# Odd characters: valid output, no crash
# ---------------------------------------------------------------------------

ODD_LINES = {
    "control_chars": "the\x00cat \x01\x07 sat\x1b[0m on\x7f the mat",
    "line_breaks_inside": "the cat\rsat\x0bon\x0cthe\x1cmat\x85a\u2028dog\u2029ran",
    "zero_width": "the\u200bcat \u200d\u200c sat\ufeff \u2060 on the\u200b",
    "zero_width_only": "\u200b\u200b",
    "emoji": "the 🐈 sat on 👍🏽 the 👨‍👩‍👧 mat 🇳🇬 !",
    "mixed_scripts": "the ọmọ குழந்தை бала 家 house بيت בית घर ran",
    "whitespace_only": " \t \u00a0\u3000 ",
    "replacement_char": "the \ufffd cat \ufffd\ufffd",
}


@pytest.mark.parametrize("name", list(ODD_LINES))
@pytest.mark.parametrize("fmt", ["conllu", "jsonl", "text"])
def test_odd_characters_give_one_valid_record(aif_dir, name, fmt):
    lines = ["the cat", ODD_LINES[name], "a dog"]
    payload = "\n".join(lines) + "\n"
    result = run_tag([aif_dir, "--format", fmt], input=payload)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    if fmt == "jsonl":
        assert out.count("\n") == 3
        records = [json.loads(line) for line in out.split("\n")[:-1]]
        assert records[1]["text"] == unicodedata.normalize("NFC", lines[1])
        assert len(records[1]["tokens"]) == len(records[1]["pos"])
        assert all(tag in POS_LABELS for tag in records[1]["pos"])
        assert all(token.strip() for token in records[1]["tokens"])
    elif fmt == "text":
        assert out.count("\n") == 3
        for pair in out.split("\n")[1].split(" "):
            if pair:
                assert pair.rsplit("/", 1)[1] in POS_LABELS
    else:
        blocks = out.split("\n\n")[:-1]
        if name == "whitespace_only":  # no word: no block (CoNLL-U has no empty sentence)
            assert [b.split("\n")[0] for b in blocks] == ["# sent_id = 1", "# sent_id = 3"]
            return
        assert len(blocks) == 3
        rows = blocks[1].split("\n")
        assert rows[0] == "# sent_id = 2" and rows[1].startswith("# text = ") and len(rows) > 2
        for i, row in enumerate(rows[2:], 1):
            cols = row.split("\t")
            assert len(cols) == 10 and cols[0] == str(i) and cols[1] and cols[3] in POS_LABELS


def test_odd_lines_tokens_in_equal_tags_out(aif_nlp):
    tagger = LineTagger(aif_nlp, batch_size=3)
    records = list(tagger.tag(list(ODD_LINES.values())))
    assert len(records) == len(ODD_LINES)
    for line, record in zip(ODD_LINES.values(), records):
        doc = aif_nlp.make_doc(unicodedata.normalize("NFC", line))
        assert record.words == [t.text for t in doc if not t.is_space]
        assert len(record.tags) == len(record.words) and all(record.tags)
    assert records[list(ODD_LINES).index("whitespace_only")].words == []


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_invalid_utf8_strict_names_file_and_offset_and_leaves_no_output(aif_dir, tmp_path):
    src = tmp_path / "latin1.txt"
    src.write_bytes("the cat\nsat on the ".encode() + b"\xe9" + b" mat\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_tag([aif_dir, src, "--output", out_dir / "tags.conllu"])
    assert result.exit_code == 1
    # "the cat\n" is bytes 0-7; the bad byte is the 12th of line 2 ("sat on the " is 11 bytes)
    assert f"{src}: not valid UTF-8 at line 2, byte 12 of the line (byte offset 19 in the file)" in result.stderr
    assert "\n" not in result.stderr.strip()
    assert os.listdir(out_dir) == []  # neither the output nor its temp file


def test_invalid_utf8_replace_goes_on(aif_dir, tmp_path):
    src = tmp_path / "latin1.txt"
    src.write_bytes(b"the cat\nsat on the \xe9 mat\n")
    records = jsonl_records(run_tag([aif_dir, src, "--errors", "replace", "-f", "jsonl"]).stdout)
    assert [r["text"] for r in records] == ["the cat", "sat on the \ufffd mat"]


def test_crlf_and_bom_are_not_part_of_the_text(aif_dir, tmp_path):
    src = tmp_path / "windows.txt"
    src.write_bytes(b"\xef\xbb\xbfthe cat\r\na dog\r\n")
    records = jsonl_records(run_tag([aif_dir, src, "-f", "jsonl"]).stdout)
    assert [r["text"] for r in records] == ["the cat", "a dog"]


def test_pipeline_not_installed_exits_2_with_pip_hint():
    result = run_tag(["no_such_pipeline_xx", "-"], input="the cat\n")
    assert result.exit_code == 2
    assert "pip install" in result.stderr and "no_such_pipeline_xx" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_path_that_is_not_a_pipeline_exits_2(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    for target in (tmp_path, tmp_path / "missing"):
        result = run_tag([target], input="the cat\n")
        assert result.exit_code == 2
        assert "check the path" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_output_dash_is_stdout_and_lang_with_pretokenized_is_refused(aif_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dash = run_tag([aif_dir, "--output", "-", "--format", "jsonl", "--fp32"], input="the cat sat\n")
    assert dash.exit_code == 0 and len(jsonl_records(dash.stdout)) == 1 and not (tmp_path / "-").exists()
    both = run_tag([aif_dir, "--pretokenized", "--lang", "th", "--fp32"], input="the cat\n")
    assert both.exit_code == 2 and "--lang th segments raw text" in both.stderr and "--pretokenized" in both.stderr
    one = run_tag([aif_dir, "--output", tmp_path / "one.conllu", "--fp32"], input="the cat sat\n")
    assert "Tagged 1 line into" in one.stderr


def test_a_pipeline_without_a_transformer_names_the_default_that_wants_int8(tmp_path):
    blank = spacy.blank("xx")
    blank.to_disk(tmp_path / "blank")
    default = run_tag([tmp_path / "blank"], input="the cat\n")
    assert default.exit_code == 2 and "int8 (the default on the CPU; --fp32 turns it off):" in default.stderr
    chosen = run_tag([tmp_path / "blank", "--int8"], input="the cat\n")
    assert chosen.exit_code == 2 and chosen.stderr.split("✘ ")[-1].startswith("--int8: ")


def _signals_as_from_a_terminal():
    """``preexec_fn``: start the command with SIGINT, SIGHUP and SIGTERM at their defaults,
    as a terminal starts it, whatever this test run inherited. Under ``nohup``, or in the
    background of a shell without job control, they arrive ignored, and the command keeps
    an ignored signal ignored by design (test_a_hang_up_that_nohup_ignores_stays_ignored)."""
    import signal

    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGHUP"])
def test_a_killed_or_hung_up_tag_leaves_no_partial_output(aif_dir, tmp_path, signum):
    """`kill` or a closed terminal while `--output` is half written: the command exits
    128 + the signal, and neither the output nor its temp file is left behind."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out" / "tags.conllu"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), "--output", str(out),
                             "--fp32", "--lookahead", "1"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=_signals_as_from_a_terminal)
    proc.stdin.write(b"the cat sat\n" * 3)
    proc.stdin.flush()  # stdin stays open: the command waits for more lines, its output half written
    deadline = time.monotonic() + WAIT_SECONDS
    while not list(out.parent.glob(".tags.conllu.*.tmp")):
        assert proc.poll() is None and time.monotonic() < deadline, _stopped_for_its_stderr(proc)
        time.sleep(0.1)
    proc.send_signal(getattr(signal, signum))
    assert proc.wait(timeout=60) == 128 + getattr(signal, signum)
    proc.stdin.close()
    assert not out.parent.exists()  # no output, temp file or folder made for them


# How long a test waits for a started `tag` to reach the state it needs: a failsafe, long
# enough for a machine busy with other work (there, loading the pipeline took over 2 minutes).
WAIT_SECONDS = 300


def _stopped_for_its_stderr(proc, own_session: bool = False) -> str:
    """The end of the stderr of ``proc``, for a wait that failed. Reading it waits until every
    process that holds the pipe ends, for ever when one waits on stdin (a test once hung
    there): ``proc`` is killed first, and with ``own_session`` (``start_new_session``) its
    whole session, whose workers inherited the pipe and can outlive it."""
    import signal

    if own_session:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # all gone already
            pass
    elif proc.poll() is None:
        proc.kill()
    proc.wait()
    return proc.stderr.read().decode()[-2000:]


def _busy_tagging_with_workers(aif_dir, tmp_path, **popen_kwargs):
    """`layer-fusion tag --n-process 2` on 20,000 lines into tmp_path/out/tags.conllu, in a
    session of its own, returned (process, output path) once its temp file holds 200 KB: well
    into tagging, the workers busy."""
    import subprocess
    import sys
    import time

    text = tmp_path / "in.txt"
    text.write_text("the old cat sat on the mat near the red house today\n" * 20000, encoding="utf-8")
    out = tmp_path / "out" / "tags.conllu"
    proc = subprocess.Popen([sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), str(text), "--output",
                             str(out), "--fp32", "--n-process", "2", "-q"], stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True, **popen_kwargs)
    deadline = time.monotonic() + WAIT_SECONDS
    temp = []
    while not temp or temp[0].stat().st_size < 200_000:
        assert proc.poll() is None and time.monotonic() < deadline, _stopped_for_its_stderr(proc, own_session=True)
        time.sleep(0.1)
        temp = list(out.parent.glob(".tags.conllu.*.tmp")) if out.parent.is_dir() else []
    return proc, out


def _forked_workers(proc) -> list:
    """The pids of ``proc``'s worker processes: its children forked from it (same command line)."""
    import subprocess

    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    command = open(f"/proc/{proc.pid}/cmdline", "rb").read()
    return [int(pid) for pid in children if open(f"/proc/{pid}/cmdline", "rb").read() == command]


def _exit_code(proc, after: str, timeout: float = 60) -> int:
    """``proc``'s exit code; a failure when it still runs ``timeout`` seconds ``after`` what
    the test did (its process group killed first)."""
    import signal
    import subprocess

    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"still running {timeout:.0f} s after {after}")


@pytest.mark.parametrize("signum,whole_group", [("SIGTERM", False), ("SIGINT", False), ("SIGINT", True)])
def test_a_stopped_tag_with_workers_ends_them_and_leaves_nothing(aif_dir, tmp_path, signum, whole_group):
    """`kill PID` (the parent alone) or Ctrl-C (the whole process group) in the middle of a
    `--n-process 2` run. spaCy joins its workers when its stream closes, and a worker blocked
    on sending to the parent's full pipe waits for ever (its siblings hold the pipe's read
    end too): the command must end its workers itself, exit 128 + the signal, print no
    worker's traceback and leave no --output, temp file or process behind."""
    import signal
    import subprocess

    proc, out = _busy_tagging_with_workers(aif_dir, tmp_path, preexec_fn=_signals_as_from_a_terminal)
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                               text=True).stdout.split()]
    assert len(workers) >= 2, workers
    if whole_group:
        os.killpg(proc.pid, getattr(signal, signum))
    else:
        proc.send_signal(getattr(signal, signum))
    code = _exit_code(proc, after=signum)
    stderr = proc.stderr.read().decode()
    assert code == 128 + getattr(signal, signum), stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert not out.parent.exists()  # no output, temp file or folder made for them
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


@pytest.mark.parametrize("failure", ["invalid UTF-8", "full disk"])
def test_an_error_with_workers_ends_them_and_exits_with_one_line(aif_dir, tmp_path, failure):
    """An invalid line after thousands of good ones, or an output that cannot be written, in
    a `--n-process 2` run. spaCy joined its workers as the error left its stream, and a
    worker blocked on sending to the parent's full pipe waited for ever: the command hung
    with no message. Now: the one-line error, exit 1, no --output or temp file, no worker."""
    import subprocess
    import sys

    text = tmp_path / "in.txt"
    text.write_bytes(b"the old cat sat on the mat near the red house today\n" * 3000 + b"ab\xffcd\n")
    out = tmp_path / "out" / "tags.conllu"
    args = [sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), str(text), "--fp32", "--n-process", "2",
            "--lookahead", "200", "-q", "--output"]
    if failure == "full disk":
        text.write_bytes(b"the old cat sat on the mat near the red house today\n" * 3000)
        args.append("/dev/full")
    else:
        args.append(str(out))
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            start_new_session=True, preexec_fn=_signals_as_from_a_terminal)
    try:
        code = proc.wait(timeout=240)
    except subprocess.TimeoutExpired:
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        os.killpg(proc.pid, 9)
        proc.wait()
        pytest.fail(f"still running after 240 s, with workers {workers}")
    stderr = proc.stderr.read().decode()
    assert code == 1, stderr[-2000:]
    expected = "line 3001" if failure == "invalid UTF-8" else "cannot write --output /dev/full"
    assert expected in stderr and "Traceback" not in stderr and "W127" not in stderr, stderr[-2000:]
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not out.parent.exists()  # nor the folder made for it
    assert subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).returncode == 1  # no child left


def test_a_worker_killed_for_memory_ends_the_command_with_one_line(aif_dir, tmp_path):
    """A `--n-process 2` worker killed with SIGKILL in the middle of the run, as the kernel
    kills a process when memory runs out. The parent waited for ever on the dead worker's
    pipe, whose write end its living sibling holds. Now: one line that says how the worker
    ended, exit 1, no --output or temp file, no worker left."""
    import signal
    import subprocess

    proc, out = _busy_tagging_with_workers(aif_dir, tmp_path)
    workers = _forked_workers(proc)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    code = _exit_code(proc, after="a worker was killed")
    stderr = proc.stderr.read().decode()
    assert code == 1, stderr[-2000:]
    assert f"(pid {workers[0]}) ended while tagging, killed by SIGKILL" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr and "W127" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not out.parent.exists()  # no output, temp file or folder made for them
    assert subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).returncode == 1  # no child left


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_worker_stopped_by_a_signal_stops_the_command_as_that_signal_does(aif_dir, tmp_path, signum):
    """A `--n-process 2` worker alone gets Ctrl-C's or kill's signal, and exits with 128 + it
    (cli._stop_on_signal), as it does when the signal reaches the whole group and the worker's
    exit closes its pipe before the parent's own handler has run. The run was stopped, not
    failed: exit 128 + the signal, no error line, no --output or temp file, no worker left."""
    import signal
    import subprocess

    proc, out = _busy_tagging_with_workers(aif_dir, tmp_path, preexec_fn=_signals_as_from_a_terminal)
    workers = _forked_workers(proc)
    assert len(workers) == 2, workers
    os.kill(workers[0], getattr(signal, signum))
    code = _exit_code(proc, after=f"a worker got {signum}")
    stderr = proc.stderr.read().decode()
    assert code == 128 + getattr(signal, signum), stderr[-2000:]
    assert stderr.strip() == "", stderr[-2000:]
    assert not out.parent.exists()
    assert subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).returncode == 1  # no child left


def _python_on_pipeline(code: str, pipeline) -> list:
    """The words ``code`` prints, run in a fresh Python with ``pipeline`` as its argument; a
    failure when it exits non-zero or is still waiting for its workers after 240 s."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", code, str(pipeline)], capture_output=True, text=True, timeout=240,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    except subprocess.TimeoutExpired:
        pytest.fail("still waiting for its workers after 240 s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_a_reader_that_stops_reading_a_taggers_records_does_not_wait_for_its_workers(aif_dir):
    """``LineTagger(n_process=2).tag`` read for 5 records of 3,000, then closed: spaCy joins
    its workers as its stream closes, and one blocked on sending to the full pipe waited for
    ever. In a fresh process, as the command runs (see test_n_process_gives_the_same_records_in_order)."""
    code = ("import spacy, sys; from layer_fusion.tagging import LineTagger; "
            "nlp = spacy.load(sys.argv[1]); records = LineTagger(nlp, lookahead=200, n_process=2)"
            ".tag(['the old cat sat on the mat near the red house today'] * 3000); "
            "print(sum(1 for _, r in zip(range(5), records))); records.close(); print('closed')")
    assert _python_on_pipeline(code, aif_dir) == ["5", "closed"]


def test_a_pipeline_that_fails_in_a_worker_raises_without_waiting_for_the_others(aif_dir):
    """A component that fails on line 2,001 of 3,000 in a worker: spaCy raises the error in
    the parent (through ``nlp.default_error_handler``), then joined the workers, one of them
    blocked on sending to the full pipe. In a fresh process, as the command runs."""
    code = ("import spacy, sys; from spacy.language import Language; from layer_fusion.tagging import LineTagger\n"
            "@Language.component('fails_on_boom')\n"
            "def fails_on_boom(doc):\n"
            "    if 'BOOM' in doc.text: raise ValueError('boom')\n"
            "    return doc\n"
            "nlp = spacy.load(sys.argv[1]); nlp.add_pipe('fails_on_boom')\n"
            "lines = ['the old cat sat on the mat near the red house today'] * 3000; lines[2000] = 'BOOM'\n"
            "try:\n"
            "    sum(1 for _ in LineTagger(nlp, lookahead=200, n_process=2).tag(lines))\n"
            "except ValueError as err:\n"
            "    print('raised', 'boom' in str(err))\n")
    assert _python_on_pipeline(code, aif_dir) == ["raised", "True"]


def test_a_worker_that_dies_by_itself_raises_worker_died(aif_dir):
    """A component that kills its own worker process on line 2,001 of 3,000 (SIGKILL, as
    for memory): ``tag`` waited for ever on the dead worker's pipe. Now it raises
    ``WorkerDied``, which says how the worker ended; anything else it raises fails the test."""
    code = ("import os, signal, spacy, sys; from spacy.language import Language\n"
            "from layer_fusion.tagging import LineTagger; from layer_fusion.pipe_workers import WorkerDied\n"
            "@Language.component('dies_on_boom')\n"
            "def dies_on_boom(doc):\n"
            "    if 'BOOM' in doc.text: os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return doc\n"
            "nlp = spacy.load(sys.argv[1]); nlp.add_pipe('dies_on_boom')\n"
            "lines = ['the old cat sat on the mat near the red house today'] * 3000; lines[2000] = 'BOOM'\n"
            "try:\n"
            "    sum(1 for _ in LineTagger(nlp, lookahead=200, n_process=2).tag(lines))\n"
            "except WorkerDied as err:\n"
            "    print('raised', 'killed by SIGKILL' in str(err))\n")
    assert _python_on_pipeline(code, aif_dir) == ["raised", "True"]


def test_a_closed_stdin_or_stdout_matters_only_where_it_is_used(aif_dir, tmp_path):
    """A closed standard input with input files given, or a closed standard output with
    --output: the command runs, as with both open. Reading a closed stdin (`-`) is a
    one-line usage error."""
    import subprocess
    import sys

    text = tmp_path / "in.txt"
    text.write_text("the cat sat\nold dogs\n", encoding="utf-8")
    base = [sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), "--fp32", "-q"]
    reference = tmp_path / "open.conllu"
    subprocess.run(base + [str(text), "--output", str(reference)], check=True, timeout=240)
    for fd in (0, 1):
        out = tmp_path / f"closed{fd}.conllu"
        done = subprocess.run(base + [str(text), "--output", str(out)], stderr=subprocess.PIPE,
                              preexec_fn=lambda fd=fd: os.close(fd), timeout=240)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert out.read_text() == reference.read_text() != ""
    refused = subprocess.run(base + ["-"], stderr=subprocess.PIPE, preexec_fn=lambda: os.close(0), timeout=240)
    assert refused.returncode == 2 and "standard input is closed" in refused.stderr.decode(), refused.stderr.decode()


@pytest.mark.parametrize("stop,code", [(KeyboardInterrupt(), 130), (SystemExit(143), 143)])
def test_a_stop_with_workers_removes_the_output_then_exits_at_once(aif_dir, tmp_path, monkeypatch, stop, code):
    """Ctrl-C reaches the whole process group, so spaCy's workers die with it. The parent's
    queue feeder thread can then be blocked on a full pipe to a dead worker, and the
    interpreter's exit joins it for ever (seen: `_finalize_join` in multiprocessing's exit
    function, about one run in two with the smoke pipeline). So with workers the command
    leaves by os._exit, once the --output temp file is gone."""
    import layer_fusion.tagging as tagging

    class Interrupted(tagging.LineTagger):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.n_process = 1  # the command asked for workers; none are forked from the test runner

        def tag(self, lines):
            yield from list(super().tag(["the cat sat"]))
            raise stop

    exits = []

    def fake_exit(status):
        exits.append(status)
        raise RuntimeError("left by os._exit")

    monkeypatch.setattr(tagging, "LineTagger", Interrupted)
    monkeypatch.setattr(os, "_exit", fake_exit)
    out = tmp_path / "out" / "tags.conllu"
    with pytest.raises(RuntimeError, match="left by os._exit"):
        CliRunner().invoke(app, ["tag", str(aif_dir), "--output", str(out), "--fp32", "--n-process", "2"],
                           input="the cat sat\n", catch_exceptions=False)
    assert exits == [code] and not out.parent.exists()
    exits.clear()
    alone = CliRunner().invoke(app, ["tag", str(aif_dir), "--output", str(out), "--fp32"], input="the cat sat\n")
    assert exits == [] and alone.exit_code != 0  # one process: the usual way out
    assert not out.parent.exists()  # no output, temp file or folder made for them


def test_a_hang_up_that_nohup_ignores_stays_ignored(aif_dir, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "tags.conllu"
    proc = subprocess.Popen([sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), "--output", str(out),
                             "--fp32"], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))  # as nohup does
    proc.stdin.write(b"the cat sat\n")
    proc.stdin.flush()
    deadline = time.monotonic() + WAIT_SECONDS
    while not list(tmp_path.glob(".tags.conllu.*.tmp")):
        assert proc.poll() is None and time.monotonic() < deadline, _stopped_for_its_stderr(proc)
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert proc.poll() is None  # still running
    proc.stdin.close()  # end of input: it finishes normally
    assert proc.wait(timeout=60) == 0 and out.read_text().count("\tthe\t") == 1


def test_console_script_is_declared():
    from importlib.metadata import entry_points

    [script] = [ep for ep in entry_points(group="console_scripts") if ep.name == "layer-fusion"]
    assert script.value == "layer_fusion.cli:main"


def test_bad_inputs_are_one_line_errors_naming_them(aif_dir, tmp_path):
    missing = run_tag([aif_dir, tmp_path / "nope.txt"])
    assert missing.exit_code == 2 and f"input file not found: {tmp_path / 'nope.txt'}" in missing.stderr
    folder = run_tag([aif_dir, tmp_path])
    assert folder.exit_code == 2 and f"input {tmp_path} is a folder, not a file" in folder.stderr
    assert len(folder.stderr.strip().splitlines()) == 1
    # a file name with a line break in it still gives one line, the break written as \n
    odd = tmp_path / "bad\nname.txt"
    for name, content, code, said in ((odd, None, 2, "input file not found"),
                                      (odd, b"ok\n\xff\n", 1, "not valid UTF-8 at line 2")):
        if content is not None:
            odd.write_bytes(content)
        result = run_tag([aif_dir, name])
        assert result.exit_code == code and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert said in result.stderr and str(tmp_path / "bad\\nname.txt") in result.stderr, result.stderr


def test_bad_inputs_are_reported_before_spacy_and_torch_are_imported(tmp_path):
    """Those imports take seconds: a typo in a file name is answered at once."""
    import subprocess
    import sys

    probe = ("import sys\nfrom layer_fusion.cli import main\nsys.argv = ['layer-fusion', 'tag', 'any-pipeline', "
             f"{str(tmp_path / 'nope.txt')!r}]\ntry:\n    main()\nexcept SystemExit as stop:\n"
             "    print(stop.code, sorted(m for m in ('spacy', 'torch', 'transformers') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr
    assert done.stderr.strip() == f"✘ input file not found: {tmp_path / 'nope.txt'}"


def test_a_pipeline_that_fails_on_text_is_a_one_line_error_and_writes_nothing(aif_dir, tmp_path):
    """It loads, then its first batch fails: the config asks for layers its model was not
    trained on (the layers check of layer_pooling)."""
    broken = copy_with_other_layers(aif_dir, tmp_path / "pipeline")
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    result = run_tag([broken, src, "--output", tmp_path / "tags.conllu"])
    assert result.exit_code == 1, result.stderr
    error = result.stderr.strip()
    assert "\n" not in error and "Traceback" not in error
    assert f"tagging with {broken} failed after 0 line(s); nothing was written to {tmp_path / 'tags.conllu'}: " \
           "ValueError: layers=" in error
    assert error.endswith("(LAYER_FUSION_TRACEBACK=1 shows where)") and not (tmp_path / "tags.conllu").exists()
    os.environ["LAYER_FUSION_TRACEBACK"] = "1"
    try:
        with pytest.raises(ValueError, match="in the config, but this model was trained on"):
            run_tag([broken, src])  # the error itself, for its traceback
    finally:
        del os.environ["LAYER_FUSION_TRACEBACK"]


def test_the_console_script_shows_the_traceback_it_is_asked_for(aif_dir, tmp_path):
    """LAYER_FUSION_TRACEBACK=1 through the console script: the pipeline's own error, with one
    traceback, promptly, and exit 1. (It used to come with a cycle in its exception chain,
    which Typer's default traceback printer followed for ever, using gigabytes.)"""
    import subprocess
    import sys

    broken = copy_with_other_layers(aif_dir, tmp_path / "pipeline")
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LAYER_FUSION_TRACEBACK": "1"}
    env.pop("_TYPER_STANDARD_TRACEBACK", None)
    done = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "tag", str(broken), str(src), "--fp32"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.count("Traceback (most recent call last)") == 1
    assert "ValueError: layers=[2, -1] in the config, but this model was trained on" in done.stderr
    assert "_TaggingFailed" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("where", ["parent_is_file", "output_is_folder"])
def test_unwritable_output_is_a_one_line_error(aif_dir, tmp_path, where):
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    blocker = tmp_path / "blocker"
    if where == "parent_is_file":
        blocker.write_text("a regular file", encoding="utf-8")
        target = blocker / "sub" / "tags.conllu"
    else:
        blocker.mkdir()
        target = blocker
    result = run_tag([aif_dir, src, "--output", target])
    assert result.exit_code == 2  # a bad setting, found before any work (as in `evaluate`)
    assert "cannot write --output" in result.stderr and str(target) in result.stderr
    assert "Traceback" not in result.stderr and "\n" not in result.stderr.strip()
    if where == "parent_is_file":
        assert blocker.read_text(encoding="utf-8") == "a regular file"


def test_output_that_is_an_input_is_refused_and_the_input_kept(aif_dir, tmp_path):
    """`tag in.txt -o in.txt` replaced the text with its tags (`evaluate` refused the same)."""
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(src)
    for output in (src, tmp_path / "link.txt"):
        result = run_tag([aif_dir, src, "--output", output])
        assert result.exit_code == 2, result.stderr
        assert result.stderr.strip() == f"✘ --output {output} is the input {src}: the tags would overwrite it"
    assert src.read_text(encoding="utf-8") == "the cat sat\n"


@pytest.mark.parametrize("output", ["in.txt", "/dev/stdin"])
@pytest.mark.parametrize("inputs", [[], ["-"]])
def test_output_that_is_the_standard_input_is_refused_and_the_input_kept(aif_dir, tmp_path, output, inputs):
    """`tag P -o in.txt < in.txt` (or `-o /dev/stdin`) replaced or appended to the text it was
    reading, and said it had tagged it."""
    import subprocess
    import sys

    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    with open(src, "rb") as stdin:
        done = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), *inputs,
                               "--output", output], stdin=stdin, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"✘ --output {output} is the standard input the lines are read from: "
                                   "the tags would overwrite it")
    assert src.read_text(encoding="utf-8") == "the cat sat\n"


def test_only_a_regular_file_counts_as_the_standard_input_to_protect(tmp_path):
    """Lines typed in a terminal (a pseudo-terminal here) with --output /dev/stdout, the same
    terminal: the same device, but nothing to overwrite, so it is not refused."""
    import pty
    import subprocess
    import sys

    probe = "from pathlib import Path; from layer_fusion.cli.tag import _is_stdin; print(_is_stdin(Path(sys.argv[1])))"
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    leader, follower = pty.openpty()
    try:
        on_terminal = subprocess.run([sys.executable, "-c", "import sys; " + probe, "/dev/stdout"], stdin=follower,
                                     stdout=follower, stderr=subprocess.PIPE, timeout=60)
        assert on_terminal.returncode == 0, on_terminal.stderr
        assert os.read(leader, 100).decode().strip() == "False"
    finally:
        os.close(leader)
        os.close(follower)
    with open(src, "rb") as stdin:
        in_file = subprocess.run([sys.executable, "-c", "import sys; " + probe, str(src)], stdin=stdin,
                                 capture_output=True, text=True, timeout=60)
    assert in_file.stdout.strip() == "True", in_file.stderr


def test_a_pipeline_that_sets_no_tags_is_warned_about(tmp_path):
    """A pipeline without a tagger gave `word/` for every word, exit 0, and no word why."""
    spacy.blank("xx").to_disk(tmp_path / "blank")
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\non the mat\n", encoding="utf-8")
    result = run_tag([tmp_path / "blank", src, "--fp32", "--format", "text"])
    assert result.exit_code == 0 and result.stdout == "the/ cat/ sat/\non/ the/ mat/\n"
    assert f"{tmp_path / 'blank'} set no UPOS tag on any of the 6 tokens" in result.stderr
    assert "\n" not in result.stderr.strip()


def test_a_pipeline_with_weights_that_are_not_finite_fails_in_one_line(aif_dir, tmp_path):
    """A pipeline whose weights went NaN tagged every word PROPN, with exit 0."""
    import torch

    from layer_fusion.layers.fusion_layer import torch_module

    nlp = spacy.load(aif_dir)
    with torch.no_grad():
        for p in torch_module(nlp.get_pipe("morphologizer").model.get_ref("tok2vec").get_ref("fusion")).parameters():
            p.fill_(float("nan"))
    nlp.to_disk(tmp_path / "nan")
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n", encoding="utf-8")
    result = run_tag([tmp_path / "nan", src, "--fp32", "--output", tmp_path / "out.txt"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "\n" not in result.stderr.strip() and "weights are not finite" in result.stderr
    assert not (tmp_path / "out.txt").exists()


def _tagged_words(aif_dir, text, *options):
    """The words ``layer-fusion tag --format text`` gives for one line of ``text``."""
    result = CliRunner().invoke(app, ["tag", str(aif_dir), "--format", "text", "-q", *options], input=text + "\n")
    assert result.exit_code == 0, result.output
    return [w.rsplit("/", 1)[0] for w in result.stdout.split()]


def test_lang_uses_the_word_segmenter(aif_dir):
    text = "ฉันไปโรงเรียน"
    assert _tagged_words(aif_dir, text) == [text]  # no spaces: one token
    thai = _tagged_words(aif_dir, text, "--lang", "th")
    assert len(thai) > 1 and "".join(thai) == text


def test_lang_mt_splits_the_maltese_article(aif_dir):
    text = "Il-kelb tal-Kunsill"
    # this pipeline has spaCy's xx rules, which split the hyphen off
    assert _tagged_words(aif_dir, text) == ["Il", "-", "kelb", "tal", "-", "Kunsill"]
    assert _tagged_words(aif_dir, text, "--lang", "mt") == ["Il-", "kelb", "tal-", "Kunsill"]


def test_lang_en_splits_english_contractions(aif_dir):
    text = "I don't think Dr. Lee's gonna come"
    assert _tagged_words(aif_dir, text, "--lang", "en") == \
        ["I", "do", "n't", "think", "Dr.", "Lee", "'s", "gon", "na", "come"]
    assert "do" not in _tagged_words(aif_dir, text)  # without --lang: language-agnostic


def test_stderr_holds_no_third_party_chatter(aif_dir, tmp_path):
    """In a fresh process: jieba logs its dictionary's building once per process, and
    transformers warns once per tokenizer that a sequence over 512 wordpieces "will result in
    indexing errors"; tag handles that lone over-long token (it keeps its first pieces)."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args, text in ((["--lang", "zh"], "我爱北京天安门\n"), ([], f"a {HUGE_TOKEN} b\n")):
        result = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), "--fp32", "-q",
                                 "--format", "jsonl", *args], input=text, capture_output=True, text=True, env=env)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert len(json.loads(result.stdout)["pos"]) >= 3


def test_unknown_lang_is_a_one_line_error(aif_dir):
    result = CliRunner().invoke(app, ["tag", str(aif_dir), "--lang", "qq"], input="a b\n")
    assert result.exit_code == 2
    assert "--lang qq: no word segmenter" in result.output


def test_a_lang_without_its_segmenter_is_refused_before_the_pipeline_loads(monkeypatch):
    """An unknown language, or one whose extra is not installed, is a usage error said at once,
    not after loading the pipeline (the pipeline here does not even exist)."""
    import importlib.util

    import layer_fusion.cli.tag as tag_cli

    def must_not_load(*args, **kwargs):
        raise AssertionError("loaded the pipeline before checking --lang")

    monkeypatch.setattr(tag_cli, "_load", must_not_load)
    result = CliRunner().invoke(app, ["tag", "./never-loaded", "--lang", "qq"], input="a b\n")
    assert result.exit_code == 2 and "--lang qq: no word segmenter for language 'qq'" in result.output
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyvi" else find_spec(name, *a))
    result = CliRunner().invoke(app, ["tag", "./never-loaded", "--lang", "vi"], input="a b\n")
    assert result.exit_code == 2
    assert '--lang vi: the \'vi\' word segmenter needs pyvi: pip install "spacy-layer-fusion[vi]"' in result.output


def _mixed_lines(n=40):
    """Lines of many lengths, with empty lines and one line long enough to be chunked."""
    words = "the cat sat on a mat and the dog ran".split()
    lines = []
    for i in range(n):
        lines.append("" if i % 7 == 3 else " ".join(words[: 1 + (i * 5) % 10]) + " .")
    lines[11] = " ".join(words * 80)
    return lines


def test_n_process_gives_the_same_records_in_order(aif_dir):
    # In a fresh process, as the command runs: workers are forked, and GNU OpenMP deadlocks in a
    # fork of a process whose torch already ran with several threads (this test process has).
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("layer-fusion"))
    text = "\n".join(_mixed_lines()) + "\n"
    args = [exe, "tag", str(aif_dir), "--format", "jsonl", "-q", "--batch-size", "4", "--lookahead", "6"]
    one = subprocess.run(args, input=text, capture_output=True, text=True, timeout=300)
    two = subprocess.run([*args, "--n-process", "2"], input=text, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout == one.stdout
    assert len(one.stdout.splitlines()) == 40


def test_n_process_workers_do_not_hang_after_torch_ran_on_two_threads(aif_dir):
    # A real pipeline's loading runs torch's parallel loops (large weight copies), which start
    # GNU OpenMP's pool; the tiny test pipeline does not, so the parent starts it here. Forked
    # workers with two threads then waited forever on it.
    import os
    import subprocess
    import sys

    code = ("import sys, torch; torch.set_num_threads(2); torch.ones(2 ** 22).mul_(2).sum(); "
            "from layer_fusion.cli import app; sys.argv = ['layer-fusion', *sys.argv[1:]]; app()")
    text = "\n".join(_mixed_lines(12)) + "\n"
    args = [sys.executable, "-c", code, "tag", str(aif_dir), "--format", "text", "-q", "--batch-size", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    one = subprocess.run(args, input=text, capture_output=True, text=True, timeout=300, env=env)
    two = subprocess.run([*args, "--n-process", "2"], input=text, capture_output=True, text=True, timeout=120, env=env)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout == one.stdout and len(one.stdout.splitlines()) == 12


def test_windows_of_empty_lines_keep_their_place(aif_nlp):
    from layer_fusion.tagging import LineTagger

    lines = ["", "", "the cat", "", "", "", "a dog ran", "", ""]
    records = list(LineTagger(aif_nlp, batch_size=2, lookahead=2).tag(lines))
    assert [r.text for r in records] == lines
    assert [len(r.tags) for r in records] == [0, 0, 2, 0, 0, 0, 3, 0, 0]


def test_gpu_id_errors_are_one_line(aif_dir, monkeypatch):
    both = CliRunner().invoke(app, ["tag", str(aif_dir), "--gpu-id", "0", "--n-process", "2"], input="a\n")
    assert both.exit_code == 2 and "do not combine" in both.output

    def no_gpu(gpu_id):
        raise ValueError("GPU is not accessible. Was the library installed correctly?")

    monkeypatch.setattr(spacy, "require_gpu", no_gpu)
    result = CliRunner().invoke(app, ["tag", str(aif_dir), "--gpu-id", "0"], input="a\n")
    assert result.exit_code == 2
    assert "--gpu-id 0: no usable GPU (GPU is not accessible" in result.output


def fake_tensorflow(root: Path) -> Path:
    """An installed-looking `tensorflow` whose import leaves a mark (``root/imported``)."""
    (root / "tensorflow").mkdir(parents=True)
    (root / "tensorflow" / "__init__.py").write_text(
        f"open({str(root / 'imported')!r}, 'w').close()\n__version__ = '2.21.0'\n", encoding="utf8")
    dist_info = root / "tensorflow-2.21.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.21.0\n", encoding="utf8")
    return root / "imported"


def test_tag_does_not_import_an_installed_tensorflow(aif_dir, tmp_path):
    import subprocess
    import sys

    mark = fake_tensorflow(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k not in ("USE_TORCH", "USE_TF")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "site"), env.get("PYTHONPATH")]))
    # The control: on its own, transformers imports it on the way to BertModel.
    subprocess.run([sys.executable, "-c", "import transformers.modeling_utils"], env=env, check=True)
    assert mark.exists()
    mark.unlink()
    src = tmp_path / "in.txt"
    src.write_text("the cat sat on the mat\n", encoding="utf8")
    result = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "tag", str(aif_dir), str(src)],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "\tthe\t" in result.stdout
    assert not mark.exists()



def test_an_encoder_the_quantizer_fails_on_is_a_one_line_error(aif_dir, monkeypatch):
    import layer_fusion.quantization as quantization

    def fails(nlp, *args, **kwargs):
        raise AssertionError("scale issue")  # what onnxruntime's quantizer raises on NaN weights

    monkeypatch.setattr(quantization, "quantize_encoder", fails)
    result = run_tag([aif_dir], input="the cat\n")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "the encoder could not be quantized (--fp32 runs it unquantized): AssertionError: scale issue" in result.stderr


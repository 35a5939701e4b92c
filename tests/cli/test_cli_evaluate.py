"""`layer-fusion evaluate`: the shared evaluation functions, per file and in total."""
import json
import os
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from pipelines import build_pipeline, copy_with_other_layers
from typer.testing import CliRunner

import layer_fusion.evaluation as evaluation
from layer_fusion.cli import app

LEXICON = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "mat": "NOUN", "sat": "VERB",
           "ran": "VERB", "on": "ADP", "big": "ADJ", ".": "PUNCT"}


def write_conllu(path: Path, sentences) -> Path:
    blocks = []
    for n, words in enumerate(sentences, 1):
        rows = [f"# sent_id = s{n}", f"# text = {' '.join(words)}"]
        for i, w in enumerate(words, 1):
            rows.append(f"{i}\t{w}\t{w}\t{LEXICON[w]}\t_\t_\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_")
        blocks.append("\n".join(rows) + "\n")
    path.write_text("\n".join(blocks) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def pipeline(tiny_xlmr, tmp_path_factory) -> Path:
    return build_pipeline(tmp_path_factory.mktemp("eval") / "pipeline", tiny_xlmr, "DLFA", steps=15)


@pytest.fixture()
def files(tmp_path):
    rng = numpy.random.default_rng(0)
    words = list(LEXICON)
    sets = []
    for name, n in (("one.conllu", 12), ("two.conllu", 7)):
        sents = [[words[i] for i in rng.integers(0, len(words), size=rng.integers(2, 8))] for _ in range(n)]
        sets.append(write_conllu(tmp_path / name, sents))
    return sets


def test_evaluate_uses_the_shared_implementation(pipeline, files, tmp_path, monkeypatch):
    calls = []
    real = evaluation.evaluate_sentences

    def spy(nlp, sentences, **kwargs):
        calls.append(Path(kwargs["name"]))
        return real(nlp, sentences, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate_sentences", spy)
    out = tmp_path / "metrics" / "m.json"
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), *map(str, files), "--output", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert calls == files
    metrics = json.loads(out.read_text("utf8"))
    nlp = spacy.load(pipeline)
    for path in files:
        expected = evaluation.evaluate_conllu(nlp, path)  # same defaults: batch 64, 1000 resamples, seed 0
        got = metrics["files"][str(path)]
        assert got["accuracy"] == pytest.approx(expected.accuracy)
        assert got["ci95"] == pytest.approx(list(expected.ci95))
        assert got["per_sentence"]["correct"] == expected.sent_correct.tolist()
    assert "total" in result.stdout and str(files[0]) in result.stdout


def test_accuracy_matches_a_direct_count_and_total_pools_words(pipeline, files, tmp_path):
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), *map(str, files), "-o", str(out),
                                      "--n-resamples", "200", "--seed", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text("utf8"))
    nlp = spacy.load(pipeline)
    correct = total = 0
    for path in files:
        for sent in evaluation.read_conllu(path):
            doc = nlp(Doc(nlp.vocab, words=sent.words))
            correct += sum(t.pos_ == g for t, g in zip(doc, sent.upos))
            total += len(sent)
    tot = metrics["total"]
    assert (tot["words"], tot["correct"]) == (total, correct)
    assert tot["accuracy"] == pytest.approx(correct / total)
    assert tot["sentences"] == 19
    words = numpy.concatenate([metrics["files"][str(p)]["per_sentence"]["words"] for p in files])
    right = numpy.concatenate([metrics["files"][str(p)]["per_sentence"]["correct"] for p in files])
    assert tot["ci95"] == pytest.approx(list(evaluation.bootstrap_ci(right, words, 200, 3)))
    assert tot["ci95"][0] <= tot["accuracy"] <= tot["ci95"][1]


def test_evaluate_missing_pipeline_exits_2(files):
    result = CliRunner().invoke(app, ["evaluate", "./nowhere", str(files[0])])
    assert result.exit_code == 2
    assert "check the path" in result.stderr and result.stdout == ""  # errors go to stderr


def test_raw_text_scores_equal_the_shared_scorer(pipeline, files, tmp_path):
    from layer_fusion.raw_text import evaluate_raw_text

    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), *map(str, files), "-o", str(out),
                                      "--raw-text"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "token F1" in result.stdout and "UPOS F1" in result.stdout
    metrics = json.loads(out.read_text("utf8"))
    nlp = spacy.load(pipeline)
    for path in files:
        expected = evaluate_raw_text(nlp, list(evaluation.read_conllu(path))).to_dict()
        got = metrics["raw_text"][str(path)]
        assert got["token_f1"] == expected["token_f1"] == 1.0  # space-separated words
        assert got["upos_f1"] == pytest.approx(expected["upos_f1"])
        # With every token found, UPOS F1 is the gold-word accuracy.
        assert got["upos_f1"] == pytest.approx(metrics["files"][str(path)]["accuracy"])


def test_raw_text_says_when_texts_were_rebuilt_and_tables_fit_long_paths(pipeline, files, tmp_path):
    """A file without `# text` lines is scored on text rebuilt from its tokens: the console
    said token F1 100.0 and nothing else. Paths past 30 characters broke the tables' columns."""
    lines = files[0].read_text("utf8").splitlines(keepends=True)
    deep = tmp_path / ("long_folder_name_" * 3) / "no_text.conllu"
    deep.parent.mkdir()
    deep.write_text("".join(line for line in lines if not line.startswith("# text")), encoding="utf8")
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), str(deep), str(files[1]), "--raw-text"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{deep}: 12 of 12 sentences have no '# text' line" in result.stderr
    assert str(files[1]) not in result.stderr and "\x1b[" not in result.stdout  # no colour codes in a pipe
    header, divider, *rows = [line for line in result.stdout.splitlines() if line.strip()][:5]
    width = divider.index(" ")  # the first column's: each row's path must end within it
    assert str(deep) in rows[0] and all(line[width:width + 3] == "   " for line in [header, *rows[:2]])


def test_paragraph_scores_equal_the_shared_scorer(pipeline, files, tmp_path):
    from layer_fusion.raw_documents import evaluate_raw_documents

    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), *map(str, files), "-o", str(out),
                                      "--raw-text", "--paragraphs", "5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "UPOS F1 paragraphs" in result.stdout
    metrics = json.loads(out.read_text("utf8"))
    assert metrics["settings"]["paragraphs"] == 5
    nlp = spacy.load(pipeline)
    for path in files:
        expected = evaluate_raw_documents(nlp, list(evaluation.read_conllu(path)), max_sentences=5).to_dict()
        got = metrics["raw_paragraphs"][str(path)]
        assert got["per_sentence"] == expected["per_sentence"]
        assert got["upos_f1"] == pytest.approx(expected["upos_f1"])
        assert got["gold_words"] == metrics["files"][str(path)]["words"]


@pytest.mark.parametrize("args,message", [
    (["--lang", "th"], "--lang only changes how raw text is tokenized"),
    (["--paragraphs", "5"], "--paragraphs tags raw text a paragraph at a time: add --raw-text"),
    (["--raw-text", "--lang", "qq"], "--lang qq: no word segmenter for language 'qq'"),
])
def test_lang_errors_are_one_line(pipeline, files, args, message):
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_errors_before_the_pipeline_loads(files, tmp_path, monkeypatch):
    """A malformed or empty file, or an output that cannot be written, fails at once, naming
    it: the pipeline is never loaded and nothing is written."""
    import layer_fusion.cli.evaluate as evaluate_cli

    def must_not_load(*args, **kwargs):
        raise AssertionError("loaded the pipeline before checking the inputs")

    monkeypatch.setattr(evaluate_cli, "_load", must_not_load)
    broken = tmp_path / "broken.conllu"
    broken.write_text(files[1].read_text("utf8").replace("\tNOUN\t", "\tNOUN\t_\t", 1), encoding="utf8")
    empty = tmp_path / "empty.conllu"
    empty.write_text("# a comment only\n", encoding="utf8")
    out = tmp_path / "m.json"
    cases = [
        ([files[0], broken], f"{broken}:", 1),
        ([files[0], empty], f"{empty}: no sentences with words to evaluate", 1),
    ]
    for paths, message, code in cases:
        result = CliRunner().invoke(app, ["evaluate", "./never-loaded", *map(str, paths), "-o", str(out)])
        assert result.exit_code == code, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert "expected 10 tab-separated columns" in result.output or paths[1] == empty
    result = CliRunner().invoke(app, ["evaluate", "./never-loaded", str(files[0]), "-o", str(tmp_path)])
    assert result.exit_code == 2 and f"cannot write --output {tmp_path}: it is a folder" in result.output
    assert not out.exists()
    result = CliRunner().invoke(app, ["evaluate", "./never-loaded", str(files[0]), "--raw-text", "--lang", "qq"])
    assert result.exit_code == 2 and "--lang qq: no word segmenter for language 'qq'" in result.output


def test_an_unreadable_file_is_named(files, monkeypatch):
    def denied(path, max_sentences=None):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(evaluation, "read_sentences", denied)  # as root, chmod 000 would still read
    result = CliRunner().invoke(app, ["evaluate", "./never-loaded", str(files[0])])
    assert result.exit_code == 1
    assert f"cannot read {files[0]}: Permission denied" in " ".join(result.output.split())


def test_a_file_given_twice_or_as_the_output_is_refused(pipeline, files, tmp_path):
    def flat(result):
        return " ".join(result.output.split())

    twice = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), str(files[1]), str(files[0])])
    assert twice.exit_code == 2 and f"{files[0]} is given twice" in flat(twice)
    os.link(files[0], tmp_path / "hard.conllu")  # the same file under another name: resolve() missed it
    (tmp_path / "soft.conllu").symlink_to(files[0])
    for other in (tmp_path / "hard.conllu", tmp_path / "soft.conllu"):
        again = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), str(other)])
        assert again.exit_code == 2 and f"{other} is given twice (as {files[0]})" in flat(again)
    gold = files[0].read_bytes()
    onto = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), "--output", str(files[0])])
    assert onto.exit_code == 2 and "the metrics would overwrite it" in flat(onto)
    assert files[0].read_bytes() == gold
    dash = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), "--output", "-"])
    assert dash.exit_code == 2 and "--output -: the tables go to stdout" in flat(dash)


def test_a_pipeline_that_fails_on_text_is_a_one_line_error(pipeline, files, tmp_path):
    """It loads, then fails: its config asks for layers its model was not trained on."""
    broken = copy_with_other_layers(pipeline, tmp_path / "broken")
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["evaluate", str(broken), str(files[0]), "--output", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"evaluating {broken} on {files[0]} failed: ValueError: layers=" in " ".join(result.output.split())
    assert not out.exists()


def test_a_pipeline_that_sets_no_tags_is_warned_about(files, tmp_path):
    """A pipeline without a tagger scored 0.0 with exit 0 and no word why; as `tag` does, it
    is warned about, per file (a pipeline that tags is not: the next test)."""
    spacy.blank("xx").to_disk(tmp_path / "blank")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "blank"), *map(str, files)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for path in files:
        words = sum(1 for line in path.read_text(encoding="utf8").splitlines() if line[:1].isdigit())
        assert f"{tmp_path / 'blank'} set no UPOS tag on any of the {words} words of {path}: it has no component " \
               "that writes token.pos_ (such as a morphologizer)" in text


def test_the_command_shows_a_warning_as_one_line(pipeline, files, tmp_path):
    """As the console script runs it (layer_fusion.cli.main), not as Python prints warnings:
    the message and then the source line that raised it."""
    import os
    import subprocess
    import sys

    gold = tmp_path / "with_empty.conllu"
    gold.write_text(files[0].read_text(encoding="utf8") + "# sent_id = empty\n\n", encoding="utf8")
    result = subprocess.run([sys.executable, "-m", "layer_fusion.cli", "evaluate", str(pipeline), str(gold)],
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == \
        [f"\u26a0 {gold}: skipped 1 sentence(s) without words"]  # a pipeline that tags gets no warning that it set no UPOS


def test_progress_is_reported_per_sentence(pipeline, files):
    from layer_fusion.raw_text import evaluate_raw_text
    from layer_fusion.evaluation import read_sentences

    nlp = spacy.load(pipeline)
    sentences = read_sentences(files[0])
    steps = []
    evaluation.evaluate_sentences(nlp, sentences, n_resamples=10, progress=steps.append)
    evaluate_raw_text(nlp, sentences, n_resamples=10, progress=steps.append)
    assert steps == [1] * (2 * len(sentences))


def test_an_output_that_cannot_be_written_is_a_one_line_error(pipeline, files, tmp_path, monkeypatch):
    """A full disk gave a 52-line traceback (tag already said it in one line)."""
    import contextlib
    import errno

    import layer_fusion.atomic_write as atomic_write

    @contextlib.contextmanager
    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")
        yield

    monkeypatch.setattr(atomic_write, "atomic_text_output", full_disk)  # imported by evaluate when it runs
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), "--output", str(out)])
    assert result.exit_code == 1, result.output
    assert f"cannot write --output {out}: No space left on device" in " ".join(result.output.split())
    assert not out.exists()


def test_int8_metrics_name_the_scheme_and_the_cpu_kernels(pipeline, files, tmp_path):
    """int8 tags depend on the CPU's instructions (quantization.cpu_kernels), so an int8
    evaluation records them with its scheme; an fp32 one records neither."""
    from layer_fusion.quantization import DEFAULT_SCHEME, cpu_kernels

    int8 = {"encoder_dtype": "int8", "int8_scheme": DEFAULT_SCHEME, "int8_cpu": cpu_kernels()}
    for extra, expected in ((["--int8"], int8), ([], {"encoder_dtype": "fp32"})):
        out = tmp_path / f"m{len(extra)}.json"
        args = ["evaluate", str(pipeline), str(files[0]), "-o", str(out), "--n-resamples", "20", *extra]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        model = json.loads(out.read_text("utf8"))["model"]
        assert {k: v for k, v in model.items() if k not in ("pipeline", "components")} == expected


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--n-resamples", "2"]])
def test_a_negative_seed_or_too_few_resamples_is_a_usage_error_before_loading(option, tmp_path):
    """numpy refuses a negative seed (it failed after the first file was tagged, exit 1), and
    one or two resamples give a "95% interval" that need not hold the estimate."""
    conllu = tmp_path / "a.conllu"
    conllu.write_text("1\ta\t_\tDET\t_\t_\t_\t_\t_\t_\n\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "no-pipeline"), str(conllu), *option])
    assert result.exit_code == 2 and option[0] in result.output


def test_an_encoder_the_quantizer_fails_on_names_evaluates_own_way_out(pipeline, files, monkeypatch):
    """evaluate has no --fp32: the hint is to leave out --int8."""
    import layer_fusion.quantization as quantization

    def fails(nlp, *args, **kwargs):
        raise AssertionError("scale issue")  # what onnxruntime's quantizer raises on NaN weights

    monkeypatch.setattr(quantization, "quantize_encoder", fails)
    result = CliRunner().invoke(app, ["evaluate", str(pipeline), str(files[0]), "--int8"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("--int8: the encoder could not be quantized (without --int8 it runs unquantized): AssertionError: "
            "scale issue") in " ".join(result.output.split())

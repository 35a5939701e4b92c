"""scripts/bench_thai_segmenters.py: the protocol's pick from published figures and speed
alone, and what the bench says of a candidate that is missing, broken, alters the text or is
too slow (fake candidates, text written here)."""
import time

import pytest

from runners import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_thai_segmenters")


def row(status="runs", f1=None, speed=1000.0):
    r = {"status": status, "best2010_word_f1": f1}
    if status == "runs":
        r["words_per_second"] = speed
    return r


def test_the_pick_is_the_best_published_figure_that_runs_and_is_fast_enough(bench):
    rows = {"deepcut": row(f1=93.0, speed=1000), "nokcut": row("does not run", f1=96.9),
            "cutkum": row(f1=94.0, speed=200),  # under a quarter of deepcut's speed
            "same": row(f1=93.1, speed=5000),  # a tie (0.1 points) keeps the default
            "unranked": row(speed=90000)}  # no published figure: never the pick
    pick = bench.protocol_pick(rows)
    assert pick["engine"] == "deepcut"
    assert pick["ranked_but_out"] == ["nokcut", "cutkum"]
    assert pick["speed_floor_words_per_second"] == 250
    rows["better"] = row(f1=95.0, speed=300)
    pick = bench.protocol_pick(rows)
    assert pick["engine"] == "better" and pick["ranked_but_out"] == ["nokcut"]


def test_no_pick_when_the_default_does_not_run(bench):
    pick = bench.protocol_pick({"deepcut": row("not installed", f1=93.0), "other": row(f1=99.0)})
    assert pick["engine"] is None and "deepcut does not run here" in pick["reason"]


def candidate(bench, load, module="fake_segmenter"):
    return bench.Candidate(project="fake-segmenter", module=module, load=load)


def failing(error):
    def load():
        raise error
    return load


def test_a_missing_package_a_broken_one_and_one_that_alters_the_text(bench):
    runs = ["ฉันชอบ", "มาก ๆ"]
    missing = ModuleNotFoundError("No module named 'fake_segmenter'", name="fake_segmenter")
    assert bench.run_candidate(candidate(bench, failing(missing)), runs, 1, 60) == {"status": "not installed"}
    # A dependency it cannot import (cutkum on TensorFlow 2) is a failure to run, not an absence.
    dependency = ModuleNotFoundError("No module named 'tensorflow.contrib'", name="tensorflow.contrib")
    out = bench.run_candidate(candidate(bench, failing(dependency)), runs, 1, 60)
    assert out == {"status": "does not run", "error": "ModuleNotFoundError: No module named 'tensorflow.contrib'"}
    broken = candidate(bench, lambda: lambda texts: 1 / 0)
    assert bench.run_candidate(broken, runs, 1, 60)["error"] == "ZeroDivisionError: division by zero"
    # It segments the probe sentence, then fails on the set's text, or loses a run.
    picky = candidate(bench, lambda: lambda texts: [[t] if "แมว" not in t else 1 / 0 for t in texts])
    assert bench.run_candidate(picky, runs + ["แมว"], 1, 60) == {
        "status": "fails on the set", "error": "ZeroDivisionError: division by zero"}
    short = candidate(bench, lambda: lambda texts: [[t] for t in texts][:1])
    assert bench.run_candidate(short, runs, 1, 60) == {
        "status": "fails on the set", "error": "1 results for 2 Thai runs"}
    lossy = candidate(bench, lambda: lambda texts: [[t[:-1]] for t in texts])  # drops a character
    assert bench.run_candidate(lossy, runs, 1, 60) == {
        "status": "alters the text", "error": "its words are not the text's characters in 2 of 2 Thai runs"}


def test_words_are_split_on_spaces_and_timed(bench):
    out = bench.run_candidate(candidate(bench, lambda: lambda texts: [[t] for t in texts]), ["ฉันชอบ", "มาก ๆ"], 2, 60)
    assert out["status"] == "runs" and out["repeats"] == 2 and out["seconds"] >= 0
    assert out["words_of"] == {"ฉันชอบ": ["ฉันชอบ"], "มาก ๆ": ["มาก", "ๆ"]}


def test_passes_stop_repeating_once_they_have_taken_the_budget(bench, monkeypatch):
    class Clock:  # one second per reading: each pass reads it three times and lasts two seconds
        now = 0.0

        def perf_counter(self):
            self.now += 1
            return self.now

    monkeypatch.setattr(bench, "time", Clock())
    identity = candidate(bench, lambda: lambda texts: [[t] for t in texts])
    assert bench.run_candidate(identity, ["ฉันชอบ"], 5, budget=3)["repeats"] == 2
    assert bench.run_candidate(identity, ["ฉันชอบ"], 5, budget=100)["repeats"] == 5


def test_a_pass_over_budget_is_stopped_and_its_speed_estimated(bench, monkeypatch):
    monkeypatch.setattr(bench, "CHUNK", 1)

    def slow(texts):
        time.sleep(0.05)
        return [[t] for t in texts]

    runs = ["ก" * 10] * 10
    out = bench.run_candidate(candidate(bench, lambda: slow), runs, 3, budget=0.01)
    assert out["status"] == "runs" and out["repeats"] == 0 and "words_of" not in out
    assert out["not_scored"] == "one pass would take over 0 s"
    # Stopped after the probe and one run of ten: a whole pass is estimated at ten times that.
    assert 0.45 < out["seconds"] < 2.0


def test_thai_runs_are_what_a_segmenter_is_given(bench):
    texts = ["ฉันชอบ iPhone 15 มาก ๆ", "ฉันชอบ แมว."]
    assert bench.thai_runs(texts) == ["ฉันชอบ", "มาก ๆ", "ฉันชอบ แมว"]


def test_the_bench_end_to_end_on_sentences_written_here(bench, tmp_path):
    """Three Thai sentences with their words; DeepCut (always run: the speed floor is relative
    to it) and newmm segment them; their token F1 is the one counted by hand; the report and its
    markdown agree."""
    import json

    from typer.testing import CliRunner

    ud = tmp_path / "ud"
    (ud / "UD_Thai-PUD").mkdir(parents=True)
    sentences = [("ฉันชอบแมว", ["ฉัน", "ชอบ", "แมว"]), ("เขากินข้าว", ["เขา", "กิน", "ข้าว"]),
                 ("ฉันไปโรงเรียน", ["ฉัน", "ไป", "โรงเรียน"])]
    with open(ud / "UD_Thai-PUD" / "th_pud-ud-test.conllu", "w", encoding="utf-8") as f:
        for i, (text, words) in enumerate(sentences, 1):
            f.write(f"# sent_id = {i}\n# text = {text}\n")
            for j, w in enumerate(words, 1):
                misc = "SpaceAfter=No" if j < len(words) else "_"
                f.write(f"{j}\t{w}\t_\tNOUN\t_\t_\t{j - 1}\t{'root' if j == 1 else 'dep'}\t_\t{misc}\n")
            f.write("\n")
    targets = tmp_path / "targets.cfg"
    targets.write_text('[treebanks]\n\n[treebanks.th_pud]\ntreebank = "UD_Thai-PUD"\nlanguage = "Thai"\niso = "th"\n'
                       'group = "low_resource"\nsplit = "test"\nfile = "th_pud-ud-test.conllu"\n', encoding="utf-8")
    out, md = tmp_path / "out.json", tmp_path / "out.md"
    result = CliRunner().invoke(bench.app, [str(ud), "--targets", str(targets), "--only", "newmm (spaCy's th)",
                                            "--repeats", "1", "--output", str(out), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert list(report["candidates"]) == ["deepcut", "newmm (spaCy's th)"]
    assert report["sentences"] == 3 and report["words"] == 9 and report["thai_runs"] == 3
    for row in report["candidates"].values():
        assert row["status"] == "runs" and row["repeats"] == 1
    # By hand (F1 = 2 correct / (gold + predicted)): DeepCut splits โรง|เรียน (BEST's convention),
    # 8 of its 10 words are gold ones; newmm keeps กินข้าว whole, 7 of its 8.
    assert report["candidates"]["deepcut"]["token_f1"] == pytest.approx(2 * 8 / (9 + 10))
    assert report["candidates"]["newmm (spaCy's th)"]["token_f1"] == pytest.approx(2 * 7 / (9 + 8))
    assert report["protocol_pick"]["engine"] == "deepcut"
    text = md.read_text(encoding="utf-8")
    assert "| deepcut (default, `--lang th`) | pythainlp " in text
    assert f"| {100 * report['candidates']['newmm (spaCy' + chr(39) + 's th)']['token_f1']:.1f} |" in text
    assert "**deepcut**" in text


def test_render_only_rewrites_the_markdown_without_the_install_path(bench, tmp_path):
    from typer.testing import CliRunner

    report = {"set": "th_pud", "path": "UD_Thai-PUD/th_pud-ud-test.conllu", "sentences": 1, "words": 3,
              "thai_runs": 1, "probe": bench.PROBE, "pipeline": None, "omp_num_threads": "1",
              "candidates": {"deepcut": {"project": "pythainlp", "engine": "", "best2010_word_f1": 93.0,
                                         "best2010_source": "AttaCut's README", "status": "runs", "seconds": 1.0,
                                         "repeats": 3, "token_f1": 0.5, "words_per_second": 3.0},
                             "wordcutpy": {"project": "wordcutpy", "engine": "", "best2010_word_f1": None,
                                           "best2010_source": None, "status": "does not run",
                                           "error": "FileNotFoundError: No such file or directory: "
                                                    "'/home/me/env/lib/python3.11/site-packages/wordcut/bigthai.txt'"}},
              "protocol_pick": {"engine": "deepcut", "ranked_but_out": [], "speed_floor_words_per_second": 0.75}}
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    out.write_text(__import__("json").dumps(report), encoding="utf-8")
    result = CliRunner().invoke(bench.app, ["--render-only", "--output", str(out), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    text = md.read_text(encoding="utf-8")
    assert "No such file or directory: 'site-packages/wordcut/bigthai.txt'" in text and "/home/me" not in text
    assert "| deepcut (default, `--lang th`) | pythainlp | 93.0 (AttaCut's README) | runs | 50.0 |  | 3 | 1.00 |" in text
    assert "**deepcut**" in text

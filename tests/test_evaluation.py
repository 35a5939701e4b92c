"""Evaluation: bootstrap CIs against slow references, scoring with a pipeline of known behaviour,
aggregates, missing files, the targets config, JSON and markdown output."""
import json

import numpy as np
import pytest
import spacy
from spacy.language import Language

from layer_fusion import bootstrap
from layer_fusion.conllu import read_conllu
from layer_fusion.bootstrap import bootstrap_ci, domain_pair, genre_breakdown, macro_average
from layer_fusion.evaluation import TreebankResult, evaluate_conllu, evaluate_sentences, evaluate_targets
from layer_fusion.targets import load_targets
from layer_fusion.report_table import render_markdown

from conftest import REPO, ud_test_files
from pipelines import noun_nlp
from runners import load_script
from ud_files import TARGETS_CFG, write_conllu


def slow_bootstrap(correct, totals, n_resamples, seed, alpha=0.05):
    """Reference: one replicate at a time, plain python sums, same generator draws."""
    rng = np.random.default_rng(seed)
    n = len(correct)
    accs = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        c = sum(int(correct[i]) for i in idx)
        w = sum(int(totals[i]) for i in idx)
        accs.append(c / w)
    accs = sorted(accs)
    return float(np.quantile(accs, alpha / 2)), float(np.quantile(accs, 1 - alpha / 2))


def random_counts(n, seed=1):
    rng = np.random.default_rng(seed)
    totals = rng.integers(1, 30, size=n)
    correct = rng.binomial(totals, 0.7)
    return correct, totals


# --- bootstrap ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_draw", [10**9, 37])  # one draw, and many small chunks
def test_bootstrap_ci_equals_slow_reference(monkeypatch, max_draw):
    monkeypatch.setattr(bootstrap, "_MAX_DRAW", max_draw)
    correct, totals = random_counts(23)
    fast = bootstrap_ci(correct, totals, n_resamples=300, seed=7)
    slow = slow_bootstrap(correct, totals, n_resamples=300, seed=7)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_bootstrap_ci_properties():
    correct, totals = random_counts(200)
    point = correct.sum() / totals.sum()
    lo, hi = bootstrap_ci(correct, totals, seed=3)
    assert lo < point < hi
    assert bootstrap_ci(correct, totals, seed=3) == (lo, hi)
    assert bootstrap_ci(correct, totals, seed=4) != (lo, hi)
    big_c, big_t = np.tile(correct, 16), np.tile(totals, 16)
    blo, bhi = bootstrap_ci(big_c, big_t, seed=3)
    assert blo < point < bhi
    assert (bhi - blo) < 0.5 * (hi - lo)  # 16x the sentences: width shrinks ~4x


def test_bootstrap_ci_degenerate_inputs():
    assert bootstrap_ci(np.array([5, 3]), np.array([5, 3])) == (1.0, 1.0)
    lo, hi = bootstrap_ci(np.array([], dtype=int), np.array([], dtype=int))
    assert np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize("args,message", [
    (([5, 3], [5, 3], 1000, 0, 1.5), r"alpha=1.5: expected 0 < alpha < 1"),
    (([5, 3], [2, 3]), r"sentence 0: 5 correct of 2 words"),
    (([-1, 3], [2, 3]), r"sentence 0: -1 correct of 2 words"),
    (([5, 3], [5, 3, 1]), r"two 1-d arrays of one length, not shapes \(2,\) and \(3,\)"),
    (([5, 3], [5, 3], 0), r"n_resamples=0 must be >= 1"),
])
def test_bootstrap_ci_rejects_impossible_counts_and_settings(args, message):
    """An accuracy over 1, an inverted interval or an IndexError used to come back instead."""
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(*[np.array(a) if isinstance(a, list) else a for a in args])


# --- scoring with a pipeline of known behaviour -----------------------------------------


def test_evaluate_sentences_accuracy_is_noun_share(tmp_path):
    path = write_conllu(tmp_path / "t.conllu", [
        ("s1", [("Dogs", "NOUN"), ("bark", "VERB"), (".", "PUNCT")]),
        ("s2", [("cats", "NOUN"), ("mice", "NOUN")]),
        ("s3", [("run", "VERB")]),
    ])
    result = evaluate_sentences(noun_nlp(), read_conllu(path), batch_size=2, n_resamples=200)
    assert result.sent_words.tolist() == [3, 2, 1]
    assert result.sent_correct.tolist() == [1, 2, 0]
    assert (result.sentences, result.words, result.correct) == (3, 6, 3)
    assert result.accuracy == pytest.approx(3 / 6)
    assert result.ci95 == bootstrap_ci(np.array([1, 2, 0]), np.array([3, 2, 1]), 200, 0)
    assert result.words_per_second > 0


def test_evaluate_conllu_real_treebank_noun_share(ud_dir):
    path = ud_dir / "UD_Tagalog-TRG" / "tl_trg-ud-test.conllu"
    gold = [tag for s in read_conllu(path) for tag in s.upos]
    result = evaluate_conllu(noun_nlp(), path, batch_size=16, n_resamples=100)
    assert result.words == len(gold) == 734
    assert result.accuracy == pytest.approx(gold.count("NOUN") / len(gold))
    capped = evaluate_conllu(noun_nlp(), path, max_sentences=10, n_resamples=100)
    assert capped.sentences == 10


def test_pipeline_that_changes_tokenization_is_an_error(tmp_path):
    @Language.component("test_merge_first_two")
    def merge(doc):
        with doc.retokenize() as retok:
            retok.merge(doc[0:2])
        return doc

    nlp = spacy.blank("xx")
    nlp.add_pipe("test_merge_first_two")
    path = write_conllu(tmp_path / "t.conllu", [("s1", [("a", "X"), ("b", "X")])])
    with pytest.raises(ValueError, match="changed the tokenization"):
        evaluate_conllu(nlp, path)


# --- aggregates --------------------------------------------------------------------------


def make_result(name, correct, words, genres=None):
    return TreebankResult(name=name, sent_words=words, sent_correct=correct, sent_genres=genres).compute_ci()


def test_macro_average_point_and_reference_ci():
    c1, w1 = random_counts(15, seed=1)
    c2, w2 = random_counts(40, seed=2)
    r1, r2 = make_result("a", c1, w1), make_result("b", c2, w2)
    macro = macro_average([r1, r2], n_resamples=250, seed=5)
    assert macro["accuracy"] == pytest.approx((r1.accuracy + r2.accuracy) / 2)
    # reference: same generator, treebank a's 250 replicates then b's, one at a time
    rng = np.random.default_rng(5)
    reps = []
    for c, w in ((c1, w1), (c2, w2)):
        accs = []
        for _ in range(250):
            idx = rng.integers(0, len(c), size=len(c))
            accs.append(c[idx].sum() / w[idx].sum())
        reps.append(accs)
    means = np.mean(reps, axis=0)
    assert macro["ci95"] == pytest.approx([np.quantile(means, 0.025), np.quantile(means, 0.975)])
    assert macro["ci95"][0] < macro["accuracy"] < macro["ci95"][1]
    assert macro["n_treebanks"] == 2 and "within each treebank" in macro["method"]


def test_domain_pair_gap_and_ci():
    a = make_result("a", *random_counts(60, seed=1))
    b = make_result("b", np.zeros(60, dtype=int) + 1, np.zeros(60, dtype=int) + 10)  # exactly 10%
    pair = domain_pair(a, b, n_resamples=300, seed=0)
    assert pair["gap"] == pytest.approx(a.accuracy - 0.1)
    # b has no sampling variance, so the gap interval is a's interval shifted by 0.1
    a_ci = bootstrap_ci(a.sent_correct, a.sent_words, 300, 0)
    assert pair["gap_ci95"] == pytest.approx([a_ci[0] - 0.1, a_ci[1] - 0.1])
    assert pair["accuracy_b"] == pytest.approx(0.1)
    # The two sets are resampled independently: a set against itself has a gap of 0 but an
    # interval of width about 2^0.5 times its own (the same draws for both would give [0, 0]).
    same = domain_pair(a, a, n_resamples=300, seed=0)
    width = a_ci[1] - a_ci[0]
    assert same["gap"] == 0 and same["gap_ci95"][0] < 0 < same["gap_ci95"][1]
    assert 1.1 * width < same["gap_ci95"][1] - same["gap_ci95"][0] < 1.7 * width


def test_genre_breakdown():
    result = make_result(
        "gum", np.array([1, 2, 3, 0]), np.array([2, 2, 4, 1]), ["news", "vlog", "news", None]
    )
    genres = genre_breakdown(result, n_resamples=100)
    assert set(genres) == {"news", "vlog", "unknown"}
    assert genres["news"]["accuracy"] == pytest.approx(4 / 6) and genres["news"]["sentences"] == 2
    assert genres["vlog"]["accuracy"] == 1.0 and genres["unknown"]["accuracy"] == 0.0
    assert genre_breakdown(make_result("x", np.array([1]), np.array([1]))) == {}


def test_treebank_result_json_round_trip():
    result = make_result("gum", np.array([1, 2]), np.array([2, 3]), ["a", "b"])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["per_sentence"] == {"words": [2, 3], "correct": [1, 2], "genre": ["a", "b"]}
    back = TreebankResult.from_dict(data)
    assert back.sent_correct.tolist() == [1, 2] and back.accuracy == result.accuracy
    assert back.ci95 == pytest.approx(result.ci95) and back.sent_genres == ["a", "b"]


# --- targets, missing files, the script ----------------------------------------------------


@pytest.fixture
def toy_ud(tmp_path):
    ud = tmp_path / "ud"
    write_conllu(ud / "UD_English-Toy" / "en_toy-ud-dev.conllu", [
        ("GUM_news_a-1", [("x", "NOUN"), ("y", "VERB")]),
        ("GUM_vlog_b-1", [("z", "NOUN")]),
    ])
    write_conllu(ud / "UD_Toy-One" / "one.conllu", [("1", [("a", "NOUN"), ("b", "NOUN")]), ("2", [("c", "ADJ")])])
    write_conllu(ud / "UD_Toy-Two" / "two.conllu", [("1", [("a", "VERB"), ("b", "NOUN")])])
    cfg = tmp_path / "targets.cfg"
    cfg.write_text(TARGETS_CFG, encoding="utf-8")
    return ud, cfg


def test_no_sentences_or_no_test_files_are_errors_not_nan(toy_ud, tmp_path):
    from layer_fusion.evaluation import NoSentencesError, evaluate_sentences

    with pytest.raises(NoSentencesError, match="xx_one: no sentences to evaluate"):
        evaluate_sentences(noun_nlp(), [], name="xx_one")
    ud, cfg = toy_ud
    with pytest.raises(FileNotFoundError, match="none of the 4 test files of the targets is here"):
        evaluate_targets(noun_nlp(), tmp_path, load_targets(cfg), progress=False, log=print)


def test_missing_test_file_is_reported_and_skipped(toy_ud):
    ud, cfg = toy_ud
    logged = []
    metrics = evaluate_targets(noun_nlp(), ud, load_targets(cfg), n_resamples=50, progress=False, log=logged.append)
    assert list(metrics["treebanks"]) == ["en_dev", "xx_one", "xx_two"]
    assert [m["key"] for m in metrics["missing"]] == ["xx_gone"]
    assert len(logged) == 1 and "xx_gone" in logged[0] and "gone.conllu" in logged[0]
    macro = metrics["macro_low_resource"]
    assert macro["treebanks"] == ["xx_one", "xx_two"]
    assert macro["accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert metrics["domain_pairs"]["toy"]["gap"] == pytest.approx(2 / 3 - 1 / 2)
    assert metrics["domain_pairs"]["half_missing"]["missing"] is True
    assert metrics["gum_genres"]["en_dev"]["news"]["accuracy"] == pytest.approx(0.5)
    one = metrics["treebanks"]["xx_one"]
    assert (one["group"], one["iso"], one["language"]) == ("low_resource", "xx", "Toy")
    json.dumps(metrics, allow_nan=False)


def test_load_targets_rejects_bad_config(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text(TARGETS_CFG.replace('group = "english"', 'group = "englsh"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[treebanks.en_dev\] group = 'englsh'"):
        load_targets(bad)
    bad.write_text(TARGETS_CFG.replace('b = "xx_two"', 'b = "xx_three"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[domain_pairs.toy\] b = 'xx_three'"):
        load_targets(bad)


def test_load_targets_errors_name_the_file_in_one_line(tmp_path):
    from layer_fusion.targets import TargetsError

    bad = tmp_path / "bad.cfg"
    with pytest.raises(TargetsError, match=rf"^{bad}: "):
        load_targets(bad)  # no such file
    bad.write_text(TARGETS_CFG + "\n[treebanks.xx_one]\nfile = \"again\"\n", encoding="utf-8")
    with pytest.raises(TargetsError, match=rf"^{bad}: .*xx_one") as info:
        load_targets(bad)  # a section given twice
    assert "\n" not in str(info.value)
    bad.write_text(TARGETS_CFG + '\n[subsets]\njust_one = "xx_one"\n', encoding="utf-8")
    with pytest.raises(TargetsError, match=r"\[subsets\] just_one = 'xx_one' is not a list"):
        load_targets(bad)  # a string, not a list: it was read as its characters
    subset = '\n[subsets]\njust_one = ["xx_one"]\n\n[published]\n'
    for published, message in (('other = 70.3', r"\[published\] other is not a \[subsets\] name"),
                               ('just_one = "70.3"', r"\[published\] just_one = '70.3' is not an accuracy"),
                               ('just_one = 0.703e3', r"just_one = 703.0 is not an accuracy in points")):
        bad.write_text(TARGETS_CFG + subset + published + "\n", encoding="utf-8")
        with pytest.raises(TargetsError, match=message):
            load_targets(bad)
    bad.write_text(TARGETS_CFG + subset + "just_one = 70.3\n", encoding="utf-8")
    assert load_targets(bad).published == {"just_one": 70.3}



def test_load_targets_refuses_a_set_counted_twice(tmp_path):
    """One evaluation file under two keys, a subset naming a set twice, or a domain pair of one
    set would weigh a set double in a macro-average, or compare it with itself."""
    from layer_fusion.targets import TargetsError

    bad = tmp_path / "bad.cfg"
    again = '\n[treebanks.xx_again]\ntreebank = "UD_Toy-One"\nlanguage = "Toy"\niso = "xx"\ngroup = "low_resource"\nfile = "one.conllu"\n'
    for text, message in (
            (TARGETS_CFG.replace("[domain_pairs]", again + "\n[domain_pairs]"),
             r"\[treebanks.xx_again\] is UD_Toy-One/one.conllu, as \[treebanks.xx_one\] is already"),
            (TARGETS_CFG + '\n[subsets]\ntwice = ["xx_one", "xx_two", "xx_one"]\n',
             r"\[subsets\] twice lists \['xx_one'\] more than once"),
            (TARGETS_CFG.replace('b = "xx_two"', 'b = "xx_one"'), r"\[domain_pairs.toy\] compares 'xx_one' with itself")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(TargetsError, match=message):
            load_targets(bad)


def test_project_targets_config():
    targets = load_targets(REPO / "configs" / "targets.cfg")
    groups = {t.group for t in targets.treebanks.values()}
    assert groups == {"low_resource", "high_resource_reference", "english", "reference_dev"}
    assert targets.subsets["de_vries_2022"] and len(targets.subsets["de_vries_2022"]) == 14
    assert {t.key for t in targets.select("reference_dev")} == {"de_gsd_dev", "fr_gsd_dev", "es_gsd_dev", "ru_gsd_dev"}
    assert {"en_ewt_dev", "en_ewt_test", "en_gum_test"} <= set(targets.treebanks)
    assert not any(t.treebank.startswith("UD_English") for t in targets.select("low_resource"))
    assert {(p["a"], p["b"]) for p in targets.domain_pairs.values()} == {
        ("tl_trg", "tl_ugnayan"), ("ga_idt", "ga_twittirish"), ("ta_ttb", "ta_mwtt")
    }


def test_every_ud_test_set_is_a_target_or_an_extra_source(ud_dir):
    """The targets cover the UD data the project reads (the mirror's MANIFEST.tsv, or
    project.yml's assets); the extra-source treebanks, marked so there, are never targets."""
    targets = load_targets(REPO / "configs" / "targets.cfg")
    absent = {t.key for t in targets.treebanks.values() if not t.path(ud_dir).is_file()}
    assert absent == {"ar_padt"}  # in no source (see targets.cfg)
    files = ud_test_files(ud_dir)
    extra = {f for f, is_extra in files if is_extra}
    others = {f for f, is_extra in files if not is_extra and not f.startswith("UD_English")}
    listed = {f"{t.treebank}/{t.file}" for t in targets.treebanks.values() if t.group != "english"}
    assert others and others <= listed  # every non-English, non-extra-source test set is listed
    assert len(extra) == 7 and not extra & listed  # extra sources are never targets


def test_evaluate_script_writes_json_and_table(toy_ud, tmp_path):
    ud, cfg = toy_ud
    script = load_script("evaluate_zero_shot")
    model_dir = tmp_path / "model"
    noun_nlp().to_disk(model_dir)
    nlp = spacy.load(model_dir)
    out_json, out_md = tmp_path / "m" / "zs.json", tmp_path / "m" / "zs.md"
    script.run(nlp, str(model_dir), ud, out_json, out_md, targets=cfg, n_resamples=50, progress=False)
    metrics = json.loads(out_json.read_text(encoding="utf-8"))
    assert metrics["model"]["path"] == str(model_dir) and metrics["seconds"] >= 0
    from layer_fusion.provenance import sha256

    prov = metrics["provenance"]
    assert prov["config_sha256"] == sha256(model_dir / "config.cfg")
    assert prov["versions"]["spacy"] == spacy.__version__ and "git_commit" in prov
    assert metrics["treebanks"]["xx_one"]["accuracy"] == pytest.approx(2 / 3)
    table = out_md.read_text(encoding="utf-8")
    assert table == render_markdown(metrics)
    assert "| UD_Toy-One | Toy | xx | 2 | 3 | 66.7 | [" in table
    assert "UD_English-Toy (dev)" in table and "gone.conllu" in table
    assert "| Toy: one vs two | xx_one | 66.7 |" in table and "+16.7" in table
    assert sorted(p.name for p in out_json.parent.iterdir()) == ["zs.json", "zs.md"]  # no temp files left


@pytest.mark.parametrize("case", ["malformed_test_file", "empty_test_file", "bad_targets", "table_is_a_folder",
                                  "wrong_ud_dir"])
def test_evaluate_script_bad_input_is_a_one_line_error_and_writes_nothing(toy_ud, tmp_path, case):
    from typer.testing import CliRunner

    ud, cfg = toy_ud
    script = load_script("evaluate_zero_shot")
    model_dir = tmp_path / "model"
    noun_nlp().to_disk(model_dir)
    out_json, table = tmp_path / "m" / "zs.json", tmp_path / "m" / "zs.md"
    two = ud / "UD_Toy-Two" / "two.conllu"
    expected = {
        "malformed_test_file": f"{two}:",
        "empty_test_file": f"{two}: no sentences with words to evaluate",
        "bad_targets": f"{cfg}: [treebanks.en_dev] group = 'englsh'",
        "table_is_a_folder": f"cannot write --table {tmp_path}: it is a folder",
        "wrong_ud_dir": f"{tmp_path}: none of the 4 test files of the targets is here (e.g. UD_English-Toy/",
    }[case]
    if case == "malformed_test_file":
        two.write_text(two.read_text(encoding="utf-8").replace("\tVERB\t", "\tVERB\t_\t"), encoding="utf-8")
    elif case == "empty_test_file":
        two.write_text("# nothing but a comment\n", encoding="utf-8")
    elif case == "bad_targets":
        cfg.write_text(TARGETS_CFG.replace('group = "english"', 'group = "englsh"'), encoding="utf-8")
    elif case == "table_is_a_folder":
        table = tmp_path
    else:
        ud = tmp_path  # exists, but holds no UD_* folders
    result = CliRunner().invoke(script.app, [str(model_dir), str(ud), str(out_json), "--table", str(table),
                                             "--targets", str(cfg), "--n-resamples", "20"])
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not out_json.parent.exists() or not any(out_json.parent.iterdir())


def test_reference_dev_and_subset_macro_averages(toy_ud):
    """A reference_dev set is scored but kept out of the low-resource macro; named subsets
    get their own macro-average."""
    ud, cfg = toy_ud
    (ud / "UD_Toy-Two" / "two-dev.conllu").write_bytes((ud / "UD_Toy-Two" / "two.conllu").read_bytes())
    text = cfg.read_text(encoding="utf-8").replace("[domain_pairs]", (
        '[treebanks.ref_dev]\ntreebank = "UD_Toy-Two"\nlanguage = "Toy2"\niso = "yy"\n'
        'group = "reference_dev"\nsplit = "dev"\nfile = "two-dev.conllu"\n\n'
        '[subsets]\njust_one = ["xx_one"]\n\n[domain_pairs]'), 1)
    cfg.write_text(text, encoding="utf-8")
    metrics = evaluate_targets(noun_nlp(), ud, load_targets(cfg), n_resamples=50, progress=False, log=lambda _: None)
    assert metrics["macro_low_resource"]["treebanks"] == ["xx_one", "xx_two"]
    assert metrics["macro_reference_dev"]["treebanks"] == ["ref_dev"]
    assert metrics["macro_reference_dev"]["accuracy"] == pytest.approx(1 / 2)
    assert metrics["macro_subsets"]["just_one"]["accuracy"] == pytest.approx(2 / 3)
    cfg.write_text(text.replace('just_one = ["xx_one"]', 'just_one = ["xx_nope"]'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[subsets\] just_one lists \['xx_nope'\]"):
        load_targets(cfg)

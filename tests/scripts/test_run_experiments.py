"""scripts/run_experiments.py: processes share a stage through lock files, and main waits
for a complete sweep."""
import importlib.util
import json

import pytest
import typer

from conftest import REPO


@pytest.fixture()
def experiments(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("run_experiments", REPO / "scripts" / "run_experiments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / "experiments")
    return module


def test_a_claimed_run_is_skipped_and_a_finished_one_is_read(experiments, tmp_path):
    from layer_fusion.research.fusion_head import HeadSettings

    settings = HeadSettings("LastLayer", [3])
    out = tmp_path / "experiments" / "probe" / f"{settings.name()}.json"
    assert experiments.claim(out)
    assert experiments.run_one(settings, "probe") is None  # no training started: it is taken
    out.write_text(json.dumps({"english_dev": 0.5}))
    assert experiments.run_one(settings, "probe") == {"english_dev": 0.5}
    experiments.release(out)


def test_k_star_needs_the_whole_sweep(experiments, tmp_path):
    sweep = tmp_path / "experiments" / "sweep"
    sweep.mkdir(parents=True)
    for k in range(11):
        (sweep / f"AIF-L{k}_-1-s0.json").write_text(json.dumps({"english_dev": 0.9 + k / 1000, "settings": {"layers": [k, -1]}}))
    with pytest.raises(typer.BadParameter, match="incomplete \\(11 of 12 runs"):
        experiments.chosen_k("AIF")
    (sweep / "AIF-L11_-1-s0.json.lock").write_text("1")
    (sweep / "AIF-L11_-1-s0.json").write_text(json.dumps({"english_dev": 0.1, "settings": {"layers": [11, -1]}}))
    with pytest.raises(typer.BadParameter, match="incomplete"):
        experiments.chosen_k("AIF")
    (sweep / "AIF-L11_-1-s0.json.lock").unlink()
    assert experiments.chosen_k("AIF") == 10
    # Another seed's runs neither complete the sweep nor choose k*.
    (sweep / "AIF-L11_-1-s0.json").unlink()
    (sweep / "AIF-L11_-1-s1.json").write_text(json.dumps({"english_dev": 0.1, "settings": {"layers": [11, -1]}}))
    with pytest.raises(typer.BadParameter, match="incomplete \\(11 of 12 runs of seed 0"):
        experiments.chosen_k("AIF")
    (sweep / "AIF-L11_-1-s0.json").write_text(json.dumps({"english_dev": 0.1, "settings": {"layers": [11, -1]}}))
    (sweep / "AIF-L3_-1-s2.json").write_text(json.dumps({"english_dev": 0.99, "settings": {"layers": [3, -1]}}))
    assert experiments.chosen_k("AIF") == 10


def test_results_of_an_earlier_k_star_are_set_aside_not_compared_nor_deleted(experiments, tmp_path, monkeypatch):
    """A new k* leaves the old k*'s comparison runs beside the new ones; the stage moves them
    to main/superseded/ so that each fusion is compared on one layer setting."""
    main = tmp_path / "experiments" / "main"
    main.mkdir(parents=True)
    names = ["DLFA-L3_-1-s0.json", "DLFA-L3_-1-s1.json", "DLFA-L5_-1-s0.json", "AIF-L1_-1-s0.json",
             "AIF-L11_-1-s0.json", "LastLayer-L-1-s0.json", "DLFA-L3_-1-s2.json.lock"]
    for name in names:
        (main / name).write_text(name)
    monkeypatch.setattr(experiments, "chosen_k", lambda fusion: {"DLFA": 5, "AIF": 1}[fusion])
    experiments.set_aside_other_layer_settings(main, experiments.main_variants(0, 1, 1))
    assert sorted(p.name for p in main.iterdir() if p.is_file()) == \
        ["AIF-L1_-1-s0.json", "DLFA-L3_-1-s2.json.lock", "DLFA-L5_-1-s0.json", "LastLayer-L-1-s0.json"]
    moved = main / "superseded"
    assert sorted(p.name for p in moved.iterdir()) == ["AIF-L11_-1-s0.json", "DLFA-L3_-1-s0.json", "DLFA-L3_-1-s1.json"]
    assert (moved / "DLFA-L3_-1-s0.json").read_text() == "DLFA-L3_-1-s0.json"


CONLLU = """# sent_id = a
# text = the cat sat .
1	the	the	DET	_	_	2	det	_	_
2	cat	cat	NOUN	_	_	3	nsubj	_	_
3	sat	sit	VERB	_	_	0	root	_	_
4	.	.	PUNCT	_	_	3	punct	_	_

# sent_id = b
# text = a dog ran
1	a	a	DET	_	_	2	det	_	_
2	dog	dog	NOUN	_	_	3	nsubj	_	_
3	ran	run	VERB	_	_	0	root	_	_

"""


def _cache_files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_cache_is_built_again_when_its_encoder_weights_or_file_change(experiments, tiny_xlmr, tmp_path, monkeypatch):
    import shutil

    from safetensors.torch import load_file, save_file

    encoder, ud, cache_dir = tmp_path / "encoder", tmp_path / "ud", tmp_path / "cache"
    shutil.copytree(tiny_xlmr, encoder)
    (ud / "X").mkdir(parents=True)
    source = ud / "X" / "x.conllu"
    source.write_text(CONLLU, encoding="utf8")
    monkeypatch.setattr(experiments, "_ud_jobs", lambda: {"train": "X/x.conllu"})

    def cache():
        experiments.cache(encoder, ud, cache_dir=cache_dir, batch_size=8)
        return json.loads((cache_dir / "train" / "meta.json").read_text()), _cache_files(cache_dir / "train")

    meta, files = cache()
    assert meta["made_from"]["encoder_sha256"] == experiments.cache_inputs(encoder, source)["encoder_sha256"]
    assert meta["sentences"] == 2
    assert cache()[1] == files  # same inputs: kept as it is (meta.json's seconds included)

    weights = load_file(encoder / "model.safetensors")
    weights = {k: v + 0.5 if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, encoder / "model.safetensors", metadata={"format": "pt"})
    new_meta, new_files = cache()
    assert new_meta["made_from"]["encoder_sha256"] != meta["made_from"]["encoder_sha256"]
    assert new_files["features.npy"] != files["features.npy"]  # encoded by the new weights

    with open(encoder / "config.json", "a") as handle:  # same weights, another file of the encoder
        handle.write("\n")
    assert cache()[0]["made_from"]["encoder_files_sha256"] != new_meta["made_from"]["encoder_files_sha256"]

    source.write_text(CONLLU.split("\n\n")[0] + "\n\n", encoding="utf8")
    assert cache()[0]["sentences"] == 1

    legacy = json.loads((cache_dir / "train" / "meta.json").read_text())
    del legacy["made_from"]
    legacy["sentences"] = 99  # a cache without a record is not trusted
    (cache_dir / "train" / "meta.json").write_text(json.dumps(legacy))
    assert cache()[0]["sentences"] == 1


def test_a_run_is_done_again_when_its_settings_or_the_caches_it_read_changed(experiments, tmp_path, monkeypatch):
    from layer_fusion.research.fusion_head import HeadSettings

    settings = HeadSettings("LastLayer", [3])
    out = tmp_path / "experiments" / "probe" / f"{settings.name()}.json"
    out.parent.mkdir(parents=True)
    caches = {"train": "t1", "en_ewt_dev": "d1"}
    trained = []

    def train_and_evaluate(settings_, stage, out_, n_resamples):
        trained.append(settings_.name())
        metrics = {"english_dev": 0.7, "settings": json.loads(json.dumps(settings_.__dict__)),
                   "made_from": dict(caches)}
        out_.write_text(json.dumps(metrics))
        return metrics

    monkeypatch.setattr(experiments, "caches_now", lambda: dict(caches))
    monkeypatch.setattr(experiments, "_train_and_evaluate", train_and_evaluate)
    stored = {"english_dev": 0.5, "settings": json.loads(json.dumps(settings.__dict__)), "made_from": dict(caches)}
    out.write_text(json.dumps(stored))
    assert experiments.run_one(settings, "probe")["english_dev"] == 0.5 and trained == []
    caches["train"] = "t2"  # e.g. the cache of another encoder
    assert experiments.run_one(settings, "probe")["english_dev"] == 0.7 and len(trained) == 1
    assert experiments.run_one(settings, "probe")["made_from"]["train"] == "t2" and len(trained) == 1
    caches["ta_ttb"] = "n1"  # a set cached since: the run's metrics lack it
    experiments.run_one(settings, "probe")
    assert len(trained) == 2
    longer = HeadSettings("LastLayer", [3], epochs=settings.epochs + 5)  # same name, other schedule
    assert longer.name() == settings.name()
    experiments.run_one(longer, "probe")
    assert len(trained) == 3
    experiments.run_one(longer, "probe")
    assert len(trained) == 3
    del stored["made_from"]  # no record of its caches (an archived run): kept
    stored["settings"] = json.loads(json.dumps(longer.__dict__))
    stored["provenance"] = {"encoder_sha256": "e5"}
    out.write_text(json.dumps(stored))
    monkeypatch.setattr(experiments, "_train_cache_record", lambda: {"encoder_sha256": "e5"})
    assert experiments.run_one(longer, "probe")["english_dev"] == 0.5 and len(trained) == 3
    # ... unless its provenance names other encoder weights than the train cache was made from
    monkeypatch.setattr(experiments, "_train_cache_record", lambda: {"encoder_sha256": "mbert"})
    assert experiments.run_one(longer, "probe")["english_dev"] == 0.7 and len(trained) == 4
    assert not out.with_name(out.name + ".lock").exists()


def test_a_run_is_done_again_when_the_code_that_trains_and_scores_it_changed(experiments, tmp_path, monkeypatch):
    """The record holds ``code_sha256`` of the head's training and scoring code: a run made by
    other code is run again; one that does not record its code (made before it was recorded)
    is kept."""
    from layer_fusion.research.fusion_head import HeadSettings

    settings = HeadSettings("LastLayer", [3])
    out = tmp_path / "experiments" / "probe" / f"{settings.name()}.json"
    out.parent.mkdir(parents=True)
    code = {"now": "c1"}
    trained = []

    def train_and_evaluate(settings_, stage, out_, n_resamples):
        trained.append(settings_.name())
        metrics = {"english_dev": 0.7, "settings": json.loads(json.dumps(settings_.__dict__)), "made_from": {},
                   "code_sha256": code["now"]}
        out_.write_text(json.dumps(metrics))
        return metrics

    monkeypatch.setattr(experiments, "caches_now", dict)
    monkeypatch.setattr(experiments, "head_code", lambda: code["now"])
    monkeypatch.setattr(experiments, "_train_and_evaluate", train_and_evaluate)
    stored = {"english_dev": 0.5, "settings": json.loads(json.dumps(settings.__dict__)), "made_from": {}}
    out.write_text(json.dumps(stored))
    assert experiments.run_one(settings, "probe")["english_dev"] == 0.5 and trained == []  # no record: kept
    out.write_text(json.dumps({**stored, "code_sha256": "c1"}))
    assert experiments.run_one(settings, "probe")["english_dev"] == 0.5 and trained == []  # same code
    code["now"] = "c2"  # the training loop changed
    assert experiments.run_one(settings, "probe")["code_sha256"] == "c2" and len(trained) == 1
    assert experiments.run_one(settings, "probe")["english_dev"] == 0.7 and len(trained) == 1


def test_the_head_code_digest_covers_training_scoring_and_the_script(experiments, tmp_path, monkeypatch):
    """``head_code`` digests the modules a head run is made of, scoring included, and the
    script that assembles its metrics: a change to either changes it; a comment does not."""
    import importlib.util

    from layer_fusion.research.run_records import _PACKAGE, _package_modules

    files = {p.relative_to(_PACKAGE).as_posix() for p in _package_modules(experiments.HEAD_CODE, _PACKAGE)}
    assert {"research/cached_training.py", "research/fusion_head.py", "evaluation.py", "bootstrap.py"} <= files
    source = (REPO / "scripts" / "run_experiments.py").read_text(encoding="utf8")
    digests = []
    for name, text in [("same", source), ("commented", source + "\n# a comment\n"),
                       ("changed", source + "\nEXTRA = 1\n")]:
        copy = tmp_path / name / "run_experiments.py"
        copy.parent.mkdir()
        copy.write_text(text, encoding="utf8")
        spec = importlib.util.spec_from_file_location(f"run_experiments_{name}", copy)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        digests.append(module.head_code())
    assert digests[0] == digests[1] == experiments.head_code() != digests[2]
    monkeypatch.setattr(experiments, "HEAD_CODE", "layer_fusion.research.fusion_head")
    experiments.head_code.cache_clear()
    assert experiments.head_code() != digests[0]


def test_the_digest_of_a_cache_follows_its_record(tmp_path):
    from types import SimpleNamespace

    from layer_fusion.research.hidden_cache import cache_digest

    a = SimpleNamespace(meta={"made_from": {"encoder_sha256": "1", "source_sha256": "2"}})
    b = SimpleNamespace(meta={"made_from": {"source_sha256": "2", "encoder_sha256": "1"}})
    c = SimpleNamespace(meta={"made_from": {"encoder_sha256": "3", "source_sha256": "2"}})
    assert cache_digest(a) == cache_digest(b) != cache_digest(c)
    assert cache_digest(SimpleNamespace(meta={})) == "unrecorded"

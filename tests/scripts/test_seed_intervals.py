"""scripts/seed_intervals.py: seed-inclusive intervals, against the evaluation's own
macro-averages and hand-computed F1."""
import copy
import json
import subprocess
import sys

import pytest
import typer

from conftest import REPO
from runners import load_script

SHIPPED = json.loads((REPO / "metrics" / "finetuned" / "zero_shot.json").read_text(encoding="utf-8"))
SEED1 = json.loads((REPO / "metrics" / "finetuned_seed1" / "zero_shot.json").read_text(encoding="utf-8"))


def _write(tmp_path, name, metrics):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(metrics), encoding="utf-8")
    return path


def test_each_seed_reproduces_the_evaluations_own_macro_averages(tmp_path):
    script = load_script("seed_intervals")
    a = _write(tmp_path, "a", SHIPPED)
    b = _write(tmp_path, "b", SEED1)
    script.main([a, b], tmp_path / "out.json", n_resamples=200)
    out = json.loads((tmp_path / "out.json").read_text())
    gold, raw = out["gold_words"]["macro_low_resource"], out["raw_text"]["upos_f1_macro_low_resource"]
    both = (SHIPPED, SEED1)
    assert gold["per_seed"] == pytest.approx([m["macro_low_resource"]["accuracy"] for m in both])
    assert out["gold_words"]["de_vries_2022"]["per_seed"] == pytest.approx(
        [m["macro_subsets"]["de_vries_2022"]["accuracy"] for m in both])
    # layer_fusion.raw_text's macro F1, computed there from the aligned tokens
    assert raw["per_seed"] == pytest.approx([m["macro_low_resource_raw_text"]["upos_f1"]["accuracy"] for m in both])
    assert raw["ci95"][0] < raw["mean"] < raw["ci95"][1] and raw["n_treebanks"] == 28
    # each set and each domain gap: the evaluation's own figures (layer_fusion.evaluation)
    sets = out["gold_words"]["treebanks"]
    assert len(sets) == 31 and {"en_ewt_test", "yo_ytb"} <= set(sets)
    for key, summary in sets.items():
        assert summary["per_seed"] == pytest.approx([m["treebanks"][key]["accuracy"] for m in both]), key
    pairs = out["gold_words"]["domain_pairs"]
    assert set(pairs) == set(SHIPPED["domain_pairs"])
    for name, pair in pairs.items():
        assert pair["gap"]["per_seed"] == pytest.approx([m["domain_pairs"][name]["gap"] for m in both]), name
        assert pair["gap"]["ci95"][0] < pair["gap"]["mean"] < pair["gap"]["ci95"][1]


def _toy(correct):
    """One low-resource set of two sentences: P = (3, 2) predicted, G = (3, 3) gold words."""
    per = {"predicted_tokens": [3, 2], "gold_words": [3, 3], "correct_upos": correct,
           "gold_tokens": [3, 3], "matched_tokens": [3, 2]}
    return {"treebanks": {"xx": {"group": "low_resource", "per_sentence": {"words": [3, 3], "correct": correct},
                                 "raw_text": {"per_sentence": per}}},
            "macro_low_resource": {"treebanks": ["xx"]}, "macro_low_resource_raw_text": {},
            "macro_subsets": {"de_vries_2022": {"treebanks": ["xx"]}}, "provenance": {"config_sha256": "x"}}


def test_raw_text_f1_per_seed_by_hand(tmp_path):
    script = load_script("seed_intervals")
    paths = [_write(tmp_path, "s0", _toy([2, 1])), _write(tmp_path, "s1", _toy([3, 2]))]
    script.main(paths, tmp_path / "out.json", n_resamples=100)
    raw = json.loads((tmp_path / "out.json").read_text())["raw_text"]["upos_f1_macro_low_resource"]
    # F1 = 2C / (P + G): 2 * 3 / 11 and 2 * 5 / 11
    assert raw["per_seed"] == pytest.approx([6 / 11, 10 / 11]) and raw["mean"] == pytest.approx(8 / 11)


def test_seeds_tokenized_differently_or_without_raw_text_are_refused(tmp_path):
    script = load_script("seed_intervals")
    other = _toy([3, 2])
    other["treebanks"]["xx"]["raw_text"]["per_sentence"]["predicted_tokens"] = [4, 2]
    paths = [_write(tmp_path, "s0", _toy([2, 1])), _write(tmp_path, "s1", other)]
    with pytest.raises(typer.BadParameter, match="xx: the seeds' raw-text runs were tokenized differently"):
        script.main(paths, tmp_path / "out.json", n_resamples=10)
    gold_only = copy.deepcopy(_toy([2, 1]))
    del gold_only["macro_low_resource_raw_text"]
    paths[1] = _write(tmp_path, "gold_only", gold_only)
    with pytest.raises(typer.BadParameter, match="gold_only.json: no raw-text evaluation"):
        script.main(paths, tmp_path / "out.json", n_resamples=10)
    assert not (tmp_path / "out.json").exists()


def test_inputs_that_are_not_seeds_of_one_evaluation_are_refused_naming_the_file(tmp_path):
    script = load_script("seed_intervals")
    s0 = _write(tmp_path, "s0", _toy([2, 1]))
    cases = {
        "same run twice": (_write(tmp_path, "copy", _toy([2, 1])), "copy.json: the same run as"),
        "same model twice": (_write(tmp_path, "again", {**_toy([2, 1]), "seconds": 1.0}),
                             "again.json: tags every sentence as .*s0.json does: the same model, not another seed"),
        "truncated": (tmp_path / "cut.json", "cut.json: not a metrics JSON file"),
        "other sets": (_write(tmp_path, "sets", {**_toy([3, 2]), "macro_low_resource": {"treebanks": []}}),
                       "sets.json: other low-resource sets than"),
        "other sentences": (_write(tmp_path, "sents", {
            **_toy([3, 2]), "treebanks": {"xx": {**_toy([3, 2])["treebanks"]["xx"],
                                                 "per_sentence": {"words": [3, 4], "correct": [3, 2]}}}}),
            "sents.json: xx: other sentences than"),
        "a list": (_write(tmp_path, "list", [1, 2]), "list.json: not the metrics of evaluate_zero_shot.py"),
    }
    (tmp_path / "cut.json").write_text(json.dumps(_toy([3, 2]))[:40], encoding="utf-8")
    for name, (path, message) in cases.items():
        with pytest.raises(typer.BadParameter, match=message):
            script.main([s0, path], tmp_path / "out.json", n_resamples=10)
    assert not (tmp_path / "out.json").exists()


def test_the_committed_intervals_are_what_the_committed_metrics_give(tmp_path):
    """reports/finetuned_seeds.json goes stale when `make all` changes the shipped metrics."""
    out = tmp_path / "seeds.json"
    inputs = [f"metrics/finetuned{suffix}/zero_shot.json" for suffix in ("", "_seed1", "_seed2")]
    subprocess.run([sys.executable, "scripts/seed_intervals.py", *inputs, "--output", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    assert out.read_bytes() == (REPO / "reports" / "finetuned_seeds.json").read_bytes(), (
        "reports/finetuned_seeds.json is stale: rerun scripts/seed_intervals.py (project.yml, `seed-intervals`)")


def test_a_seeds_file_of_another_model_is_recognised_and_left_out_of_the_readme(tmp_path, capsys):
    """After a new pick is trained and evaluated, the seeds file still holds the old model's
    seeds: the README then gives the shipped model's own figures (and says why on stderr)
    instead of presenting the other model's seed means as this one's."""
    script = load_script("seed_intervals")
    readme = load_script("update_readme")
    metrics = json.loads((REPO / "metrics" / "finetuned" / "zero_shot.json").read_text(encoding="utf-8"))
    seeds = json.loads((REPO / "reports" / "finetuned_seeds.json").read_text(encoding="utf-8"))
    assert script.stale_reason(seeds, metrics) is None
    other_config = {**metrics, "provenance": {**metrics["provenance"], "config_sha256": "0" * 64}}
    assert script.stale_reason(seeds, other_config) == "its seed 0 was trained from another config"
    retrained = {**metrics, "macro_low_resource": {**metrics["macro_low_resource"], "accuracy": 0.75}}
    assert script.stale_reason(seeds, retrained).startswith("its seed 0 has another macro-average")

    text = (REPO / "README.md").read_text(encoding="utf-8")
    args = [REPO / "reports" / name for name in ("make_all_timings.json", "summary.json", "finetune_selection.json")]
    args.append(REPO / "reports" / "bench" / "tokenizer.json")
    (tmp_path / "finetuned").mkdir()
    for variant, name in ((metrics, "same"), (other_config, "other")):
        path = tmp_path / "finetuned" / "zero_shot.json"
        path.write_text(json.dumps(variant), encoding="utf-8")
        rendered = readme.render(text, path, *args)
        if name == "same":
            assert "mean over 3 training seeds" in rendered
        else:
            assert "mean over 3 training seeds" not in rendered
            assert "finetuned_seeds.json is left out: its seed 0 was trained from another config" in capsys.readouterr().err

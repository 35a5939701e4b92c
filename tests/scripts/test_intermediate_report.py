"""scripts/make_intermediate_report.py on metrics built by hand: the tables, the paired
statistics' direction, the generated answer, and byte-identical regeneration."""
import importlib.util
import json

import numpy as np
import pytest

from conftest import REPO

GRID = """
[runs]

[runs.base]
fusion = "LayerAttention"
layers = [6, 9, -1]
bottom_layers = 0
steps = 300
source = "english"
split_words = true
seed = 0

[runs.agg]
fusion = "LayerAttention"
layers = [6, 9, -1]
bottom_layers = 0
steps = 300
source = "english"
split_words = true
seed = 0
intermediate = ["feats", "parser"]
intermediate_layers = [6, 9]

[comparisons]

[comparisons.aggregation]
a = "agg"
b = "base"
label = "aggregation vs none"
"""


def _metrics(name, p_target, p_gum, rng):
    """Per-sentence counts drawn with accuracy p_target on two targets, p_gum on GUM (two genres)."""
    treebanks = {}
    for key, p in (("t1", p_target), ("t2", p_target), ("en_ewt_dev", 0.95)):
        words = rng.integers(5, 15, size=200)
        correct = rng.binomial(words, p)
        treebanks[key] = {"accuracy": correct.sum() / words.sum(),
                          "per_sentence": {"words": words.tolist(), "correct": correct.tolist()}}
    words = rng.integers(5, 15, size=300)
    genre = ["news"] * 150 + ["vlog"] * 150
    correct = np.concatenate([rng.binomial(words[:150], 0.95), rng.binomial(words[150:], p_gum)])
    treebanks["en_gum_test"] = {"per_sentence": {"words": words.tolist(), "correct": correct.tolist(), "genre": genre}}
    genres = {g: {"accuracy": float(correct[i:i + 150].sum() / words[i:i + 150].sum())}
              for g, i in (("news", 0), ("vlog", 150))}
    macro = float(np.mean([treebanks[k]["accuracy"] for k in ("t1", "t2")]))
    return {
        "treebanks": treebanks,
        "macro_low_resource": {"treebanks": ["t1", "t2"], "accuracy": macro, "ci95": [macro - 0.01, macro + 0.01]},
        "macro_subsets": {"de_vries_2022": {"accuracy": macro}},
        "gum_genres": {"en_gum_test": genres},
        "domain_pairs": {"toy": {"label": "Toy: A vs B", "accuracy_a": p_target, "accuracy_b": p_target - 0.1,
                                 "gap": 0.1}},
        "run": {"name": name, "train_seconds": 600.0, "dev_scores": {"pos_acc": 0.95, "dep_las": 0.8, "tag_acc": 0.9}},
    }


def _report(tmp_path, p_agg, p_gum_agg):
    spec = importlib.util.spec_from_file_location("make_intermediate_report", REPO / "scripts" / "make_intermediate_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    grid = tmp_path / "grid.cfg"
    grid.write_text(GRID, encoding="utf-8")
    for name, p, p_gum in (("base", 0.60, 0.80), ("agg", p_agg, p_gum_agg)):
        folder = tmp_path / "metrics" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "zero_shot.json").write_text(json.dumps(_metrics(name, p, p_gum, rng)), encoding="utf-8")
    out = tmp_path / "report.md"
    module.REPO = tmp_path  # plot and archive go under tmp_path/reports
    (tmp_path / "reports").mkdir(exist_ok=True)
    module.main(grid=grid, metrics_dir=tmp_path / "metrics", output=out)
    return out


def test_a_clearly_better_system_gets_a_yes(tmp_path):
    out = _report(tmp_path, p_agg=0.70, p_gum_agg=0.90)
    text = out.read_text()
    assert "| agg | LayerAttention [6, 9, -1], k=0 | multi-task (feats @ 6, parser @ 9) |" in text
    assert "| base | LayerAttention [6, 9, -1], k=0 | none |" in text
    row = next(line for line in text.splitlines() if line.startswith("| aggregation vs none |"))
    difference = float(row.split("|")[3].split()[0])
    assert 8 < difference < 16  # drawn at 70% vs 60% on the targets
    assert "(better); worst GUM genre +" in text
    assert "In plain words: yes" in text
    archive = (tmp_path / "reports" / "intermediate_grid_metrics.tar.gz").read_bytes()
    first = text
    out2 = _report(tmp_path, p_agg=0.70, p_gum_agg=0.90)  # same inputs (same rng draws): same bytes
    assert out2.read_text() == first
    assert (tmp_path / "reports" / "intermediate_grid_metrics.tar.gz").read_bytes() == archive
    assert (tmp_path / "reports" / "intermediate_tasks.png").stat().st_size > 0


def test_no_difference_gets_a_no(tmp_path):
    text = _report(tmp_path, p_agg=0.60, p_gum_agg=0.80).read_text()
    assert "In plain words: no" in text


def test_runs_only_the_archive_holds_stay_in_the_report_and_the_archive(tmp_path):
    """A machine without some run's metrics (made elsewhere) must not drop it: the report
    restores what its archive holds and the local folder lacks, and local files win."""
    first = _report(tmp_path, p_agg=0.70, p_gum_agg=0.90).read_text()
    archive = (tmp_path / "reports" / "intermediate_grid_metrics.tar.gz").read_bytes()
    (tmp_path / "metrics" / "agg" / "zero_shot.json").unlink()
    (tmp_path / "metrics" / "agg").rmdir()
    spec = importlib.util.spec_from_file_location("make_intermediate_report", REPO / "scripts" / "make_intermediate_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.REPO = tmp_path
    module.main(grid=tmp_path / "grid.cfg", metrics_dir=tmp_path / "metrics", output=tmp_path / "again.md")
    assert (tmp_path / "again.md").read_text() == first
    assert (tmp_path / "reports" / "intermediate_grid_metrics.tar.gz").read_bytes() == archive
    assert (tmp_path / "metrics" / "agg" / "zero_shot.json").is_file()


def test_a_worst_genre_verdict_needs_its_holm_adjusted_p(tmp_path):
    """Two comparisons whose worst-genre intervals both exclude 0 at p = 0.04: Holm makes
    both 0.08, so neither is called worse (the macro family is left clear of the threshold)."""
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("make_intermediate_report", REPO / "scripts" / "make_intermediate_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    macro = SimpleNamespace(difference=0.001, ci95=(-0.001, 0.003), p=0.5)
    gum = SimpleNamespace(worst_a=0.80, worst_b=0.82, worst_difference_ci95=(-0.04, -0.001), worst_difference_p=0.04)
    metrics = {name: {"domain_pairs": {"toy": {"label": "Toy", "accuracy_a": 0.7, "accuracy_b": 0.6, "gap": 0.1}}}
               for name in ("agg", "base", "other")}
    results = [("aggregation", {"a": "agg", "b": "base", "label": "aggregation vs none"}, macro, gum, 3, 3),
               ("other", {"a": "other", "b": "base", "label": "other vs none"}, macro, gum, 1, 1)]
    text = "\n".join(module.answer(results, metrics, {}))
    assert text.count("worst GUM genre -2.00") == 2
    assert "(not distinguishable after Holm)." in text and "(worse)" not in text
    alone = "\n".join(module.answer(results[:1], metrics, {}))  # a family of one: p = 0.04 stands
    assert "worst GUM genre -2.00 [-4.00, -0.10] (worse)" in alone

"""reports/finetune_cpu.md is what its committed inputs give: a metrics update that skips
the report (as `make all` does: it writes metrics/finetuned/ and the timings) fails here."""
import subprocess
import sys
import tarfile

import pytest

from conftest import REPO
from runners import load_script


def test_the_committed_report_regenerates_byte_for_byte(tmp_path):
    archive = REPO / "reports" / "finetune_grid_metrics.tar.gz"
    grid = tmp_path / "grid"
    with tarfile.open(archive) as tar:
        tar.extractall(grid, filter="data")
    out = tmp_path / "report" / "finetune_cpu.md"
    out.parent.mkdir()
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_finetune_report.py"),
                    "--metrics-dir", str(grid), "--output", str(out)], check=True, cwd=tmp_path)
    assert out.read_text(encoding="utf-8") == (REPO / "reports" / "finetune_cpu.md").read_text(encoding="utf-8"), (
        "reports/finetune_cpu.md is stale: run scripts/regenerate_reports.py")
    # the archive written beside it is the committed one (content-addressed bytes)
    assert (out.parent / archive.name).read_bytes() == archive.read_bytes()
    assert (out.parent / "finetune_budget.png").is_file()


def test_runs_added_after_target_results_are_named_with_the_pick_without_them(tmp_path):
    """The report says what the reference-dev protocol picks without the late runs: the best
    reference-dev run among the others, by the protocol's own rule."""
    import pytest
    from runners import load_script

    report = load_script("make_finetune_report")
    selection = {"shipped": "b", "runs": [
        {"name": "a", "reference_dev": 0.90, "steps": 300, "bottom_layers": 0},
        {"name": "b", "reference_dev": 0.91, "steps": 600, "bottom_layers": 4},
        {"name": "c", "reference_dev": 0.80, "steps": 300, "bottom_layers": 0}]}
    grid = (REPO / "configs" / "finetune_grid.cfg").read_text(encoding="utf-8")
    late = grid[grid.index("added_after_target_results"):].split("\n", 1)[0]
    cfg = tmp_path / "grid.cfg"
    cfg.write_text(grid.replace(late, 'added_after_target_results = ["ms_k4_s600_dlfa"]'), encoding="utf-8")
    metrics = {"a": {"macro_low_resource": {"accuracy": 0.7, "ci95": [0.69, 0.71]}}}
    text = " ".join(report.late_candidates(cfg, {**selection, "shipped": "b"}, metrics))
    assert "`ms_k4_s600_dlfa`" in text and "the same run" in text  # b is not late here
    selection["runs"][1]["name"] = selection["shipped"] = "ms_k4_s600_dlfa"
    text = " ".join(report.late_candidates(cfg, selection, metrics))
    assert "picks `a` (reference dev 90.00, 28 targets 70.0 [69.0, 71.0])" in text
    cfg.write_text(grid.replace(late, 'added_after_target_results = ["no_such_run"]'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"grid.cfg: \[disclosure\] added_after_target_results names no \[runs.\*\]: \['no_such_run'\]"):
        report.late_candidates(cfg, selection, metrics)


def test_a_run_scored_on_fewer_sets_is_refused_naming_it():
    """The report's columns are means over 28 targets and de Vries et al.'s 14: a run whose
    metrics cover fewer (a file missing when it was evaluated) would be a mean over other sets."""
    script = load_script("make_finetune_report")
    keys = [f"t{i}" for i in range(28)]
    full = {"macro_low_resource": {"treebanks": keys}, "macro_subsets": {"de_vries_2022": {"treebanks": keys[:14]}}}
    script.check_same_sets({"a": full})
    short = {**full, "macro_low_resource": {"treebanks": keys[:27]}}
    with pytest.raises(SystemExit, match="b: its macro-averages cover 27 targets and 14 of de Vries"):
        script.check_same_sets({"a": full, "b": short})

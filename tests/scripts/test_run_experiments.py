"""scripts/run_experiments.py: processes share a stage through lock files, and main waits
for a complete sweep."""
import importlib.util
import json
import subprocess
import sys

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


def test_a_run_is_claimed_once_and_a_dead_claim_is_taken_over(experiments, tmp_path):
    out = tmp_path / "experiments" / "sweep" / "DLFA-L3_-1-s0.json"
    assert experiments.claim(out)
    lock = out.with_name(out.name + ".lock")
    assert lock.read_text() == str(__import__("os").getpid())
    assert not experiments.claim(out)  # held by a live process (this one)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(dead.stdout.strip())  # that process has exited
    assert experiments.claim(out)


def test_a_claimed_run_is_skipped_and_a_finished_one_is_read(experiments, tmp_path):
    from layer_fusion.research.fusion_head import HeadSettings

    settings = HeadSettings("LastLayer", [3])
    out = tmp_path / "experiments" / "probe" / f"{settings.name()}.json"
    assert experiments.claim(out)
    assert experiments.run_one(settings, "probe") is None  # no training started: it is taken
    out.write_text(json.dumps({"english_dev": 0.5}))
    assert experiments.run_one(settings, "probe") == {"english_dev": 0.5}


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

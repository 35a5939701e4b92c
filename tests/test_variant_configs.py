"""k* flows from the layer sweep into the configs by a command, with a stated tie rule."""
import json
import subprocess
import sys
import tarfile

import pytest
from conftest import REPO

from layer_fusion.research.variants import best_k

SCRIPT = REPO / "scripts" / "write_variant_configs.py"


def write_sweep(folder, results):
    folder.mkdir(parents=True, exist_ok=True)
    for fusion, k, dev in results:
        (folder / f"{fusion}-L{k}_-1-s0.json").write_text(
            json.dumps({"english_dev": dev, "settings": {"layers": [k, -1]}}), encoding="utf-8")
    return folder


def test_best_k_is_the_best_english_dev_and_ties_go_to_the_smaller_k(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", [("AIF", 7, 0.91), ("AIF", 3, 0.92), ("AIF", 9, 0.92),
                                             ("DLFA", 2, 0.5), ("DLFA", 11, 0.6)])
    assert best_k(sweep, "AIF") == 3
    assert best_k(sweep, "DLFA") == 11
    with pytest.raises(ValueError, match="no sweep results for ScalarMix"):
        best_k(sweep, "ScalarMix")


def test_from_sweep_writes_k_star_into_the_configs(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "aif.cfg").write_bytes((REPO / "configs" / "aif.cfg").read_bytes())
    (configs / "dlfa.cfg").write_bytes((REPO / "configs" / "dlfa.cfg").read_bytes())
    sweep = write_sweep(tmp_path / "sweep", [("AIF", 2, 0.9), ("AIF", 8, 0.8), ("DLFA", 9, 0.9), ("DLFA", 1, 0.7)])
    done = subprocess.run([sys.executable, str(SCRIPT), "--from-sweep", str(sweep), "--configs-dir", str(configs)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "layers = [2, -1]" in (configs / "aif.cfg").read_text()
    assert "layers = [9, -1]" in (configs / "dlfa.cfg").read_text()
    assert "layers = [2, -1]" in (configs / "xlmr.cfg").read_text()
    # Without --from-sweep nothing reverts to a default: the layers already there stay.
    done = subprocess.run([sys.executable, str(SCRIPT), "--configs-dir", str(configs)], capture_output=True, text=True)
    assert done.returncode == 0 and "layers = [9, -1]" in (configs / "dlfa.cfg").read_text()


def test_committed_configs_hold_the_committed_sweeps_k_star(tmp_path):
    with tarfile.open(REPO / "reports" / "experiment_metrics.tar.gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("sweep/")]
        assert members
        tar.extractall(tmp_path, members=members)
    for fusion, config in (("AIF", "aif.cfg"), ("DLFA", "dlfa.cfg")):
        k = best_k(tmp_path / "sweep", fusion)
        assert f"layers = [{k}, -1]" in (REPO / "configs" / config).read_text()

"""The report's convergence check and its before/after table (layer_fusion.research.convergence_report),
on runs built by hand; the earlier runs read back from an archive (metrics_archive.read_stages)."""
import io
import json
import tarfile

from layer_fusion.research.convergence_report import changes_section, convergence_section
from layer_fusion.research.metrics_archive import read_stages


def run(fusion, layers, seed, dev_curve, macro, epochs, patience=3):
    best = max(range(len(dev_curve)), key=lambda i: (dev_curve[i], -i)) + 1
    return {"settings": {"fusion": fusion, "layers": layers, "seed": seed, "epochs": epochs, "patience": patience},
            "history": {"dev_accuracy": dev_curve, "best_epoch": best},
            "english_dev": max(dev_curve), "macro_low_resource": {"accuracy": macro}}


def test_convergence_flags_runs_whose_best_epoch_is_the_last_allowed():
    stages = {"probe": [run("LastLayer", [3], 0, [0.5, 0.6, 0.6, 0.59, 0.58], 0.4, epochs=40)],
              "main": [run("LastLayer", [-1], 0, [0.5, 0.6, 0.7], 0.4, epochs=3),
                       run("DLFA", [4, -1], 0, [0.8, 0.9, 0.85, 0.85, 0.85], 0.6, epochs=40)]}
    text = "\n".join(convergence_section(stages))
    assert "| probe | 1 | 40 | 3 | 5–5 | 2–2 | 0 |" in text
    assert "| main | 2 | 3, 40 | 3 | 3–5 | 2–3 | 1 |" in text
    assert "1 run(s) had their best English dev at the last allowed epoch" in text
    assert "main LastLayer [-1] seed 0" in text and "DLFA" not in text.split("may not have converged")[1]
    stages["main"].pop(0)
    assert "No run had its best English dev at its last allowed epoch." in convergence_section(stages)


def test_changes_compare_seed_means_and_gains_before_and_after(tmp_path):
    before = {"probe": [], "sweep": [], "main": [
        run("LastLayer", [-1], s, [0.51 + i / 100 for i in range(10)], m, epochs=10, patience=None) for s, m in ((0, 0.50), (1, 0.52))] + [
        run("DLFA", [4, -1], s, [0.81 + i / 100 for i in range(10)], m, epochs=10, patience=None) for s, m in ((0, 0.64), (1, 0.66))]}
    now = {"probe": [], "sweep": [], "main": [
        run("LastLayer", [-1], s, [0.8, 0.85, 0.8, 0.8, 0.8], m, epochs=40) for s, m in ((0, 0.58), (1, 0.60))] + [
        run("DLFA", [6, -1], s, [0.9, 0.93, 0.9, 0.9, 0.9], m, epochs=40) for s, m in ((0, 0.63), (1, 0.63))]}
    # Round trip through an archive, as the report reads the earlier runs.
    archive = tmp_path / "before.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for stage, runs in before.items():
            for i, r in enumerate(runs):
                data = json.dumps(r).encode()
                info = tarfile.TarInfo(f"{stage}/{i}.json")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    loaded = read_stages(archive, ("probe", "sweep", "main"))
    assert sorted(map(json.dumps, loaded["main"])) == sorted(map(json.dumps, before["main"]))
    text = "\n".join(changes_section(loaded, now, archive.name))
    # LastLayer: dev 60.0 -> 85.0, macro 51.0 -> 59.0; DLFA: gain +14.00 before, +4.00 now.
    assert "| LastLayer | LastLayer [-1] | LastLayer [-1] | 60.0 | 85.0 | 51.0 | 59.0 | — | — |" in text
    assert "| DLFA | DLFA [4, -1] | DLFA [6, -1] | 90.0 | 93.0 | 65.0 | 63.0 | +14.00 | +4.00 |" in text
    assert "Before, 4 of 4 probe, sweep and main runs had their best English dev at their last allowed epoch" in text
    assert "was +14.0 to +14.0 points and is now +4.0 to +4.0" in text
    assert "k* of DLFA moved: DLFA [4, -1] before, DLFA [6, -1] now." in text

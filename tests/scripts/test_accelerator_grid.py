"""The accelerator grid: the plan's expansion (order, names, layers, schedule), and the
job end to end on a tiny pack (two workers, resume, the deadline, metrics that match the
predictions). The job also runs with torch and numpy alone (no spaCy, transformers,
confection or typer), as on an accelerator machine."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from conftest import REPO
from layer_fusion.research.accelerator_plan import expand, load_plan
from layer_fusion.research.finetune_pack import write_pack
from layer_fusion.research.finetuning import PackSet
from layer_fusion.targets import load_targets
from packs import sentences

SCRIPTS = REPO / "scripts"
SETTINGS = {"batch_sentences": 8, "encoder_learn_rate": 1e-3, "head_learn_rate": 1e-2, "warmup_fraction": 0.1,
            "weight_decay": 0.01, "grad_clip": 1.0, "split_words": True, "dev": "en_ewt_dev"}


def test_the_committed_grid_expands_in_its_written_order():
    plan = load_plan(REPO / "configs" / "accelerator_grid.cfg")
    runs = {r["name"]: r for r in plan["runs"]}
    names = [r["name"] for r in plan["runs"]]
    assert len(names) == len(runs) == 4 * 4 * 3 + 4 * 2 * 3 + 5 * 2 * 2
    # Seed 0 of every variant of the first block comes before any other seed.
    assert names[:16] == [f"en_k{k}_s300{f}" for k in (0, 4, 6, 8) for f in ("", "_dlfa", "_aif", "_sm")]
    assert names[16] == "en_k0_s300_seed1"
    assert runs["en_k0_s300_dlfa"]["settings"]["layers"] == [4, -1]  # the frozen regime's k*
    assert runs["en_k0_s300_aif"]["settings"]["layers"] == [5, -1]
    assert runs["en_k6_s300_aif_seed2"]["settings"]["layers"] == [6, -1]
    assert runs["en_k8_s300_sm"]["settings"]["layers"] == list(range(13))
    assert runs["en_k4_s300"]["settings"]["layers"] == [-1]
    ms = runs["ms_k4_s600_dlfa_seed1"]["settings"]
    assert (ms["train_set"], ms["steps"], ms["warmup_steps"], ms["eval_every"], ms["bottom_layers"]) == (
        "train_multisource", 600, 60, 600, 4)
    assert runs["en_k0_s1500"]["settings"]["train_set"] == "train"
    assert plan["split_words"] is True and plan["dev"] == "en_ewt_dev"


@pytest.mark.parametrize("change, message", [
    (lambda g: g["blocks"]["b"].update(fusions=["Mean"]), r"\[blocks.b\] fusion 'Mean'"),
    (lambda g: g["blocks"]["b"].update(source="french"), r"\[blocks.b\] source = 'french'"),
    (lambda g: g["blocks"]["b"].update(bottom_layers=[12]), r"\[blocks.b\] bottom_layers 12"),
    (lambda g: g["blocks"]["b"].pop("seeds"), r"\[blocks.b\] needs exactly"),
    (lambda g: g["settings"].pop("dev"), r"\[settings\] missing \['dev'\]"),
    (lambda g: g["blocks"].update(c=dict(g["blocks"]["b"])), r"\[blocks.c\]: run en_k0_s2 is listed twice"),
    (lambda g: g.pop("k_star"), r"DLFA at k = 0 needs its frozen-regime k\*"),
])
def test_a_wrong_grid_names_its_setting(change, message):
    grid = _grid()
    grid["blocks"]["b"]["fusions"] = ["LastLayer", "DLFA"]
    change(grid)
    with pytest.raises(ValueError, match=message):
        expand(grid, where="g.cfg")


def _grid():
    return {"settings": dict(SETTINGS), "k_star": {"DLFA": 1},
            "blocks": {"b": {"source": "english", "steps": [2], "bottom_layers": [0, 1], "fusions": ["LastLayer"],
                             "seeds": [0]}}}


@pytest.fixture(scope="module")
def grid_pack(e5_like, tmp_path_factory):
    """A tiny pack with the names the grid uses: two training sets, English dev, one target."""
    target = next(k for k, t in load_targets(REPO / "configs" / "targets.cfg").treebanks.items()
                  if t.group == "low_resource")
    out = tmp_path_factory.mktemp("grid_pack") / "pack"
    write_pack(out, e5_like, {"train": sentences(16), "train_multisource": sentences(24),
                              "en_ewt_dev": sentences(6), target: sentences(10)}, progress=False, split_words=True)
    grid = _grid()
    grid["blocks"]["b"].update(fusions=["LastLayer", "DLFA"], bottom_layers=[1])
    grid["blocks"]["m"] = {"source": "multisource", "steps": [3], "bottom_layers": [0], "fusions": ["LastLayer"],
                           "seeds": [1]}
    plan = expand(grid)
    plan["grid"] = "configs/accelerator_grid.cfg"
    (out / "plan.json").write_text(json.dumps(plan))
    return out, target


def _run(*args):
    """``run ...``: scripts/accelerator_run.py; ``metrics ...``: scripts/accelerator_grid.py metrics."""
    script, args = ("accelerator_run.py", args[1:]) if args[0] == "run" else ("accelerator_grid.py", args)
    return subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True,
                          cwd=REPO)


@pytest.mark.slow
def test_the_job_trains_resumes_and_scores(grid_pack, tmp_path):
    pack, target = grid_pack
    out = tmp_path / "runs"
    first = _run("run", pack, out, "--workers", "2", "--threads", "1", "--device", "cpu")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "3 of 3 runs finished" in first.stdout
    files = sorted(out.glob("runs-*.npz"))
    assert files and len(files) <= 2
    found = {}
    for f in files:
        with numpy.load(f) as data:
            found.update({k: data[k] for k in data.files})
    assert {k for k in found if k.endswith("/info")} == {"en_k1_s2/info", "en_k1_s2_dlfa/info", "ms_k0_s3_seed1/info"}
    info = json.loads(str(found["ms_k0_s3_seed1/info"]))
    assert info["settings"]["train_set"] == "train_multisource" and info["history"]["steps"] == [3]
    assert "train/en_k1_s2" not in found and "en_k1_s2/train" not in found  # training sets are not predicted

    again = _run("run", pack, out, "--device", "cpu")
    assert again.returncode == 0 and "0 of 3 runs to do" in again.stdout

    metrics_dir = tmp_path / "metrics"
    scored = _run("metrics", out, "--pack-dir", pack, "--output", metrics_dir, "--n-resamples", "50")
    assert scored.returncode == 0, scored.stderr[-3000:]
    metrics = json.loads((metrics_dir / "en_k1_s2_dlfa" / "zero_shot.json").read_text())
    gold = PackSet(pack / f"{target}.npz")
    pred = found[f"en_k1_s2_dlfa/{target}"].astype(numpy.int16)
    assert metrics["treebanks"][target]["accuracy"] == pytest.approx(float((pred == gold.labels).mean()))
    assert metrics["macro_low_resource"]["accuracy"] == pytest.approx(float((pred == gold.labels).mean()))
    assert metrics["settings"]["layers"] == [1, -1] and metrics["settings"]["bottom_layers"] == 1
    assert metrics["device"]["name"] == "cpu" and metrics["provenance"]["config_sha256"]


@pytest.mark.slow
def test_no_run_starts_past_the_deadline(grid_pack, tmp_path):
    pack, _ = grid_pack
    # The first run has no pace to go by and starts; the others would end past a deadline of 0 s.
    result = _run("run", pack, tmp_path / "runs", "--workers", "1", "--threads", "1", "--device", "cpu",
                  "--deadline-s", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 of 3 runs finished" in result.stdout
    assert result.stdout.count("not started") == 2


def test_an_unknown_run_is_refused(grid_pack, tmp_path):
    pack, _ = grid_pack
    result = _run("run", pack, tmp_path / "runs", "--device", "cpu", "--only", "en_k9_s2")
    assert result.returncode != 0 and "en_k9_s2" in result.stderr


@pytest.mark.slow
def test_the_job_needs_torch_and_numpy_alone(grid_pack, tmp_path):
    """The interpreter without its site-packages (-S, inherited by the spawned workers),
    with only torch, numpy and what torch imports on the path."""
    import importlib.util

    site = tmp_path / "site"
    site.mkdir()
    for name in ("torch", "torchgen", "functorch", "numpy", "typing_extensions", "sympy", "mpmath", "networkx",
                 "jinja2", "markupsafe", "filelock", "fsspec"):
        spec = importlib.util.find_spec(name)
        if spec is None:  # not every torch build ships every helper package
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (site / source.name).symlink_to(source)
        libs = source.parent / f"{name}.libs"
        if libs.is_dir():
            (site / libs.name).symlink_to(libs)
    pack, _ = grid_pack
    env = {"PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "PATH": os.environ.get("PATH", "")}
    result = subprocess.run([sys.executable, "-S", str(SCRIPTS / "accelerator_run.py"), str(pack),
                             str(tmp_path / "runs"), "--workers", "2", "--threads", "1", "--device", "cpu",
                             "--only", "en_k1_s2_dlfa", "--only", "ms_k0_s3_seed1"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 of 3 runs finished" in result.stdout
    probe = subprocess.run([sys.executable, "-S", "-c", "import spacy"], capture_output=True, text=True, env=env)
    assert "No module named 'spacy'" in probe.stderr  # the check above really ran without spaCy


def test_a_run_made_from_other_settings_or_another_pack_is_run_again(grid_pack, tmp_path):
    import shutil

    pack = shutil.copytree(grid_pack[0], tmp_path / "pack")
    out = tmp_path / "runs"
    args = ("run", pack, out, "--workers", "1", "--threads", "1", "--device", "cpu", "--only", "en_k1_s2")

    def info():
        with numpy.load(out / "runs-0.npz") as data:
            assert "en_k1_s2/info" in data.files
            return json.loads(str(data["en_k1_s2/info"]))

    first = _run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _run(*args).stdout.startswith("0 of 3 runs to do")
    plan = json.loads((pack / "plan.json").read_text())
    spec = next(r for r in plan["runs"] if r["name"] == "en_k1_s2")
    spec["settings"]["head_learn_rate"] = 0.5
    (pack / "plan.json").write_text(json.dumps(plan))  # the plan's other runs are not this run's inputs
    again = _run(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "en_k1_s2: its results come from other settings: running it again" in again.stdout
    assert info()["settings"]["head_learn_rate"] == 0.5
    with open(pack / "meta.json", "a") as handle:
        handle.write("\n")
    repacked = _run(*args)
    assert "en_k1_s2: its results come from another pack: running it again" in repacked.stdout
    assert "1 of 3 runs finished" in repacked.stdout and info()["pack_sha256"]
    # A run made by other training code (as another checkout records it) runs again.
    code = info()["code_sha256"]
    with numpy.load(out / "runs-0.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["en_k1_s2/info"] = numpy.array(json.dumps({**info(), "code_sha256": "0" * 64}))
    numpy.savez_compressed(out / "runs-0.npz", **arrays)
    recoded = _run(*args)
    assert "en_k1_s2: its results come from other training code: running it again" in recoded.stdout
    assert info()["code_sha256"] == code and len(code) == 64
    with open(pack / "meta.json", "a") as handle:
        handle.write("\n")
    other = _run(*args[:-1], "en_k1_s2_dlfa")  # --only another run: en_k1_s2 is stale but left alone
    assert other.returncode == 0, other.stderr[-3000:]
    assert "en_k1_s2:" not in other.stdout and "2 of 3 runs finished" in other.stdout

    # Scoring: en_k1_s2 was made from the pack before this change, so its predictions are not
    # scored against this pack's labels (and its metrics of an earlier call go); a run the plan
    # no longer lists is left out too.
    metrics_dir = tmp_path / "metrics"
    (metrics_dir / "en_k1_s2").mkdir(parents=True)
    (metrics_dir / "en_k1_s2" / "zero_shot.json").write_text("{}")
    plan["runs"] = [r for r in plan["runs"] if r["name"] != "en_k1_s2_dlfa"]
    (pack / "plan.json").write_text(json.dumps(plan))
    scored = _run("metrics", out, "--pack-dir", pack, "--output", metrics_dir, "--n-resamples", "20")
    assert scored.returncode == 0, scored.stderr[-3000:]
    said = " ".join(scored.stdout.split())
    assert "en_k1_s2: made from another pack; not scored" in said
    assert "en_k1_s2_dlfa: not in the plan; not scored" in said
    assert sorted(p.parent.name for p in metrics_dir.glob("*/zero_shot.json")) == []

"""The Makefile: torch pinned and installed before anything that depends on it; `clean` keeps committed files."""
import os
import subprocess

import pytest

from conftest import REPO


def test_torch_is_installed_first_with_the_callers_pip_arguments():
    args = "--index-url https://example.invalid/cpu"
    lines = subprocess.run(["make", "-n", "-B", ".venv/.installed", f"TORCH_PIP_ARGS={args}"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    installs = [line for line in lines if " install " in line and not line.lstrip().startswith("#")]
    assert "torch==2.13.0" in installs[1] and installs[1].endswith(args)  # after pip's own upgrade
    assert all("torch" not in line for line in installs[2:])
    assert any("-r requirements.txt" in line for line in installs[2:])


@pytest.mark.parametrize("checkout", ["git", "plain copy"])
def test_clean_keeps_committed_metrics(tmp_path, checkout):
    """`make clean` removes generated outputs, never the committed metrics the reports read;
    a copy without git (`spacy project clone`) keeps all of metrics/."""
    for name in ("Makefile", ".gitignore"):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    committed = tmp_path / "metrics" / "finetuned" / "zero_shot.json"
    generated = [tmp_path / "metrics" / "grid" / "run" / "zero_shot.json", tmp_path / "training" / "x" / "config.cfg",
                 tmp_path / "corpus" / "train.spacy"]
    cache = tmp_path / "cache" / "accelerator_runs" / "run.npz"  # hours of work: kept
    for path in [committed, cache, *generated]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    if checkout == "git":
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
        subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
        subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(tmp_path.parent))  # no repository above tmp_path
    subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, check=True, env=env)
    assert committed.read_text() == "{}" and cache.read_text() == "{}"
    metrics_run = generated[0]
    assert not [p for p in generated if p.exists() and p != metrics_run]
    assert metrics_run.exists() == (checkout != "git")

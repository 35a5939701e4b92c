"""scripts/grid_config_changes.py: the settings changed since each grid run was trained, read
from its metrics or rebuilt at the commit its provenance names (and then checked by hash)."""
import hashlib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

GRID = """
[runs]

[runs.tiny]
fusion = "DLFA"
layers = [4, -1]
bottom_layers = 4
steps = 600
source = "multisource"
split_words = true
seed = 0
"""


def _module():
    spec = importlib.util.spec_from_file_location("grid_config_changes", REPO / "scripts" / "grid_config_changes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path):
    """A git repository with today's configs committed, the grid, and the tiny run's metrics
    as finetune_grid.py would have written them at that commit (no config text recorded)."""
    root = tmp_path / "repo"
    (root / "configs").mkdir(parents=True)
    for name in ("finetune.cfg", "intermediate_tasks.cfg"):
        shutil.copy(REPO / "configs" / name, root / "configs" / name)
    (root / "grid.cfg").write_text(GRID, encoding="utf-8")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "configs")
    module = _module()
    run = module.load_grid(root / "grid.cfg")["tiny"]
    text = module.upos_config(root / "configs" / "finetune.cfg", None, "tiny", run, {}, Path("training/grid")).to_str()
    metrics = {"run": {"name": "tiny", "overrides": {}},
               "provenance": {"git_commit": _git(root, "rev-parse", "HEAD"),
                              "config_sha256": hashlib.sha256(text.encode("utf8")).hexdigest()}}
    path = root / "metrics" / "tiny" / "zero_shot.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(metrics), encoding="utf-8")
    return root, path, text


def _rows(root):
    return _module().rows(root / "grid.cfg", root / "metrics", root, Path("training/grid"))


def test_a_config_edited_after_the_commit_names_the_settings(repo):
    root, _, _ = repo
    assert _rows(root) == [("tiny", f"commit {_git(root, 'rev-parse', 'HEAD')[:7]}", "none")]
    base = root / "configs" / "finetune.cfg"
    base.write_text(base.read_text(encoding="utf-8").replace("dropout = 0.1", "dropout = 0.2"), encoding="utf-8")
    [(name, how, changed)] = _rows(root)
    assert changed == "`training.dropout`" and how.startswith("commit ")


def test_the_config_text_the_metrics_record_is_used_first(repo):
    root, path, text = repo
    metrics = json.loads(path.read_text())
    metrics["run"]["config"] = text.replace("dropout = 0.1", "dropout = 0.3")
    metrics["provenance"]["git_commit"] = "0" * 40  # not consulted
    path.write_text(json.dumps(metrics))
    assert _rows(root) == [("tiny", "its metrics", "`training.dropout`")]


def test_a_rebuild_that_is_not_the_recorded_config_is_not_trusted(repo):
    root, path, _ = repo
    metrics = json.loads(path.read_text())
    metrics["provenance"]["config_sha256"] = "f" * 64
    path.write_text(json.dumps(metrics))
    [(_, how, changed)] = _rows(root)
    assert "its sha256 is not the recorded one" in how and changed == ""
    metrics["provenance"]["git_commit"] += "+dirty"
    path.write_text(json.dumps(metrics))
    assert _rows(root) == [("tiny", "not known (trained from uncommitted files)", "")]

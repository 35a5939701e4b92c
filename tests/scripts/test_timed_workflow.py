"""scripts/timed_workflow.py's set-up time: the Makefile's set-up writes the seconds it took,
and the next timed workflow takes them as its first step."""
import subprocess

import pytest

from conftest import REPO
from runners import load_script

STUB = "#!/bin/sh\nexit 0\n"  # pip and python that install nothing


def test_make_setup_records_the_seconds_it_took(tmp_path):
    (tmp_path / "Makefile").write_bytes((REPO / "Makefile").read_bytes())
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "pyproject.toml").write_text("")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    for name in ("python", "pip"):
        (tmp_path / ".venv" / "bin" / name).write_text(STUB)
        (tmp_path / ".venv" / "bin" / name).chmod(0o755)
    subprocess.run(["make", "setup"], cwd=tmp_path, capture_output=True, check=True)
    assert (tmp_path / "logs" / "setup_seconds").read_text().strip().isdigit()
    assert not (tmp_path / "logs" / "setup_started").exists()
    # Up to date: nothing is installed, so nothing is recorded.
    (tmp_path / "logs" / "setup_seconds").unlink()
    subprocess.run(["make", "setup"], cwd=tmp_path, capture_output=True, check=True)
    assert not (tmp_path / "logs" / "setup_seconds").exists()


def test_the_set_up_time_is_taken_once(tmp_path):
    take = load_script("timed_workflow").take_setup_seconds
    path = tmp_path / "setup_seconds"
    path.write_text("73\n")
    assert take(path) == {"setup": 73.0}
    assert not path.exists() and take(path) == {}  # the next workflow did not pay for it


def test_an_unreadable_set_up_time_names_the_file(tmp_path):
    path = tmp_path / "setup_seconds"
    path.write_text("-5\n")
    with pytest.raises(SystemExit, match="setup_seconds: expected the seconds"):
        load_script("timed_workflow").take_setup_seconds(path)
    assert path.exists()

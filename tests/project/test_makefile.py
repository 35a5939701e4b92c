"""The Makefile's set-up: torch pinned and installed before anything that depends on it."""
import subprocess

from conftest import REPO


def test_torch_is_installed_first_with_the_callers_pip_arguments():
    args = "--index-url https://example.invalid/cpu"
    lines = subprocess.run(["make", "-n", "-B", ".venv/.installed", f"TORCH_PIP_ARGS={args}"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    installs = [line for line in lines if " install " in line and not line.lstrip().startswith("#")]
    assert "torch==2.13.0" in installs[1] and installs[1].endswith(args)  # after pip's own upgrade
    assert all("torch" not in line for line in installs[2:])
    assert any("-r requirements.txt" in line for line in installs[2:])

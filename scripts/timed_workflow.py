"""Run a project.yml workflow step by step and record each step's wall time.

    python scripts/timed_workflow.py all --vars.ud_dir ../shared/ud

Equivalent to `spacy project run all`, plus logs/timings.json: {"machine": ..., "steps":
{step: seconds}, "total_seconds": their sum}. Steps that weasel skips (outputs up to date)
take about a second. The first step is "setup" when the Makefile's set-up ran since the last
timed workflow: it writes the seconds it took to logs/setup_seconds, which this reads and
removes. The committed reports/make_all_timings.json is this file from a run of `make all`
in a fresh clone.
"""
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    wait = os.environ.get("OMP_WAIT_POLICY", "unset")
    return (f"{os.cpu_count()} cores ({platform.machine()}), OMP_NUM_THREADS={threads}, "
            f"OMP_WAIT_POLICY={wait}")


def take_setup_seconds(path: Path) -> dict:
    """{"setup": seconds} from the file the Makefile's set-up writes, which is then removed (the
    next workflow did not pay for it); {} when there is none. A file that does not hold a whole
    number of seconds is an error that names it."""
    if not path.is_file():
        return {}
    text = path.read_text().strip()
    if not text.isdigit():
        raise SystemExit(f"{path}: expected the seconds the set-up took, found {text[:40]!r}")
    path.unlink()
    return {"setup": float(text)}


def main() -> int:
    workflow, extra = sys.argv[1], sys.argv[2:]
    steps = yaml.safe_load((REPO / "project.yml").read_text())["workflows"][workflow]
    out = REPO / "logs" / "timings.json"
    out.parent.mkdir(exist_ok=True)
    timings = {"workflow": workflow, "machine": machine(), "steps": take_setup_seconds(REPO / "logs" / "setup_seconds")}
    for step in steps:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", step, str(REPO), *extra],
                                capture_output=False)
        if result.returncode != 0:
            return result.returncode
        timings["steps"][step] = round(time.perf_counter() - start, 1)
        timings["total_seconds"] = round(sum(timings["steps"].values()), 1)
        out.write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

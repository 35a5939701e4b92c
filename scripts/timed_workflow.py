"""Run a project.yml workflow step by step and record each step's wall time.

    python scripts/timed_workflow.py all --vars.ud_dir ../shared/ud

Equivalent to `spacy project run all`, plus logs/timings.json ({step: seconds}),
which the README's timing table is generated from. Steps that weasel skips
(outputs up to date) are recorded as such.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    workflow, extra = sys.argv[1], sys.argv[2:]
    steps = yaml.safe_load((REPO / "project.yml").read_text())["workflows"][workflow]
    out = REPO / "logs" / "timings.json"
    out.parent.mkdir(exist_ok=True)
    timings = json.loads(out.read_text()) if out.exists() else {}
    for step in steps:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", step, str(REPO), *extra],
                                capture_output=False)
        if result.returncode != 0:
            return result.returncode
        timings[step] = round(time.perf_counter() - start, 1)
        out.write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""scripts/run_benchmarks.sh runs every benchmark of docs/benchmarks.md's table, but the two
the page names as run in an environment of their own."""
import re

from conftest import REPO

OWN_ENVIRONMENT = {"check_deepcut_port.py", "bench_thai_segmenters.py"}


def test_run_benchmarks_calls_every_script_of_the_benchmarks_page():
    page = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    scripts = set(re.findall(r"^\| `reports/bench/[^|]+\| `([a-z_]+\.py)` \|", page, flags=re.M))
    assert len(scripts) >= 12 and OWN_ENVIRONMENT <= scripts
    assert all(f"`{name}`" in page.split("|")[0] for name in OWN_ENVIRONMENT)  # the exceptions are stated
    runner = (REPO / "scripts" / "run_benchmarks.sh").read_text(encoding="utf-8")
    called = set(re.findall(r"python scripts/([a-z_]+\.py)", runner))
    assert scripts - OWN_ENVIRONMENT - called == set(), "in docs/benchmarks.md but not run by run_benchmarks.sh"
    assert called <= scripts, "run by run_benchmarks.sh but missing from docs/benchmarks.md"

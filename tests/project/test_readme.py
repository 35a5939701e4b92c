"""The README's results come from committed files: `update_readme.py --check` agrees."""
import os
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "update_readme.py"


def check(readme):
    return subprocess.run([sys.executable, str(SCRIPT), "--check", "--readme", str(readme)],
                          capture_output=True, text=True)


def test_readme_results_match_their_sources():
    result = check(REPO / "README.md")
    assert result.returncode == 0, result.stderr


def test_check_fails_when_a_number_drifts(tmp_path):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- results:start -->")
    head, tail = text[:start], text[start:]
    drifted = tmp_path / "README.md"
    drifted.write_text(head + tail.replace("Low-resource macro-average", "Low-resource macro average", 1),
                       encoding="utf-8")
    result = check(drifted)
    assert result.returncode == 1 and "out of date" in result.stderr


def test_readme_project_docs_match_project_yml(tmp_path):
    """The commands and workflows table is `spacy project document`'s, for this project.yml."""
    out = tmp_path / "doc.md"
    subprocess.run([sys.executable, "-m", "spacy", "project", "document", str(REPO), "--output", str(out)],
                   check=True, capture_output=True)
    text = out.read_text(encoding="utf-8")
    start, end = "<!-- WEASEL: AUTO-GENERATED DOCS START", "<!-- WEASEL: AUTO-GENERATED DOCS END"
    generated = text[text.index(start):text.index(end)]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert generated in readme, "README's project docs are stale: run `spacy project document . --output README.md`"


def test_a_readme_without_the_markers_or_missing_metrics_is_a_usage_error(tmp_path):
    plain = tmp_path / "README.md"
    plain.write_text("# A readme without generated sections\n", encoding="utf-8")
    result = check(plain)
    assert result.returncode == 2 and "needs one <!-- results:start -->" in " ".join(result.stderr.split())
    wide = {**os.environ, "COLUMNS": "400"}  # rich would wrap the path inside its error box
    result = subprocess.run([sys.executable, str(SCRIPT), "--check", "--metrics", str(tmp_path / "none.json")],
                            capture_output=True, text=True, env=wide)
    assert result.returncode == 2 and "none.json: not found" in " ".join(result.stderr.split())

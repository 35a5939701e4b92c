"""reports/finetune_cpu.md is what its committed inputs give: a metrics update that skips
the report (as `make all` does: it writes metrics/finetuned/ and the timings) fails here."""
import subprocess
import sys
import tarfile

from conftest import REPO


def test_the_committed_report_regenerates_byte_for_byte(tmp_path):
    archive = REPO / "reports" / "finetune_grid_metrics.tar.gz"
    grid = tmp_path / "grid"
    with tarfile.open(archive) as tar:
        tar.extractall(grid, filter="data")
    out = tmp_path / "report" / "finetune_cpu.md"
    out.parent.mkdir()
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_finetune_report.py"),
                    "--metrics-dir", str(grid), "--output", str(out)], check=True, cwd=tmp_path)
    assert out.read_text(encoding="utf-8") == (REPO / "reports" / "finetune_cpu.md").read_text(encoding="utf-8"), (
        "reports/finetune_cpu.md is stale: run scripts/regenerate_reports.py")
    # the archive written beside it is the committed one (content-addressed bytes)
    assert (out.parent / archive.name).read_bytes() == archive.read_bytes()
    assert (out.parent / "finetune_budget.png").is_file()

"""Regenerate every report and the README's results from committed files alone.

    python scripts/regenerate_reports.py

Each report's inputs are archived beside it (``reports/*_metrics.tar.gz``). Where the
metrics folder a report reads is missing files, they are extracted from its archive first
(files already there are never overwritten: local runs win). Then the report scripts run,
and ``scripts/update_readme.py`` rewrites the README's generated sections. On a fresh clone
this reproduces the committed reports and README byte for byte (``git status`` stays clean).
"""
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import typer

from layer_fusion.research.metrics_archive import restore_missing

REPO = Path(__file__).resolve().parents[1]
# (archive, folder its members are relative to, the command that writes the report)
REPORTS: List[Tuple[str, str, List[str]]] = [
    ("reports/experiment_metrics.tar.gz", "metrics/experiments", ["scripts/make_report.py"]),
    ("reports/finetune_grid_metrics.tar.gz", "metrics/grid", ["scripts/make_finetune_report.py"]),
    ("reports/intermediate_grid_metrics.tar.gz", "metrics/grid", ["scripts/make_intermediate_report.py"]),
    ("reports/accelerator_grid_metrics.tar.gz", "metrics/accelerator_grid", ["scripts/make_accelerator_report.py"]),
]


def main():
    for archive, folder, command in REPORTS:
        archive_path = REPO / archive
        if not archive_path.is_file():
            typer.echo(f"{archive}: not found, its report is skipped", err=True)
            continue
        try:
            n = restore_missing(archive_path, REPO / folder)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
        typer.echo(f"{archive}: {n} file(s) extracted into {folder}/")
        subprocess.run([sys.executable, *command], cwd=REPO, check=True)
    subprocess.run([sys.executable, "scripts/update_readme.py"], cwd=REPO, check=True)


if __name__ == "__main__":
    typer.run(main)

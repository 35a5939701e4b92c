"""Which settings of each grid run's config changed since the run was trained.

`scripts/finetune_grid.py --rerun-changed` (what `spacy project run finetune-grid` runs)
trains a run again whenever its config's sha256 differs from the one its metrics record,
whatever changed. This says what did, so that the cost of a rerun can be weighed against it:

    | run | config known from | settings changed since |

The config a run was trained from is read from its metrics (``run.config``, recorded since
finetune_grid.py records it) or rebuilt: configs/finetune.cfg and
configs/intermediate_tasks.cfg as they were at the commit its provenance names (a clean
checkout only), with the run's settings applied by today's ``variant_config``. A rebuilt
config counts only if its sha256 is the recorded one; otherwise the run is listed as not
known. Reads nothing but configs and metrics; trains nothing.

    python scripts/grid_config_changes.py [configs/finetune_grid.cfg] [--metrics-dir metrics/grid]
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

from layer_fusion.research.config_changes import summarize_changes
from layer_fusion.research.variants import load_grid

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from finetune_grid import upos_config  # noqa: E402  (a sibling script: the grid's own rule for a run's config)

BASE = "configs/finetune.cfg"
TASKS = "configs/intermediate_tasks.cfg"
app = typer.Typer(add_completion=False)


def trained_config(metrics: Dict, repo: Path, name: str, run: Dict, overrides: Dict,
                   training_dir: Path) -> Tuple[Optional[str], str]:
    """(config text run ``name`` was trained from, how it is known) or (None, why not)."""
    recorded = (metrics.get("run") or {}).get("config")
    if recorded:
        return recorded, "its metrics"
    provenance = metrics.get("provenance") or {}
    commit = str(provenance.get("git_commit") or "")
    if not commit or commit.endswith("+dirty"):
        return None, "not known (trained from uncommitted files)" if commit else "not known (no commit recorded)"
    with tempfile.TemporaryDirectory() as tmp:
        files: Dict[str, Optional[Path]] = {TASKS: None}  # the tasks file only matters to runs with tasks
        for rel in (BASE, TASKS) if run.get("intermediate") else (BASE,):
            shown = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{rel}"], capture_output=True, text=True)
            if shown.returncode != 0:
                return None, f"not known ({rel} not found at {commit[:7]})"
            files[rel] = Path(tmp) / Path(rel).name
            files[rel].write_text(shown.stdout, encoding="utf-8")
        try:
            text = upos_config(files[BASE], files[TASKS], name, run, overrides, training_dir).to_str()
        except (KeyError, ValueError) as err:  # a setting today's variant_config cannot apply to the old base
            return None, f"not known (rebuilding at {commit[:7]} failed: {err})"
    if hashlib.sha256(text.encode("utf8")).hexdigest() != provenance.get("config_sha256"):
        return None, f"not known (rebuilt at {commit[:7]}, but its sha256 is not the recorded one)"
    return text, f"commit {commit[:7]}"


def rows(grid: Path, metrics_dir: Path, repo: Path, training_dir: Path) -> List[Tuple[str, str, str]]:
    """(run, how its config is known, changed settings or "") for every run with metrics."""
    out = []
    for name, spec in load_grid(grid).items():
        path = metrics_dir / name / "zero_shot.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text(encoding="utf-8"))
        overrides = {k: json.loads(v) for k, v in ((metrics.get("run") or {}).get("overrides") or {}).items()}
        old, how = trained_config(metrics, repo, name, spec, overrides, training_dir)
        if old is None:
            out.append((name, how, ""))
            continue
        now = upos_config(repo / BASE, repo / TASKS, name, spec, overrides, training_dir)
        out.append((name, how, ", ".join(f"`{k}`" for k in summarize_changes(old, now)) or "none"))
    return out


@app.command()
def main(
    grid: Path = typer.Argument(REPO / "configs" / "finetune_grid.cfg", exists=True, dir_okay=False),
    metrics_dir: Path = typer.Option(REPO / "metrics" / "grid", "--metrics-dir", exists=True, file_okay=False),
    training_dir: Path = typer.Option(Path("training/grid"), "--training-dir",
                                      help="As given to finetune_grid.py (its configs name stage-1 folders by it)"),
):
    """Print a markdown table: each run with metrics, and the settings changed since it was trained."""
    table = rows(grid, metrics_dir, REPO, training_dir)
    if not table:
        typer.echo(f"{metrics_dir}: no metrics of a run of {grid}", err=True)
        raise typer.Exit(1)
    typer.echo("| run | config known from | settings changed since |\n|---|---|---|")
    for name, how, changed in table:
        typer.echo(f"| {name} | {how} | {changed} |")


if __name__ == "__main__":
    app()

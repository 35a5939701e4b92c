"""Record which evaluation files of configs/targets.cfg are present, and their checksums.

    python scripts/index_evaluation_sets.py UD_DIR corpus/evaluation_sets.json [--targets configs/targets.cfg]

weasel re-runs a command when one of its deps changes, but a dep that is missing is an error,
and targets.cfg lists sets that may be absent (reported missing and skipped at run time). So
the commands that read the evaluation files (`corpus`, `evaluate`, `seed-runs`,
`evaluate-int8`, the grids and the packs) depend on this index instead: it runs every time
(cheap: one pass over the files), and its output changes when a listed file appears,
disappears or changes (or UD_DIR is spelled otherwise, which changes those commands' own
command lines too). An unchanged index is not rewritten. Running one of those commands
alone (`spacy project run evaluate`) does not refresh it: run `evaluation-sets` first, as
the workflows do.

Output: {"ud_dir": ..., "sets": {key: {"file": "<treebank>/<file>", "sha256": hex or null}}}.
"""
import json
from pathlib import Path

import typer

from layer_fusion.atomic_write import unwritable_reason, write_text_atomic
from layer_fusion.targets import TargetsError, load_targets

DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "configs" / "targets.cfg"


def index(ud_dir: Path, targets: Path) -> dict:
    """Each evaluation set's file (relative to ``ud_dir``) and its sha256, None when absent."""
    return {"ud_dir": str(ud_dir), "sets": load_targets(targets).file_checksums(ud_dir)}


def main(
    ud_dir: Path = typer.Argument(..., help="Folder with the UD_* treebank folders", exists=True, file_okay=False),
    output: Path = typer.Argument(..., help="The index (JSON)"),
    targets: Path = typer.Option(DEFAULT_TARGETS, "--targets", exists=True, dir_okay=False),
):
    if unwritable_reason(output):
        raise typer.BadParameter(f"{output}: {unwritable_reason(output)}", param_hint="OUTPUT")
    try:
        indexed = index(ud_dir, targets)
    except TargetsError as err:
        raise typer.BadParameter(str(err), param_hint="--targets") from None
    text = json.dumps(indexed, indent=1) + "\n"
    missing = [s["file"] for s in indexed["sets"].values() if s["sha256"] is None]
    if len(missing) == len(indexed["sets"]):  # a wrong folder, not sets that happen to be absent
        raise typer.BadParameter(f"{ud_dir} holds none of the {len(missing)} evaluation files of {targets}: "
                                 "is it the UD folder? (in the project: --vars.ud_dir)", param_hint="UD_DIR")
    if output.is_file() and output.read_text(encoding="utf-8") == text:
        typer.echo(f"{output}: unchanged")
    else:
        write_text_atomic(output, text)
        typer.echo(f"wrote {output}")
    if missing:
        typer.echo(f"absent (reported missing when evaluating): {', '.join(missing)}")


if __name__ == "__main__":
    typer.run(main)

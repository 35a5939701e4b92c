"""Apply the selection protocols (docs/selection_protocol.md) to the fine-tuning grid.

Reads metrics/grid/<run>/zero_shot.json for every run of the grid with seed 0 (the screen),
picks a variant by English dev (English-only runs) and by the reference-language dev
macro-average (all runs), and writes

    reports/finetune_selection.json   every screened run's selection scores and both picks
    configs/finetuned.cfg             the reference-dev pick as a full training config
                                      (configs/finetune.cfg + the run's settings): what
                                      `spacy project run all` trains and ships
    configs/package_meta.json         the packaged pipeline's meta (what it was trained on)

Target-language accuracies are not read here.

    python scripts/select_finetuned.py [--grid configs/finetune_grid.cfg] [--metrics-dir metrics/grid]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from layer_fusion.atomic_write import unwritable_reason, write_text_atomic
from layer_fusion.research.variants import load_grid, variant_config
from layer_fusion.targets import load_targets

REPO = Path(__file__).resolve().parents[1]
TIE = 1e-4  # 0.01 points
# What the packaged pipeline's meta says it was trained on, by the run's source.
TRAINED_ON = {
    "english": ("UD English-EWT only", "CC BY-SA 4.0 (trained on UD English-EWT); encoder: MIT"),
    "multisource": (
        "UD English-EWT plus the dev and test files of Romanian-RRT, Swedish-Talbanken, Finnish-TDT, "
        "Turkish-BOUN, Croatian-SET and Portuguese-Bosque and the test file of Hindi-PUD (none of them an "
        "evaluation target)",
        "CC BY-SA 4.0 (trained on UD treebanks under CC BY-SA 3.0 and 4.0); encoder: MIT",
    ),
}


# Credited in the packaged pipeline's meta (its generated README lists them): the encoder and
# the treebanks each training source reads. Licences as in ../shared/ud/MANIFEST.tsv.
ENCODER_SOURCE = {"name": "intfloat/multilingual-e5-small", "url": "https://huggingface.co/intfloat/multilingual-e5-small",
                  "license": "MIT", "author": "Wang et al. (2024), Multilingual E5 Text Embeddings"}
UD_SOURCES = {
    "UD_English-EWT": "CC BY-SA 4.0", "UD_Romanian-RRT": "CC BY-SA 4.0", "UD_Swedish-Talbanken": "CC BY-SA 4.0",
    "UD_Finnish-TDT": "CC BY-SA 4.0", "UD_Turkish-BOUN": "CC BY-SA 4.0", "UD_Croatian-SET": "CC BY-SA 4.0",
    "UD_Hindi-PUD": "CC BY-SA 3.0", "UD_Portuguese-Bosque": "CC BY-SA 4.0",
}
TREEBANKS = {"english": ["UD_English-EWT"], "multisource": list(UD_SOURCES)}


def sources(run: dict) -> List[dict]:
    """The meta's ``sources``: the encoder and every treebank the run trains on."""
    return [ENCODER_SOURCE] + [
        {"name": name, "url": f"https://github.com/UniversalDependencies/{name}", "license": UD_SOURCES[name],
         "author": "Universal Dependencies contributors"} for name in TREEBANKS[run["source"]]]


def package_meta(run: dict) -> dict:
    trained_on, license_ = TRAINED_ON[run["source"]]
    k = run["bottom_layers"]
    frozen = "word embeddings frozen" if k == 0 else f"embeddings and bottom {k} layers frozen"
    return {
        "description": "Zero-shot cross-lingual UPOS tagger: multilingual-e5-small fine-tuned with "
                       f"spacy-layer-fusion ({run['fusion']}, {frozen}, {run['steps']} steps), "
                       f"trained on {trained_on}. token.pos_ holds UPOS.",
        "author": "spacy-layer-fusion developers",
        "license": license_,
        "sources": sources(run),
        "requirements": ["torch>=2.0"],
    }
app = typer.Typer(add_completion=False)


def reference_dev_sets() -> List[str]:
    """The reference_dev sets of configs/targets.cfg: what every run's macro must cover."""
    return sorted(t.key for t in load_targets(REPO / "configs" / "targets.cfg").select("reference_dev"))


def selection_scores(metrics: dict, reference_sets: List[str]) -> Dict[str, Optional[float]]:
    """The only numbers selection may look at: English dev and the reference dev macro, None
    when it is missing or covers other sets than ``reference_sets`` (a mean over three sets
    would be ranked against means over four)."""
    macro = metrics.get("macro_reference_dev") or {}
    return {
        "english_dev": metrics["treebanks"]["en_ewt_dev"]["accuracy"],
        "reference_dev": macro.get("accuracy") if sorted(macro.get("treebanks") or []) == reference_sets else None,
    }


def pick(rows: List[dict], score: str) -> Optional[dict]:
    """Highest score; ties within 0.01 points go to fewer steps, more frozen layers, then name."""
    rows = [r for r in rows if r[score] is not None]
    if not rows:
        return None
    best = max(r[score] for r in rows)
    tied = [r for r in rows if r[score] >= best - TIE]
    return sorted(tied, key=lambda r: (r["steps"], -r["bottom_layers"], r["name"]))[0]


@app.command()
def main(
    grid: Path = typer.Option(REPO / "configs" / "finetune_grid.cfg", "--grid", exists=True),
    metrics_dir: Path = typer.Option(Path("metrics/grid"), "--metrics-dir"),
    base: Path = typer.Option(REPO / "configs" / "finetune.cfg", "--base", exists=True),
    output: Path = typer.Option(REPO / "reports" / "finetune_selection.json", "--output"),
    config_out: Path = typer.Option(REPO / "configs" / "finetuned.cfg", "--config-out"),
    meta_out: Path = typer.Option(REPO / "configs" / "package_meta.json", "--meta-out"),
):
    """Both protocols' picks; the reference-dev pick becomes configs/finetuned.cfg."""
    for setting, path in (("--output", output), ("--config-out", config_out), ("--meta-out", meta_out)):
        if unwritable_reason(path):  # checked first: the three outputs must agree
            msg.fail(f"cannot write {setting} {path}: {unwritable_reason(path)}", exits=1)
    spec = load_grid(grid)
    reference_sets = reference_dev_sets()
    rows = []
    for name, run in spec.items():
        if int(run["seed"]) != 0:
            continue
        path = metrics_dir / name / "zero_shot.json"
        if not path.is_file():
            msg.warn(f"{name}: no metrics yet ({path}); not screened")
            continue
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
            scores = selection_scores(metrics, reference_sets)
        except (ValueError, KeyError, TypeError) as err:
            msg.fail(f"{path}: not the metrics of evaluate_zero_shot.py with en_ewt_dev ({err!r})", exits=1)
        if scores["reference_dev"] is None:
            covered = sorted((metrics.get("macro_reference_dev") or {}).get("treebanks") or [])
            msg.warn(f"{name}: its reference-dev macro covers {covered or 'no set'}, not {reference_sets} "
                     f"({path}); left out of the reference-dev protocol")
        rows.append({"name": name, **run, **scores})
    if not rows:
        msg.fail(f"No screened runs under {metrics_dir}: run scripts/finetune_grid.py first", exits=1)
    english = pick([r for r in rows if r["source"] == "english"], "english_dev")
    reference = pick(rows, "reference_dev")
    if reference is None:
        msg.fail(f"No run under {metrics_dir} has a reference-dev macro-average: evaluate with the "
                 "reference_dev sets of configs/targets.cfg", exits=1)
    result = {
        "protocol": "docs/selection_protocol.md",
        "screen": "seed 0 of every run in " + str(grid.relative_to(REPO) if grid.is_relative_to(REPO) else grid),
        "runs": rows,
        "picks": {
            "english_dev": english and {"name": english["name"], "score": english["english_dev"]},
            "reference_dev": reference and {"name": reference["name"], "score": reference["reference_dev"]},
        },
        "shipped": reference["name"],
    }
    write_text_atomic(output, json.dumps(result, indent=1) + "\n")
    config = variant_config(base, spec[reference["name"]])
    header = (
        f"# GENERATED by scripts/select_finetuned.py: do not edit. The reference-dev protocol's pick\n"
        f"# ({reference['name']}: reference dev macro {100 * reference['reference_dev']:.2f}) of the\n"
        f"# fine-tuning grid, i.e. configs/finetune.cfg with {json.dumps(spec[reference['name']])}.\n"
    )
    write_text_atomic(config_out, header + config.to_str())
    write_text_atomic(meta_out, json.dumps(package_meta(spec[reference["name"]]), indent=2) + "\n")
    for protocol, chosen in result["picks"].items():
        if chosen:
            msg.good(f"{protocol}: {chosen['name']} ({100 * chosen['score']:.2f})")
    msg.good(f"Wrote {output}, {config_out} and {meta_out} (ships {reference['name']})")


if __name__ == "__main__":
    app()

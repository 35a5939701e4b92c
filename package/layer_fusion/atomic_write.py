"""Write a file so that it appears complete or not at all."""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, TextIO, Union


@contextlib.contextmanager
def atomic_text_output(path: Union[str, Path]) -> Iterator[TextIO]:
    """Yield a UTF-8 text handle on a temp file beside ``path``; rename it to ``path`` on
    success, delete it on any error (so no partial output is left behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

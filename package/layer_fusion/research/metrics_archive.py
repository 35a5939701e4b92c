"""Report inputs archived beside the reports (``reports/*_metrics.tar.gz``), so a report can
be checked and regenerated without rerunning anything (``scripts/regenerate_reports.py``)."""
import gzip
import io
import tarfile
from pathlib import Path
from typing import Iterable, Tuple

from ..atomic_write import atomic_output


def write_reproducible_archive(path: Path, members: Iterable[Tuple[str, bytes]]) -> None:
    """(name, bytes) members as a tar.gz whose bytes depend on the names and contents only
    (no times, owners or file modes from the disk; members sorted by name), written
    atomically."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    with atomic_output(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())

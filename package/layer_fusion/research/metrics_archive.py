"""Report inputs archived beside the reports (``reports/*_metrics.tar.gz``), so a report can
be checked and regenerated without rerunning anything (``scripts/regenerate_reports.py``).

A report script rewrites its archive from the metrics folder it reads. It calls
``restore_missing`` first, so that runs present only in the archive (made on another machine,
an accelerator, or before this checkout) are kept in the report and the archive instead of
being dropped by a run on a machine that lacks them. Local files always win."""
import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

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


def restore_missing(archive: Path, folder: Path) -> int:
    """Extract the members of ``archive`` (a tar.gz of metrics files) that ``folder`` lacks;
    files already there are never overwritten. Returns how many were extracted (0 when there
    is no archive). Each file is written whole or not at all. A member whose path would land
    outside ``folder`` is refused with a ValueError naming the archive."""
    archive, folder = Path(archive), Path(folder)
    if not archive.is_file():
        return 0
    n = 0
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = folder / member.name
            if not target.resolve().is_relative_to(folder.resolve()):
                raise ValueError(f"{archive}: member {member.name!r} would land outside {folder}")
            if not member.isfile() or target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(tar.extractfile(member).read())
            partial.replace(target)
            n += 1
    return n


def read_stages(archive: Path, stages) -> Dict[str, List[Dict]]:
    """Metrics of ``stages`` from a report archive (reports/*.tar.gz), sorted by file name."""
    out: Dict[str, List[Dict]] = {stage: [] for stage in stages}
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            stage = member.name.split("/", 1)[0]
            if stage in out and member.isfile():
                out[stage].append(json.loads(tar.extractfile(member).read()))
    return out

"""Write a file or a folder so that it appears complete or not at all."""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, ContextManager, Iterator, List, Optional, TextIO, Union


def unwritable_reason(path: Union[str, Path], folder: bool = False) -> Optional[str]:
    """Why a file (with ``folder``: a folder) cannot be created at ``path``, or None: checked
    before long work starts, so that a bad output setting fails at once, not after the work."""
    path = Path(path)
    if not folder and path.is_symlink() and not is_stream(path):  # atomic_output writes where it points
        path = Path(os.path.realpath(path))
    if folder and path.exists() and not path.is_dir():
        return "it is a file, not a folder"
    if not folder and path.is_dir():
        return "it is a folder"
    if not folder and is_stream(path):  # written in place: its own permission counts, not its folder's
        return None if os.access(path, os.W_OK) else "it is not writable"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            if not os.access(parent, os.W_OK):
                return f"{parent} is not writable"
            return None
    return None


def replaceable_folder_reason(path: Union[str, Path]) -> Optional[str]:
    """``unwritable_reason`` for a folder that is replaced whole (``atomic_folder``,
    ``replace_folder``), or why it cannot be: the current folder, or one that holds it, would
    be renamed from under the process (``.``: after the work, with EINVAL)."""
    return _working_folder_reason(path) or unwritable_reason(path, folder=True)


def _working_folder_reason(path: Union[str, Path]) -> Optional[str]:
    """Whether ``path`` is the current folder or holds it, as rename sees it: symlinks in the
    parents are followed, a symlink at the end is not (the link is renamed, not its target)."""
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:  # the current folder was deleted: nothing can be it
        return None
    full = os.path.join(here, os.fspath(path))
    parent, name = os.path.split(full.rstrip(os.sep) or os.sep)
    if name in ("", ".", ".."):
        resolved = os.path.realpath(full)
    else:
        resolved = os.path.join(os.path.realpath(parent), name)
    if resolved == here:
        return "it is the current folder"
    if here.startswith(resolved.rstrip(os.sep) + os.sep):
        return "it holds the current folder"
    return None


@contextlib.contextmanager
def atomic_output(path: Union[str, Path], mode: str = "w") -> Iterator[IO]:
    """Yield a handle on a temp file beside ``path`` (text mode: UTF-8, "\\n" line ends);
    rename it to ``path`` on success, delete it on any error (so no partial output is
    left behind).

    A symlink is followed: the file it points to is replaced, the link stays. A stream
    (``is_stream``: a FIFO, a terminal, /dev/null, /dev/stdout) is appended to in place:
    replacing it would put a regular file where the device or pipe was, and the reader
    would get nothing; appending, not truncating, keeps what /dev/stdout's file (``>> log``)
    already holds."""
    path = Path(path)
    if path.is_dir():  # else os.replace fails only at the end, naming the temp file
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if is_stream(path):
        text = "b" not in mode
        with open(path, mode.replace("w", "a"), **({"encoding": "utf-8", "newline": "\n"} if text else {})) as handle:
            yield handle
        return
    if path.is_symlink():  # to a file, or dangling: write the file it names
        path = Path(os.path.realpath(path))
    created = _missing_folders(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "b" not in mode
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": "\n"} if text else {})) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _remove_if_empty(created)
        raise


def _missing_folders(folder: Path) -> List[Path]:
    """``folder`` and those above it that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_if_empty(folders: List[Path]) -> None:
    """Remove the folders made for an output that failed, deepest first, if still empty
    (something else may have written into one meanwhile)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def is_stream(path: Union[str, Path]) -> bool:
    """Whether ``path`` is written in place, as a stream: an existing FIFO, device or socket
    (``exists`` and ``is_file`` follow symlinks), or any path under /dev or /proc, such as
    /dev/stdout, which resolves to whatever the standard output is, a file appended to
    (``>> log``) included; but not under /dev/shm, a folder of ordinary files (tmpfs)."""
    path = Path(path)
    parts = path.absolute().parts
    if parts[1:2] in (("dev",), ("proc",)) and parts[1:3] != ("dev", "shm"):
        return True
    return path.exists() and not path.is_file() and not path.is_dir()


def atomic_text_output(path: Union[str, Path]) -> ContextManager[TextIO]:
    return atomic_output(path, "w")


def write_text_atomic(path: Union[str, Path], text: str) -> None:
    with atomic_output(path, "w") as handle:
        handle.write(text)


def write_bytes_atomic(path: Union[str, Path], data: bytes) -> None:
    with atomic_output(path, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_folder(path: Union[str, Path]) -> Iterator[Path]:
    """Yield an empty folder ``.<name>.partial-PID`` beside ``path`` to fill. On success it
    replaces ``path`` (see ``replace_folder``); on an error it is deleted, with the folders
    above it that were made for it (if still empty). IsADirectoryError, before anything is
    made, when ``path`` is the current folder or holds it. The name is the
    process's own, so two processes writing one ``path`` never fill the same folder (the
    last to finish wins, with a whole result); one left behind by a killed process is
    cleared when the next attempt starts (``restore_moved_aside``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():  # a file is never replaced by a folder
        raise FileExistsError(f"{path} is a file, not a folder")
    _refuse_working_folder(path)  # before the work, not at the rename after it
    restore_moved_aside(path)
    shutil.rmtree(path.parent / f".{path.name}.partial", ignore_errors=True)  # an older version's, no PID
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    created = _missing_folders(path.parent)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_if_empty(created)
        raise


def replace_folder(tmp: Path, target: Path) -> None:
    """Publish ``tmp`` as ``target``: an old target is moved aside first (``.NAME.old-PID``),
    put back if the rename fails (rather than leave nothing), and deleted once ``tmp`` is in
    place. A process killed between the two renames leaves only the moved-aside folder:
    ``restore_moved_aside`` puts it back."""
    _refuse_working_folder(target)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    try:
        tmp.rename(target)
    except BaseException:  # a signal raised here (cli.main) must not leave the target gone
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        # Renamed before it is deleted: a delete cut short leaves a .trash- folder, which
        # restore_moved_aside removes, not an .old- one it would put back half-deleted.
        trash = target.parent / f".{target.name}.trash-{os.getpid()}"
        shutil.rmtree(trash, ignore_errors=True)
        old.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


def _refuse_working_folder(path: Path) -> None:
    problem = _working_folder_reason(path)
    if problem:
        raise IsADirectoryError(f"{path}: {problem}, which cannot be replaced; name a folder inside it")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def restore_moved_aside(target: Union[str, Path]) -> None:
    """Undo what a killed ``replace_folder`` left: a ``.NAME.old-PID`` folder of a process
    that no longer runs is put back as ``target`` when nothing took its place (the old
    result is kept, not lost), else deleted; a ``.NAME.trash-PID`` one (a delete cut short)
    and a ``.NAME.partial-PID`` one (an ``atomic_folder`` never finished) are deleted. Call it
    before deciding whether ``target`` needs rebuilding."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    for path in sorted(target.parent.iterdir()):
        kind, _, pid = path.name[len(target.name) + 2:].partition("-")
        if not path.name.startswith(f".{target.name}.") or kind not in ("old", "trash", "partial") \
                or not pid.isdigit() or pid_alive(int(pid)):
            continue
        if kind == "old" and not target.exists() and not target.is_symlink():
            try:
                path.rename(target)
                continue
            except OSError:  # another process put it back, or published a target, first
                pass
        shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

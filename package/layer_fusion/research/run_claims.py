"""Claims on research runs, so that several processes can work through one stage.

A process claims the run whose metrics go to ``OUT`` by holding an exclusive ``flock`` on
``OUT.lock`` (the file also holds the process's pid, for people reading it). The kernel
drops the lock when the process ends, however it ends, so a crashed run is free to claim
at once, and exactly one of several processes that find it free gets it. (A pid file alone
cannot do this: two processes that both see a dead pid both take the run over.)

POSIX only (``fcntl``), as the research stages are.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Dict

# Lock file -> the descriptor holding its lock, for release().
_held: Dict[Path, int] = {}


def lock_path(out: Path) -> Path:
    """Where the claim on the run writing ``out`` lives: ``out`` + ``.lock``."""
    return out.with_name(out.name + ".lock")


def claim(out: Path) -> bool:
    """Claim the run writing ``out`` for this process; False when a live process holds it
    (this one included). Held until ``release(out)`` or the process ends."""
    lock = lock_path(out)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # The holder before us may have released (and removed) the file between our open
        # and our lock: then we hold a file no one else will open. Lock the path's file.
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[lock] = fd
    return True


def release(out: Path) -> None:
    """Give up this process's claim on the run writing ``out`` and remove its lock file;
    nothing when this process does not hold it."""
    lock = lock_path(out)
    fd = _held.pop(lock, None)
    if fd is None:
        return
    # Removed while still locked: a process that opens the old file now finds it is no
    # longer the path's (claim's inode check) and starts again on a new one.
    lock.unlink(missing_ok=True)
    os.close(fd)

"""Give freed heap memory back to the operating system after a large one-off transient.

glibc's malloc keeps freed memory in its heap (the break and its arenas) for reuse; only
a free block at the very top is returned, and only past ``M_TRIM_THRESHOLD``. After a step
that allocates and frees hundreds of MiB in many blocks (exporting and quantizing the
encoder: the graph, the fp32 and int8 protobufs, the session's copies), the process keeps
that memory resident although nothing uses it. ``malloc_trim(0)`` returns every free page
of every arena (glibc >= 2.8 also releases pages in the middle of the heap).

On other C libraries (musl, macOS) this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache
from typing import Optional


@lru_cache(maxsize=1)
def _glibc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return None
    return libc


def trim_heap() -> bool:
    """Collect Python garbage, then return free heap pages to the OS. True if it could
    (glibc), False where there is no ``malloc_trim``."""
    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True

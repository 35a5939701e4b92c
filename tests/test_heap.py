"""heap.trim_heap gives freed heap memory back to the OS (glibc)."""
import sys

import pytest

from layer_fusion.heap import trim_heap


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and needs glibc's malloc_trim")
def test_freed_blocks_below_a_live_one_go_back_to_the_os():
    # 2,000 blocks of 100 KiB (below malloc's mmap threshold: they live in the heap), each
    # written so its pages are resident; the last one stays alive, so free() alone cannot
    # shrink the heap from its top.
    blocks = [bytearray(b"x" * 100_000) for _ in range(2000)]
    keep = blocks[-1]
    del blocks
    before = _rss_mib()
    assert trim_heap() is True
    after = _rss_mib()
    assert before - after > 100, (before, after)
    assert keep[0] == ord("x")

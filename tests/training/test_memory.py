"""Returning freed memory to the OS: safe to call at any time, and it does return memory on Linux."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from berth._memory import _malloc_trim, release_freed_memory


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_release_is_safe_to_call_repeatedly() -> None:
    for _ in range(3):
        release_freed_memory()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or _malloc_trim() is None,
    reason="glibc's malloc_trim exists only on Linux with glibc (elsewhere release is a no-op)",
)
def test_release_returns_fragmented_heap_memory() -> None:
    # 64 KiB blocks sit in glibc's heap (below its mmap threshold); with every other one freed the
    # heap cannot shrink by itself, and malloc_trim hands the free pages back.
    blocks = [np.ones(8_192) for _ in range(4_000)]  # 256 MiB in all
    del blocks[::2]  # 128 MiB of holes
    before = _resident_bytes()
    release_freed_memory()
    after = _resident_bytes()
    del blocks
    assert before - after > 64 * 2**20

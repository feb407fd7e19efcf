"""Give memory that was freed back to the operating system (peak memory of large trainings).

Two allocators keep freed memory for reuse instead of returning it: Arrow's pool (mimalloc or
jemalloc) and glibc's heap, where the many mid-sized temporaries of a history build leave
fragments that later large arrays, allocated separately, never reuse. At 100k customers that is
about 0.6 GB still resident after the build. Dask's workers trim glibc the same way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from functools import cache

import pyarrow


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries and platforms."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_freed_memory() -> None:
    """Return freed memory held by Arrow's pool and glibc's heap to the OS (a no-op elsewhere)."""
    pyarrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

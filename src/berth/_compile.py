"""numba compilation for the feature kernels and the tree walks.

Compiled code is cached on disk (``__pycache__`` beside the module, or ``NUMBA_CACHE_DIR``, or the
user's cache directory) so a process loads it instead of compiling again. Where none of those is
writable — a read-only install in a container with a read-only root file system and no cache
directory set — numba refuses ``cache=True`` when the module is imported; Berth then compiles in
memory instead (a few seconds once per process, at model load) and says so in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

from berth._logging import get_logger

F = TypeVar("F", bound=Callable[..., Any])

log = get_logger(__name__)
_warned: list[bool] = []


def jit(**options: Any) -> Callable[[F], F]:
    """``numba.njit(cache=True, **options)``, or without the on-disk cache where it cannot be kept."""

    def decorate(function: F) -> F:
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError as exc:  # "cannot cache function ...: no locator available for file ..."
            if not _warned:
                _warned.append(True)
                log.warning("numba_cache_unavailable", reason=str(exc), hint="set NUMBA_CACHE_DIR")
            return numba.njit(cache=False, **options)(function)

    return decorate

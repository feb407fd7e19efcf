"""The second thread a large request shares its work with: one per process, started on first use.

The scanner (:mod:`berth.api.columnar`) and the scorer's compiled kernels release the GIL, so on
a two-core machine a large batch's two halves can run at once. Work handed to this thread never
waits on it, so requests that share it queue behind each other and cannot deadlock.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final

# Created with the module (no race between two first users); its thread starts on the first submit.
_HELPER: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-helper")


def helper() -> ThreadPoolExecutor:
    """The helper thread's executor."""
    return _HELPER

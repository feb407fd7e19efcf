"""berth._compile: numba's on-disk cache where it can be kept, in-memory compilation where not."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest

from berth import _compile


def test_compiles_without_the_disk_cache_when_numba_cannot_keep_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install with no writable cache directory must not fail at import."""
    calls: list[bool] = []
    real_njit = numba.njit

    def njit(*args: Any, cache: bool = False, **options: Any) -> Any:
        if args:  # numba's own use while compiling
            return real_njit(*args, cache=cache, **options)
        calls.append(cache)
        if cache:
            raise RuntimeError("cannot cache function 'twice': no locator available for file 'x.py'")
        return real_njit(cache=False, **options)

    monkeypatch.setattr(_compile.numba, "njit", njit)

    @_compile.jit(nogil=True)
    def twice(values: np.ndarray) -> np.ndarray:
        return values * 2.0

    assert calls == [True, False]
    np.testing.assert_array_equal(twice(np.array([1.0, 2.5])), [2.0, 5.0])


def test_keeps_the_disk_cache_where_it_can() -> None:
    @_compile.jit()
    def plus_one(value: float) -> float:
        return value + 1.0

    assert plus_one(1.0) == 2.0
    assert plus_one._cache.__class__.__name__ == "FunctionCache"  # not numba's NullCache

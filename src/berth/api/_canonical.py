"""The compiled half of :mod:`berth.api.hashing`: every customer's canonical input bytes in one pass.

Written in Python, the layout took ~20 buffer updates per customer and held the GIL for tens of
milliseconds on a 1,000-customer batch while the next request was being read. Here one call lays
out all customers' bytes in one buffer, without the GIL for a large batch (:func:`canonical`);
hashing each slice then releases it too (hashlib does for large buffers). For a few customers
:func:`canonical_holding_gil` keeps it: their layout takes microseconds, less than handing the GIL
to the event loop and waiting to get it back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berth._compile import jit


@jit(nogil=True)
def _put_i64(out: np.ndarray, at: int, value: int) -> int:
    for k in range(8):
        out[at + k] = (value >> (8 * k)) & 0xFF
    return at + 8


@jit(nogil=True)
def _put_texts(
    out: np.ndarray,
    at: int,
    lengths: np.ndarray,
    offsets: np.ndarray,
    data: np.ndarray,
    first: int,
    last: int,
) -> int:
    """Rows ``first:last`` of a text column: their lengths (int32 each), then their bytes."""
    size = 4 * (last - first)
    out[at : at + size] = lengths[4 * first : 4 * last]
    at += size
    size = offsets[last] - offsets[first]
    out[at : at + size] = data[offsets[first] : offsets[last]]
    return at + size


@jit(nogil=True)
def _text_size(offsets: np.ndarray, first: int, last: int) -> int:
    return 4 * (last - first) + offsets[last] - offsets[first]


@jit()
def _layout(
    prefix: np.ndarray,
    as_of: int,
    ship_bounds: np.ndarray,
    inter_bounds: np.ndarray,
    lengths: np.ndarray,
    offsets: np.ndarray,
    data: np.ndarray,
    profile_rows: np.ndarray,
    profile_text: np.ndarray,
    ship_fixed: np.ndarray,
    ship_text: np.ndarray,
    inter_fixed: np.ndarray,
    inter_text: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's bytes (the layout of :mod:`berth.api.hashing`) one after another, and bounds.

    Customer ``i`` is ``out[bounds[i]:bounds[i + 1]]``. Text: ``lengths`` are the int32 lengths as
    bytes (4 per row, -1 for null), ``offsets`` and ``data`` the Arrow buffers of all text rows;
    ``*_text`` hold each text column's first row, customer ids at row 0. Fixed-width columns are
    given as bytes, one row of the 2-D array per column (``profile_rows``: one row per customer).
    """
    n = ship_bounds.shape[0] - 1
    bounds = np.empty(n + 1, dtype=np.int64)
    bounds[0] = 0
    for i in range(n):
        s0, s1, i0, i1 = ship_bounds[i], ship_bounds[i + 1], inter_bounds[i], inter_bounds[i + 1]
        size = prefix.shape[0] + 24 + _text_size(offsets, i, i + 1) + profile_rows.shape[1]
        for base in profile_text:
            size += _text_size(offsets, base + i, base + i + 1)
        size += 8 * ship_fixed.shape[0] * (s1 - s0) + 8 * inter_fixed.shape[0] * (i1 - i0)
        for base in ship_text:
            size += _text_size(offsets, base + s0, base + s1)
        for base in inter_text:
            size += _text_size(offsets, base + i0, base + i1)
        bounds[i + 1] = bounds[i] + size
    out = np.empty(bounds[n], dtype=np.uint8)
    for i in range(n):
        s0, s1, i0, i1 = ship_bounds[i], ship_bounds[i + 1], inter_bounds[i], inter_bounds[i + 1]
        at = bounds[i]
        out[at : at + prefix.shape[0]] = prefix
        at += prefix.shape[0]
        at = _put_i64(out, at, as_of)
        at = _put_i64(out, at, s1 - s0)
        at = _put_i64(out, at, i1 - i0)
        at = _put_texts(out, at, lengths, offsets, data, i, i + 1)
        width = profile_rows.shape[1]
        out[at : at + width] = profile_rows[i]
        at += width
        for base in profile_text:
            at = _put_texts(out, at, lengths, offsets, data, base + i, base + i + 1)
        for fixed, text, first, last in ((ship_fixed, ship_text, s0, s1), (inter_fixed, inter_text, i0, i1)):
            for column in range(fixed.shape[0]):
                size = 8 * (last - first)
                out[at : at + size] = fixed[column, 8 * first : 8 * last]
                at += size
            for base in text:
                at = _put_texts(out, at, lengths, offsets, data, base + first, base + last)
    return out, bounds


# The two entry points: numba releases the GIL for a whole call or not at all. The arguments
# are _layout's.


@jit(nogil=True)
def canonical(*args: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_layout` without the GIL (for large batches)."""
    return _layout(*args)


@jit()
def canonical_holding_gil(*args: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_layout` holding the GIL (for a few customers)."""
    return _layout(*args)

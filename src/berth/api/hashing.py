"""The prediction log's input hash: SHA-256 of a customer's decoded inputs and ``as_of``.

The hash is taken over the decoded values, not over JSON text, so the same inputs give the same
hash however the client wrote them (key order, whitespace, ``10`` or ``10.0``, zoned or UTC
date-times, an explicit null or an absent field, a sentiment word or its number). It is computed
from a :class:`~berth.api.convert.DecodedBatch`'s columns, whichever way the body was decoded:
one compiled pass (:mod:`berth.api._canonical`) lays out every customer's bytes, then each is
hashed. Encoding every customer again as canonical JSON held the GIL for ~60 ms on a
1,000-customer batch.

Canonical bytes of one customer (integers and floats little-endian; a float is its IEEE bits)::

    b"berth-input-v2\\0"
    as_of (int64 days since 1970-01-01), shipment count, interaction count (int64)
    customer_id: length (int32), UTF-8 bytes
    profile: contract, loyalty_member (float64: 1.0 / 0.0), since (int64 days)
             account_manager, credit_rating, region, segment: each length (int32), UTF-8 bytes
    shipments, field by field over the customer's rows in request order:
             cost, damaged, delay_hours, revenue (float64), shipment_date (int64 days), volume (float64)
             cargo_type, channel, lane, shipment_id: each every row's length (int32), then their bytes
    interactions, likewise: resolved_at (int64 µs), score, sentiment (float64),
             timestamp (int64 µs), type (int64: its position in InteractionType)
             channel: every row's length, then their bytes

Missing values: NaN for numbers and yes/no fields, the int64 minimum for dates and date-times,
length -1 for text. ``-0.0`` is hashed as ``0.0``, and a sentiment word as the number the scorer
reads (+1 / 0 / -1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final, get_args

import numpy as np
import pyarrow

from berth import tables
from berth.api import _canonical
from berth.api.convert import DecodedBatch
from berth.api.schemas import InteractionType

PREFIX: Final = b"berth-input-v2\x00"
_PREFIX_BYTES: Final = np.frombuffer(PREFIX, dtype=np.uint8).copy()
_NOGIL_MIN_CUSTOMERS: Final = 8
_NAT: Final = np.iinfo(np.int64).min
_KIND_INDEX: Final = {kind: index for index, kind in enumerate(get_args(InteractionType))}

# (name, kind): f float64, D int64 days, us int64 microseconds, k interaction kind index
_PROFILE_FIXED = (("contract", "f"), ("loyalty_member", "f"), ("since", "D"))
_PROFILE_TEXT = ("account_manager", "credit_rating", "region", "segment")
_SHIPMENT_FIXED = (
    ("cost", "f"),
    ("damaged", "f"),
    ("delay_hours", "f"),
    ("revenue", "f"),
    (tables.SHIPMENT_DATE, "D"),
    ("volume", "f"),
)
_SHIPMENT_TEXT = ("cargo_type", "channel", "lane", "shipment_id")
_INTERACTION_FIXED = (
    ("resolved_at", "us"),
    ("score", "f"),
    ("sentiment", "f"),
    (tables.TIMESTAMP, "us"),
    (tables.INTERACTION_TYPE, "k"),
)
_INTERACTION_TEXT = ("channel",)


def _fixed(column: Any, kind: str, rows: int, kinds: np.ndarray | None) -> np.ndarray:
    """One fixed-width column as a contiguous 8-byte array (NaN / int64 minimum when absent)."""
    if kind == "k":
        if kinds is not None:
            return kinds
        return np.array([_KIND_INDEX[value] for value in column], dtype=np.int64)
    if column is None:
        return np.full(rows, np.nan) if kind == "f" else np.full(rows, _NAT, dtype=np.int64)
    if kind == "f":
        return np.asarray(column, dtype="<f8") + 0.0  # a copy, with -0.0 as 0.0
    return np.ascontiguousarray(np.asarray(column, dtype=f"datetime64[{kind}]").view("<i8"))


def _texts(columns: list[Any]) -> pyarrow.StringArray:
    """The columns (lists, object arrays or Arrow arrays) one after another as one Arrow array."""
    chunks: list[pyarrow.Array] = []
    pending: list[Any] = []
    for column in columns:
        if isinstance(column, pyarrow.Array):
            if pending:
                chunks.append(pyarrow.array(pending, type=pyarrow.string()))
                pending = []
            chunks.append(column.cast(pyarrow.string()))
        else:
            pending.extend(column)
    if pending or not chunks:
        chunks.append(pyarrow.array(pending, type=pyarrow.string()))
    return chunks[0] if len(chunks) == 1 else pyarrow.concat_arrays(chunks)


TextRows = dict[tuple[str, str], int]  # (table, column) -> the column's first row in the text array


def _text_rows(
    batch: DecodedBatch, rows: Mapping[str, int]
) -> tuple[pyarrow.StringArray, Mapping[tuple[str, str], int]]:
    """Every text value in one array and where each column starts (the batch's own if it has one)."""
    if batch.text is not None:
        return batch.text, batch.text_rows
    columns: list[Any] = [batch.customer_ids]
    starts: TextRows = {}
    at = len(batch.customer_ids)
    for table, names in (
        (tables.CUSTOMERS, _PROFILE_TEXT),
        (tables.SHIPMENTS, _SHIPMENT_TEXT),
        (tables.INTERACTIONS, _INTERACTION_TEXT),
    ):
        source = batch.columns.get(table, {})
        for name in names:
            column = source.get(name)
            columns.append([None] * rows[table] if column is None else column)
            starts[(table, name)] = at
            at += rows[table]
    return _texts(columns), starts


def _column_bytes(columns: list[np.ndarray]) -> np.ndarray:
    """8-byte columns as one C-contiguous byte array, one row per column (rows may be 0)."""
    if not columns:
        return np.empty((0, 0), dtype=np.uint8)
    return np.vstack([column.view("<i8") for column in columns]).view(np.uint8)


def input_hashes(batch: DecodedBatch) -> list[str]:
    """Hex SHA-256 of each customer's canonical input bytes (module doc), in request order."""
    n = len(batch.customer_ids)
    # a few customers' bytes take microseconds: handing the GIL over and back would cost more
    layout = _canonical.canonical if n > _NOGIL_MIN_CUSTOMERS else _canonical.canonical_holding_gil
    buffer, bounds = layout(*_layout_arguments(batch))
    view = buffer.data
    at = bounds.tolist()
    return [hashlib.sha256(view[at[i] : at[i + 1]]).hexdigest() for i in range(n)]


def warm_up(batch: DecodedBatch) -> None:
    """Compile both layout entry points (or load them from numba's cache) before the first request."""
    arguments = _layout_arguments(batch)
    _canonical.canonical(*arguments)
    _canonical.canonical_holding_gil(*arguments)


def _layout_arguments(batch: DecodedBatch) -> tuple[Any, ...]:
    """The arguments of :func:`berth.api._canonical._layout` for the batch."""
    n = len(batch.customer_ids)
    ship_starts, inter_starts = batch.shipment_starts, batch.interaction_starts
    rows = {
        tables.CUSTOMERS: n,
        tables.SHIPMENTS: int(ship_starts[-1]),
        tables.INTERACTIONS: int(inter_starts[-1]),
    }
    text, text_at = _text_rows(batch, rows)
    if text.offset or text.type != pyarrow.string():
        text = pyarrow.concat_arrays([text.cast(pyarrow.string())])  # int32 offsets from 0
    validity_buffer, offsets_buffer, data_buffer = text.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[: len(text) + 1]
    lengths = np.diff(offsets).astype("<i4")
    if text.null_count:
        bits = np.unpackbits(np.frombuffer(validity_buffer, dtype=np.uint8), bitorder="little")
        lengths[bits[: len(text)] == 0] = -1
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)

    columns = batch.columns
    profile = columns.get(tables.CUSTOMERS, {})
    profile_fixed = [_fixed(profile.get(name), kind, n, None).view(np.int64) for name, kind in _PROFILE_FIXED]
    fixed: list[np.ndarray] = []
    for table, names in ((tables.SHIPMENTS, _SHIPMENT_FIXED), (tables.INTERACTIONS, _INTERACTION_FIXED)):
        source = columns.get(table, {})
        kinds = batch.interaction_kinds if table == tables.INTERACTIONS else None
        fixed.append(
            _column_bytes([_fixed(source.get(name), kind, rows[table], kinds) for name, kind in names])
        )
    return (
        _PREFIX_BYTES,
        batch.as_of.toordinal() - 719_163,  # days since 1970-01-01
        np.ascontiguousarray(ship_starts, dtype=np.int64),
        np.ascontiguousarray(inter_starts, dtype=np.int64),
        lengths.view(np.uint8),
        offsets.astype(np.int64),
        data,
        np.ascontiguousarray(np.column_stack(profile_fixed).astype("<i8")).view(np.uint8),
        np.array([text_at[(tables.CUSTOMERS, name)] for name in _PROFILE_TEXT], dtype=np.int64),
        fixed[0],
        np.array([text_at[(tables.SHIPMENTS, name)] for name in _SHIPMENT_TEXT], dtype=np.int64),
        fixed[1],
        np.array([text_at[(tables.INTERACTIONS, name)] for name in _INTERACTION_TEXT], dtype=np.int64),
    )

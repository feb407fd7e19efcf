"""A scoring request decoded straight from its JSON bytes into columns (no object per record).

For a 1,000-customer batch (27 MB, 1.4 M values), building one msgspec struct per shipment and
interaction and then reading every field back out into columns was most of the request's time:
every value passed through a Python object twice. :func:`decode_columns` runs the compiled scanner
(:mod:`berth.api._scan`) over the bytes, which writes each value into its column directly and
checks the contract's types and ranges on the way; text columns become Arrow string arrays built
from the scanner's byte spans. A large body is scanned by two threads, split at a customer near
its middle (:func:`_scan_rows`); the scanner releases the GIL.

The scanner only recognises the plain valid form of a request. For anything else it declines
(``None`` here) and the caller decodes the body the ordinary way (msgspec, then pydantic to word
the errors), which serves what the contract allows in other spellings and refuses the rest at its
field path. Both ways give the same :class:`~berth.api.convert.DecodedBatch`, value for value
(``tests/api/test_columnar.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Final, get_args

import numpy as np
import pyarrow

from berth import tables
from berth.api import _scan, hashing
from berth.api.convert import Columns, DecodedBatch
from berth.api.schemas import MAX_DATE, MAX_DATETIME, MIN_DATE, MIN_DATETIME, InteractionType
from berth.api.threads import helper
from berth.features._history import FACTORIZE_MIN_VALUES

_EPOCH = date(1970, 1, 1)
_EPOCH_DT = datetime(1970, 1, 1)
_KIND_WORDS: Final = get_args(InteractionType)
_KINDS, _KINDS_AT = _scan.word_table(_KIND_WORDS)
_KIND_OBJECTS: Final = np.array(_KIND_WORDS, dtype=object)
_FLAG_OBJECTS: Final = np.array([False, True, None], dtype=object)  # by code: 0.0, 1.0, NaN
_LIMITS: Final = np.array(
    [
        (MIN_DATE - _EPOCH).days,
        (MAX_DATE - _EPOCH).days,
        (MIN_DATETIME - _EPOCH_DT) // timedelta(microseconds=1),
        (MAX_DATETIME - _EPOCH_DT) // timedelta(microseconds=1),
    ],
    dtype=np.int64,
)

# A body this large is scanned by two threads, split at a customer near its middle (the scanner
# releases the GIL); below it, the thread hand-off is not worth it.
SPLIT_MIN_BYTES: Final = 1 << 20
_CUSTOMER_START: Final = re.compile(rb'\{[ \t\n\r]*"customer_id"[ \t\n\r]*:')

# The smallest records the scanner can meet bound the rows a body of n bytes can hold.
MIN_CUSTOMER_BYTES: Final = 60  # {"customer_id":"x","shipments":[{"shipment_date":"2025-01-01"}]}: 62
_MIN_SHIPMENT_BYTES: Final = 30  # {"shipment_date":"2025-01-01"}
_MIN_INTERACTION_BYTES: Final = 49  # {"timestamp":"2025-01-01T00:00:00","type":"call"}


# Every text value of a request in one Arrow array: one gather and one array, whatever the size
# (a per-column array cost more than the whole scan for a one-customer request).
_PROFILE_TEXT_COLUMNS: Final = tuple((tables.CUSTOMERS, name) for name in _scan.PROFILE_TEXTS)
_SHIPMENT_TEXT_COLUMNS: Final = tuple((tables.SHIPMENTS, name) for name in _scan.SHIPMENT_TEXTS)


def _text(raw: np.ndarray, rows: _Rows) -> pyarrow.StringArray:
    """An Arrow string array of every text span of ``rows``, column after column."""
    offsets, valid, data, nulls = _scan.text_array(
        raw, rows.customer_spans, rows.shipment_spans, rows.interaction_spans
    )
    validity = pyarrow.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pyarrow.StringArray.from_buffers(
        len(valid), pyarrow.py_buffer(offsets), pyarrow.py_buffer(data), validity, nulls
    )


@dataclass(frozen=True)
class _Rows:
    """The scanner's output arrays for one stretch of a body, cut to the rows it filled."""

    customer_spans: np.ndarray
    customer_flags: np.ndarray
    customer_since: np.ndarray
    shipment_starts: np.ndarray  # customers + 1 bounds
    interaction_starts: np.ndarray
    shipment_dates: np.ndarray
    shipment_floats: np.ndarray
    shipment_spans: np.ndarray
    interaction_times: np.ndarray
    interaction_floats: np.ndarray
    interaction_types: np.ndarray
    interaction_spans: np.ndarray


def _scan_stretch(data: np.ndarray, start: int, stop: int) -> tuple[int, int, _Rows]:
    """(status, as_of day, rows) of ``data[start:]`` (see :func:`berth.api._scan.scan`)."""
    size = data.shape[0] - start  # with a stop too: a scan that misses it reads on to the end
    n_customers = size // MIN_CUSTOMER_BYTES + 1
    n_shipments = size // _MIN_SHIPMENT_BYTES + 1
    n_interactions = size // _MIN_INTERACTION_BYTES + 1
    # np.empty maps pages lazily: only the rows the body fills are ever touched.
    arrays = _Rows(
        customer_spans=np.empty((n_customers, 10), dtype=np.int64),
        customer_flags=np.empty((n_customers, 2), dtype=np.float64, order="F"),
        customer_since=np.empty(n_customers, dtype=np.int64),
        shipment_starts=np.empty(n_customers + 1, dtype=np.int64),
        interaction_starts=np.empty(n_customers + 1, dtype=np.int64),
        shipment_dates=np.empty(n_shipments, dtype=np.int64),
        shipment_floats=np.empty((n_shipments, 5), dtype=np.float64, order="F"),
        shipment_spans=np.empty((n_shipments, 8), dtype=np.int64),
        interaction_times=np.empty((n_interactions, 2), dtype=np.int64, order="F"),
        interaction_floats=np.empty((n_interactions, 2), dtype=np.float64, order="F"),
        interaction_types=np.empty(n_interactions, dtype=np.int8),
        interaction_spans=np.empty((n_interactions, 2), dtype=np.int64),
    )
    status, as_of_day, customers, ships, inters = _scan.scan(
        data,
        start,
        stop,
        _LIMITS,
        tuple(getattr(arrays, name) for name in _scan.OUTPUTS),
        _KINDS,
        _KINDS_AT,
        _scan.new_follow(),
    )
    arrays.shipment_starts[customers] = ships  # closes the row bounds (a paused scan's too)
    arrays.interaction_starts[customers] = inters
    c, r, i = customers, ships, inters
    return (
        status,
        as_of_day,
        _Rows(
            customer_spans=arrays.customer_spans[:c],
            customer_flags=arrays.customer_flags[:c],
            customer_since=arrays.customer_since[:c],
            shipment_starts=arrays.shipment_starts[: c + 1],
            interaction_starts=arrays.interaction_starts[: c + 1],
            shipment_dates=arrays.shipment_dates[:r],
            shipment_floats=arrays.shipment_floats[:r],
            shipment_spans=arrays.shipment_spans[:r],
            interaction_times=arrays.interaction_times[:i],
            interaction_floats=arrays.interaction_floats[:i],
            interaction_types=arrays.interaction_types[:i],
            interaction_spans=arrays.interaction_spans[:i],
        ),
    )


_ROW_FIELDS: Final = tuple(f.name for f in fields(_Rows))


def _join(first: _Rows, second: _Rows) -> _Rows:
    """The rows of two stretches scanned apart, as one scan of the whole would have given them."""
    joined = {}
    for name in _ROW_FIELDS:
        a, b = getattr(first, name), getattr(second, name)
        if name.endswith("_starts"):  # the second's bounds continue after the first's rows
            joined[name] = np.concatenate([a[:-1], b + a[-1]])
        else:  # column-major arrays stay so: each column contiguous, as the scanner wrote them
            out = np.empty(
                (len(a) + len(b), *a.shape[1:]), a.dtype, order="F" if a.strides[0] == a.itemsize else "C"
            )
            joined[name] = np.concatenate([a, b], out=out)
    return _Rows(**joined)


def _split_point(raw: bytes) -> int:
    """Where a customer object seems to start in the body's second half (0: none found).

    Only a guess: the scanner of the first half must reach it as a customer's start, or it says
    :data:`~berth.api._scan.MISSED` and the body is scanned in one piece.
    """
    found = _CUSTOMER_START.search(raw, len(raw) // 2)
    return found.start() if found is not None else 0


def _scan_rows(raw: bytes, data: np.ndarray) -> tuple[int, _Rows] | None:
    """(as_of day, rows) of the whole body, on two threads when it is large; None when declined."""
    stop = _split_point(raw) if len(raw) >= SPLIT_MIN_BYTES else 0
    if stop:
        second = helper().submit(_scan_stretch, data, stop, 0)
        status, day, first = _scan_stretch(data, 0, stop)
        status_2, day_2, rest = second.result()
        if status == _scan.PAUSED:
            if status_2 != _scan.OK or (day == _scan.NO_DAY) == (day_2 == _scan.NO_DAY):
                return None  # declined past the split, or as_of missing or given twice
            return (day if day != _scan.NO_DAY else day_2), _join(first, rest)
        if status == _scan.OK:  # the customer list ended before the split: the first scan read it all
            return day, first
        if status != _scan.MISSED:
            return None
    status, day, rows = _scan_stretch(data, 0, 0)
    return (day, rows) if status == _scan.OK else None


def _repeated_ids(ids: list[str], id_text: pyarrow.StringArray, rows: _Rows) -> tuple[Any, Any]:
    """The shipments' and interactions' customer-id columns: each id once per row of its customer.

    Arrow arrays for long columns (the history build hashes their bytes instead of one Python
    object per row), object arrays for short ones (it reads those with a dict, faster than Arrow's
    per-call cost).
    """
    columns = []
    for starts in (rows.shipment_starts, rows.interaction_starts):
        counts = np.diff(starts)
        if starts[-1] >= FACTORIZE_MIN_VALUES:  # where the history build turns to Arrow
            columns.append(id_text.take(np.repeat(np.arange(len(ids), dtype=np.int32), counts)))
        else:
            columns.append(np.repeat(np.array(ids, dtype=object), counts))
    return columns[0], columns[1]


def decode_columns(raw: bytes) -> DecodedBatch | None:
    """The request in ``raw`` as columns, or None when it is not in the plain valid form."""
    if len(raw) < MIN_CUSTOMER_BYTES:
        return None
    data = np.frombuffer(raw, dtype=np.uint8)
    scanned = _scan_rows(raw, data)
    if scanned is None:
        return None
    as_of_day, rows = scanned
    customers, ships, inters = (
        len(rows.customer_spans),
        len(rows.shipment_spans),
        len(rows.interaction_spans),
    )
    # text rows: ids, the profile's texts, the shipments' texts, the interactions' channel
    text = _text(data, rows)
    text_rows: dict[tuple[str, str], int] = {}
    at = customers
    for key in _PROFILE_TEXT_COLUMNS:
        text_rows[key] = at
        at += customers
    for key in _SHIPMENT_TEXT_COLUMNS:
        text_rows[key] = at
        at += ships
    text_rows[(tables.INTERACTIONS, "channel")] = at
    # ids and the profile's texts lead the array: one conversion to Python strings for all five
    leading = text.slice(0, customers * (1 + len(_PROFILE_TEXT_COLUMNS))).to_pylist()
    ids = leading[:customers]
    ship_ids, inter_ids = _repeated_ids(ids, text.slice(0, customers), rows)
    shipments: Columns = {
        tables.CUSTOMER_ID: ship_ids,
        tables.SHIPMENT_DATE: rows.shipment_dates.view("datetime64[D]"),
        **{name: rows.shipment_floats[:, k] for k, name in enumerate(_scan.SHIPMENT_FLOATS)},
        **{name: text.slice(text_rows[(tables.SHIPMENTS, name)], ships) for name in _scan.SHIPMENT_TEXTS},
    }
    times = rows.interaction_times
    interactions: Columns = {
        tables.CUSTOMER_ID: inter_ids,
        tables.TIMESTAMP: times[:, 0].view("datetime64[us]"),
        tables.INTERACTION_TYPE: _KIND_OBJECTS[rows.interaction_types],
        "score": rows.interaction_floats[:, 0],
        "resolved_at": times[:, 1].view("datetime64[us]"),
        "sentiment": rows.interaction_floats[:, 1],
        "channel": text.slice(text_rows[(tables.INTERACTIONS, "channel")], inters),
    }
    flags = rows.customer_flags
    profile: Columns = {
        tables.CUSTOMER_ID: ids,
        **{
            name: leading[
                text_rows[(tables.CUSTOMERS, name)] : text_rows[(tables.CUSTOMERS, name)] + customers
            ]
            for name in _scan.PROFILE_TEXTS
        },
        "since": rows.customer_since.view("datetime64[D]"),
        "contract": _FLAG_OBJECTS[np.where(np.isnan(flags[:, 0]), 2, flags[:, 0]).astype(np.int64)],
        "loyalty_member": _FLAG_OBJECTS[np.where(np.isnan(flags[:, 1]), 2, flags[:, 1]).astype(np.int64)],
    }
    return DecodedBatch(
        as_of=_EPOCH + timedelta(days=int(as_of_day)),
        customer_ids=ids,
        columns={tables.SHIPMENTS: shipments, tables.INTERACTIONS: interactions, tables.CUSTOMERS: profile},
        shipment_starts=rows.shipment_starts,
        interaction_starts=rows.interaction_starts,
        raw=raw,
        text=text,
        text_rows=text_rows,
        interaction_kinds=rows.interaction_types.astype(np.int64),
    )


def warm_up() -> None:
    """Compile the scanner and the input hash's layout (or load them from numba's cache) before the
    first request."""
    batch = decode_columns(
        b'{"as_of":"2025-01-02","customers":[{"customer_id":"c","shipments":[{"shipment_date":"2025-01-01",'
        b'"volume":1.5,"damaged":false,"lane":"x"}],"interactions":[{"timestamp":"2025-01-01T00:00:00Z",'
        b'"type":"call","resolved_at":null,"sentiment":"neutral","score":1}],"profile":{"since":"2020-01-01",'
        b'"contract":true,"segment":"s"}}]}'
    )
    assert batch is not None  # the body above is in the plain valid form
    hashing.warm_up(batch)

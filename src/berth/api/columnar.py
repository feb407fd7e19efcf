"""A scoring request decoded straight from its JSON bytes into columns (no object per record).

For a 1,000-customer batch (27 MB, 1.4 M values), building one msgspec struct per shipment and
interaction and then reading every field back out into columns was most of the request's time:
every value passed through a Python object twice. :func:`decode_columns` runs the compiled scanner
(:mod:`berth.api._scan`) over the bytes, which writes each value into its column directly and
checks the contract's types and ranges on the way; text columns become Arrow string arrays built
from the scanner's byte spans.

The scanner only recognises the plain valid form of a request. For anything else it declines
(``None`` here) and the caller decodes the body the ordinary way (msgspec, then pydantic to word
the errors), which serves what the contract allows in other spellings and refuses the rest at its
field path. Both ways give the same :class:`~berth.api.convert.DecodedBatch`, value for value
(``tests/api/test_columnar.py``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final, get_args

import numpy as np
import pyarrow

from berth import tables
from berth.api import _scan
from berth.api.convert import Columns, DecodedBatch
from berth.api.schemas import MAX_DATE, MAX_DATETIME, MIN_DATE, MIN_DATETIME, InteractionType

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

# The smallest records the scanner can meet bound the rows a body of n bytes can hold.
MIN_CUSTOMER_BYTES: Final = 60  # {"customer_id":"x","shipments":[{"shipment_date":"2025-01-01"}]}: 62
_MIN_SHIPMENT_BYTES: Final = 30  # {"shipment_date":"2025-01-01"}
_MIN_INTERACTION_BYTES: Final = 49  # {"timestamp":"2025-01-01T00:00:00","type":"call"}


# Every text value of a request in one Arrow array: one gather and one array, whatever the size
# (a per-column array cost more than the whole scan for a one-customer request).
_PROFILE_TEXT_COLUMNS: Final = tuple((tables.CUSTOMERS, name) for name in _scan.PROFILE_TEXTS)
_SHIPMENT_TEXT_COLUMNS: Final = tuple((tables.SHIPMENTS, name) for name in _scan.SHIPMENT_TEXTS)


def _text(raw: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pyarrow.StringArray:
    """An Arrow string array of the byte spans ``raw[starts[r]:ends[r]]`` (start -1: null)."""
    valid = starts >= 0
    offsets = np.zeros(starts.shape[0] + 1, dtype=np.int32)  # bodies are far below 2 GiB
    np.cumsum(np.where(valid, ends - starts, 0), out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    _scan.gather(raw, starts, offsets, data)
    nulls = int(valid.shape[0] - np.count_nonzero(valid))
    validity = pyarrow.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pyarrow.StringArray.from_buffers(
        len(starts), pyarrow.py_buffer(offsets), pyarrow.py_buffer(data), validity, nulls
    )


def decode_columns(raw: bytes) -> DecodedBatch | None:
    """The request in ``raw`` as columns, or None when it is not in the plain valid form."""
    size = len(raw)
    if size < MIN_CUSTOMER_BYTES:
        return None
    data = np.frombuffer(raw, dtype=np.uint8)
    n_customers = size // MIN_CUSTOMER_BYTES + 1
    n_shipments = size // _MIN_SHIPMENT_BYTES + 1
    n_interactions = size // _MIN_INTERACTION_BYTES + 1
    # np.empty maps pages lazily: only the rows the body fills are ever touched.
    customer_spans = np.empty((n_customers, 10), dtype=np.int64)
    customer_flags = np.empty((n_customers, 2), dtype=np.float64, order="F")
    customer_since = np.empty(n_customers, dtype=np.int64)
    shipment_starts = np.empty(n_customers + 1, dtype=np.int64)
    interaction_starts = np.empty(n_customers + 1, dtype=np.int64)
    shipment_dates = np.empty(n_shipments, dtype=np.int64)
    shipment_floats = np.empty((n_shipments, 5), dtype=np.float64, order="F")
    shipment_spans = np.empty((n_shipments, 8), dtype=np.int64)
    interaction_times = np.empty((n_interactions, 2), dtype=np.int64, order="F")
    interaction_floats = np.empty((n_interactions, 2), dtype=np.float64, order="F")
    interaction_types = np.empty(n_interactions, dtype=np.int8)
    interaction_spans = np.empty((n_interactions, 2), dtype=np.int64)
    status, as_of_day, customers, ships, inters = _scan.scan(
        data,
        _LIMITS,
        customer_spans,
        customer_flags,
        customer_since,
        shipment_starts,
        interaction_starts,
        shipment_dates,
        shipment_floats,
        shipment_spans,
        interaction_times,
        interaction_floats,
        interaction_types,
        interaction_spans,
        _KINDS,
        _KINDS_AT,
        _scan.new_follow(),
    )
    if status != _scan.OK:
        return None
    # text rows: ids, the profile's texts, the shipments' texts, the interactions' channel
    span_columns = [customer_spans[:customers, k] for k in range(10)]
    span_columns += [shipment_spans[:ships, k] for k in range(8)]
    span_columns += [interaction_spans[:inters, 0], interaction_spans[:inters, 1]]
    text = _text(data, np.concatenate(span_columns[0::2]), np.concatenate(span_columns[1::2]))
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
    id_array = np.array(ids, dtype=object)
    ship_starts = shipment_starts[: customers + 1].copy()
    inter_starts = interaction_starts[: customers + 1].copy()
    floats = shipment_floats[:ships]
    shipments: Columns = {
        tables.CUSTOMER_ID: np.repeat(id_array, np.diff(ship_starts)),
        tables.SHIPMENT_DATE: shipment_dates[:ships].view("datetime64[D]"),
        **{name: floats[:, k] for k, name in enumerate(_scan.SHIPMENT_FLOATS)},
        **{name: text.slice(text_rows[(tables.SHIPMENTS, name)], ships) for name in _scan.SHIPMENT_TEXTS},
    }
    times = interaction_times[:inters]
    interactions: Columns = {
        tables.CUSTOMER_ID: np.repeat(id_array, np.diff(inter_starts)),
        tables.TIMESTAMP: times[:, 0].view("datetime64[us]"),
        tables.INTERACTION_TYPE: _KIND_OBJECTS[interaction_types[:inters]],
        "score": interaction_floats[:inters, 0],
        "resolved_at": times[:, 1].view("datetime64[us]"),
        "sentiment": interaction_floats[:inters, 1],
        "channel": text.slice(text_rows[(tables.INTERACTIONS, "channel")], inters),
    }
    flags = customer_flags[:customers]
    profile: Columns = {
        tables.CUSTOMER_ID: ids,
        **{
            name: leading[
                text_rows[(tables.CUSTOMERS, name)] : text_rows[(tables.CUSTOMERS, name)] + customers
            ]
            for name in _scan.PROFILE_TEXTS
        },
        "since": customer_since[:customers].view("datetime64[D]"),
        "contract": _FLAG_OBJECTS[np.where(np.isnan(flags[:, 0]), 2, flags[:, 0]).astype(np.int64)],
        "loyalty_member": _FLAG_OBJECTS[np.where(np.isnan(flags[:, 1]), 2, flags[:, 1]).astype(np.int64)],
    }
    return DecodedBatch(
        as_of=_EPOCH + timedelta(days=int(as_of_day)),
        customer_ids=ids,
        columns={tables.SHIPMENTS: shipments, tables.INTERACTIONS: interactions, tables.CUSTOMERS: profile},
        shipment_starts=ship_starts,
        interaction_starts=inter_starts,
        raw=raw,
        text=text,
        text_rows=text_rows,
        interaction_kinds=interaction_types[:inters].astype(np.int64),
    )


def warm_up() -> None:
    """Compile the scanner (or load it from numba's cache) before the first request."""
    decode_columns(
        b'{"as_of":"2025-01-02","customers":[{"customer_id":"c","shipments":[{"shipment_date":"2025-01-01",'
        b'"volume":1.5,"damaged":false,"lane":"x"}],"interactions":[{"timestamp":"2025-01-01T00:00:00Z",'
        b'"type":"call","resolved_at":null,"sentiment":"neutral","score":1}],"profile":{"since":"2020-01-01",'
        b'"contract":true,"segment":"s"}}]}'
    )

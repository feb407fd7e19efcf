"""The columnar decoder accepts nothing the contract refuses and decodes every value as msgspec does.

For every body: :func:`decode_columns` either declines (``None``: the body then takes the
ordinary msgspec / pydantic path) or returns exactly the batch the ordinary path builds: the same
``as_of``, customers, row bounds, every column's values and every input hash. A body the contract
refuses must be declined. Bodies come from the field pools of ``test_wire`` (boundaries, wrong
types, zones, lengths, unknown fields) in three JSON layouts, and from random byte edits of a
valid body.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import numpy as np
import pyarrow
import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from berth.api import columnar
from berth.api.body import decode_batch, decode_score_request
from berth.api.columnar import decode_columns
from berth.api.convert import DecodedBatch, batch_issues
from berth.api.hashing import input_hashes

from .payloads import AS_OF, batch, customer
from .test_wire import BODY


def _plain(column: Any) -> list[Any]:
    if isinstance(column, pyarrow.Array):
        return column.to_pylist()
    return list(column)


def assert_same_batch(fast: DecodedBatch, slow: DecodedBatch) -> None:
    """Every value of the two batches is the same (text compared as Python strings)."""
    assert fast.as_of == slow.as_of
    assert fast.customer_ids == slow.customer_ids
    np.testing.assert_array_equal(fast.shipment_starts, slow.shipment_starts)
    np.testing.assert_array_equal(fast.interaction_starts, slow.interaction_starts)
    assert set(fast.columns) == set(slow.columns)
    for table, columns in slow.columns.items():
        assert set(fast.columns[table]) == set(columns), table
        for name, expected in columns.items():
            got = fast.columns[table][name]
            if isinstance(expected, np.ndarray) and expected.dtype.kind in "fM":
                assert isinstance(got, np.ndarray), (table, name)
                assert got.dtype == expected.dtype, (table, name)
                # bit for bit: -0.0 stays -0.0, every NaN is the same NaN
                assert got.tobytes() == expected.tobytes(), (table, name)
            else:
                assert _plain(got) == _plain(expected), (table, name)
    assert input_hashes(fast) == input_hashes(slow)


def _ordinary(raw: bytes) -> DecodedBatch | None:
    try:
        return DecodedBatch.from_request(decode_score_request(raw, limit=1_000))
    except RequestValidationError:
        return None


def decode_split_at(raw: bytes, stop: int) -> DecodedBatch | None:
    """``decode_columns`` with the body split between two threads at byte ``stop``, whatever its size."""
    with (
        mock.patch.object(columnar, "SPLIT_MIN_BYTES", 0),
        mock.patch.object(columnar, "_split_point", return_value=stop),
    ):
        return decode_columns(raw)


def split_points(raw: bytes) -> list[int]:
    """Where the two-thread scan may split: every customer start it would find, and two other
    ``{`` (a record's, the body's), which the first thread must refuse to stop at."""
    starts = [found.start() for found in columnar._CUSTOMER_START.finditer(raw)]
    braces = [i for i, byte in enumerate(raw) if byte == ord("{") and i not in starts]
    return starts[:4] + braces[:1] + braces[-1:]


def check(raw: bytes) -> DecodedBatch | None:
    """The property of the module doc for one body; the columnar batch, if any.

    Split between two threads at any point, the body is accepted or declined as in one piece,
    with the same values.
    """
    fast = decode_columns(raw)
    slow = _ordinary(raw)
    if slow is None:
        assert fast is None, f"the columnar decoder accepted a body the contract refuses: {raw[:300]!r}"
    elif fast is not None:
        assert_same_batch(fast, slow)
    for stop in split_points(raw):
        split = decode_split_at(raw, stop)
        assert (split is None) == (fast is None), (stop, raw[:300])
        if split is not None and slow is not None:
            assert_same_batch(split, slow)
    return fast


LAYOUTS = (
    {},
    {"separators": (",", ":")},
    {"indent": 1, "ensure_ascii": False},
)


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY, st.sampled_from(LAYOUTS))
def test_accepts_nothing_the_contract_refuses_and_keeps_every_value(
    body: dict[str, Any], layout: dict[str, Any]
) -> None:
    check(json.dumps(body, **layout).encode())


def _valid_body() -> bytes:
    body = batch(2)
    body["customers"][0]["interactions"].append(
        {"timestamp": "2025-06-20T23:30:00.5-04:30", "type": "meeting", "channel": "在线", "sentiment": 0.25}
    )
    body["customers"][1]["profile"] = {"segment": "货代", "contract": None, "since": "2019-02-28"}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


VALID = _valid_body()
BYTES = [b'"', b"\\", b",", b":", b"{", b"}", b"[", b"]", b" ", b"0", b"9", b"-", b".", b"e", b"n", b"\x7f"]
BYTES += [b"\xc3", b"\xa9", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\n", b"Z", b"+", b"T"]


@settings(max_examples=1_500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(VALID) - 1),
            st.sampled_from(["replace", "insert", "delete"]),
            st.sampled_from(BYTES),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_random_byte_edits_are_declined_or_decoded_exactly(edits: list[tuple[int, str, bytes]]) -> None:
    raw = VALID
    for position, how, value in edits:
        at = min(position, len(raw) - 1)
        if how == "replace":
            raw = raw[:at] + value + raw[at + 1 :]
        elif how == "insert":
            raw = raw[:at] + value + raw[at:]
        else:
            raw = raw[:at] + raw[at + 1 :]
    check(raw)


def test_the_usual_bodies_take_the_columnar_path() -> None:
    assert check(VALID) is not None
    for layout in LAYOUTS:
        assert check(json.dumps(batch(5), **layout).encode()) is not None


def _with(**edits: Any) -> bytes:
    body = {"as_of": AS_OF.isoformat(), "customers": [customer("C-1")]}
    one = body["customers"][0]
    for path, value in edits.items():
        node: Any = one
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return json.dumps(body, ensure_ascii=False).encode()


# Valid bodies the scanner leaves to msgspec (the ordinary path serves them, with equal values).
DECLINED_BUT_VALID = {
    "an escape in a string": _with(**{"shipments.0.lane": "CN\\u0053HA"}).replace(b"\\\\u", b"\\u"),
    "17 significant digits": _with(**{"shipments.0.volume": 0.30000000000000004}),
    "a power of ten beyond 1e22": _with(**{"shipments.0.volume": 1e300}),
    "seven fraction digits": _with(**{"interactions.0.timestamp": "2025-06-01T10:00:00.1234567"}),
    "no seconds": _with(**{"interactions.0.timestamp": "2025-06-01T10:00"}),
    "a duplicate key (the last one counts)": _with().replace(
        b'"volume": 10.0', b'"volume": 10.0, "volume": 11.0', 1
    ),
    "text in the ASCII escapes of json.dumps": json.dumps(
        {"as_of": AS_OF.isoformat(), "customers": [customer("C-é")]}
    ).encode(),
}
# Bodies the contract refuses: declined, and a 422 from the ordinary path.
REFUSED = {
    "an unknown field": _with(**{"shipments.0.colour": "red"}),
    "a negative volume": _with(**{"shipments.0.volume": -1}),
    "an NPS above 10": _with(**{"interactions.1.score": 11}),
    "129 code points": _with(**{"shipments.0.lane": "é" * 129}),
    "DEL in a customer id": _with(customer_id="C\x7f1"),
    "an empty customer id": _with(customer_id=""),
    "no shipments": _with(shipments=[]),
    "null interactions": _with(interactions=None),
    "a wrong type": _with(**{"interactions.0.type": "fax"}),
    "a sentiment word in capitals": _with(**{"interactions.0.sentiment": "Positive"}),
    "a number as text": _with(**{"shipments.0.volume": "1.5"}),
    "true as a number": _with(**{"shipments.0.volume": True}),
    "1 as a flag": _with(**{"shipments.0.damaged": 1}),
    "February 30": _with(**{"shipments.0.shipment_date": "2025-02-30"}),
    "a date before 1900": _with(**{"profile.since": "1899-12-31"}),
    "a date-time after 2199 once in UTC": _with(**{"interactions.0.timestamp": "2199-12-31T02:00:00-03:00"}),
    "hour 24": _with(**{"interactions.0.timestamp": "2025-06-01T24:00:00"}),
    "an offset of 24 hours": _with(**{"interactions.0.timestamp": "2025-06-01T10:00:00+24:00"}),
    "trailing bytes": _with() + b" x",
    "a missing comma": _with().replace(b'"volume": 10.0,', b'"volume": 10.0', 1),
    "a number with a leading zero": _with().replace(b'"volume": 10.0', b'"volume": 010.0', 1),
    "a bare minus": _with().replace(b'"volume": 10.0', b'"volume": -', 1),
    "invalid UTF-8": _with(**{"shipments.0.lane": "ab"}).replace(b'"ab"', b'"a\xffb"'),
    "a lone surrogate in UTF-8": _with(**{"shipments.0.lane": "ab"}).replace(b'"ab"', b'"a\xed\xa0\x80b"'),
}


@pytest.mark.parametrize("name", sorted(DECLINED_BUT_VALID))
def test_valid_spellings_the_scanner_leaves_to_msgspec(name: str) -> None:
    raw = DECLINED_BUT_VALID[name]
    assert decode_columns(raw) is None
    assert_same_batch(decode_batch(raw, 1_000), DecodedBatch.from_request(decode_score_request(raw, 1_000)))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_bodies_the_contract_refuses_are_declined(name: str) -> None:
    raw = REFUSED[name]
    assert decode_columns(raw) is None
    with pytest.raises(RequestValidationError):
        decode_batch(raw, 1_000)


def test_values_near_the_edges_are_decoded_exactly() -> None:
    raw = _with(
        **{
            "shipments.0.volume": 0,
            "shipments.0.revenue": 123456789012345,  # 15 digits
            "shipments.0.cost": 1.5e-7,
            "shipments.0.delay_hours": 2.5e21,
            "shipments.1.volume": -0.0,
            "shipments.0.lane": "é" * 128,
            "shipments.1.lane": "🚢",
            "interactions.0.timestamp": "2025-06-01T10:00:00.000001-00:00",
            "interactions.1.timestamp": "2025-06-10T23:59:59.999999+14:00",
            "interactions.1.sentiment": "positive",
            "profile.since": "2024-02-29",
        }
    )
    fast = check(raw)
    assert fast is not None
    negative_zero = fast.columns["shipments"]["volume"][1]
    assert negative_zero == 0.0
    assert np.signbit(negative_zero)


@pytest.mark.parametrize("spelling", [b"-0", b"-0.0", b"-0e0", b"-0E5", b"0", b"-0.000"])
def test_negative_zero_is_read_as_msgspec_reads_it(spelling: bytes) -> None:
    """The integer -0 is the integer 0 (+0.0); -0.0 and -0e0 keep their sign; every zero hashes alike."""
    for field in (b'"volume": 10.0', b'"score": 7', b'"sentiment": "negative"'):
        raw = _with().replace(field, field.split(b":")[0] + b": " + spelling, 1)
        assert check(raw) is not None, (field, spelling)
    zero = _with().replace(b'"volume": 10.0', b'"volume": 0', 1)
    spelled = _with().replace(b'"volume": 10.0', b'"volume": ' + spelling, 1)
    assert input_hashes(decode_batch(spelled, 1_000)) == input_hashes(decode_batch(zero, 1_000))


def test_broken_cross_field_rules_are_worded_from_the_columnar_batch() -> None:
    raw = _with(**{"shipments.0.shipment_date": "2025-07-01"})  # after as_of
    fast = decode_columns(raw)
    assert fast is not None  # valid field by field: the rule is checked on the columns
    [issue] = batch_issues(fast)
    assert issue["loc"] == ("body", "customers", 0, "shipments", 0, "shipment_date")
    assert issue["type"] == "date_after_as_of"


def test_a_batch_above_the_limit_is_a_413_on_both_paths() -> None:
    from berth.api.errors import ProblemError

    raw = json.dumps(batch(4)).encode()
    assert decode_columns(raw) is not None
    with pytest.raises(ProblemError) as caught:
        decode_batch(raw, 3)
    assert caught.value.status == 413
    escaped = raw.replace(b'"CNSHA-NLRTM"', b'"CNSHA\\u002dNLRTM"')  # declined: the ordinary path
    assert decode_columns(escaped) is None
    with pytest.raises(ProblemError) as caught:
        decode_batch(escaped, 3)
    assert caught.value.status == 413


@example(0)
@given(st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_the_scanner_never_reads_past_a_truncated_body(cut: int) -> None:
    raw = VALID[: cut % len(VALID)]
    assert decode_columns(raw) is None


def test_every_date_of_the_range_is_read_as_python_reads_it() -> None:
    """Each day from 1899-12-25 to 2200-01-06 (and impossible days) against ``date.fromisoformat``."""
    from datetime import date, timedelta

    from berth.api import _scan

    low, high = -(2**40), 2**40
    day = date(1899, 12, 25)
    while day <= date(2200, 1, 6):
        text = np.frombuffer(day.isoformat().encode(), dtype=np.uint8)
        assert _scan._date(text, 0, 10, low, high) == (day - date(1970, 1, 1)).days, day
        day += timedelta(days=1)
    for impossible in ("2023-02-29", "1900-02-29", "2100-02-29", "2025-04-31", "2025-13-01", "2025-00-10"):
        text = np.frombuffer(impossible.encode(), dtype=np.uint8)
        assert _scan._date(text, 0, 10, low, high) == _scan._BAD_DAY, impossible
    leap = np.frombuffer(b"2000-02-29", dtype=np.uint8)
    assert _scan._date(leap, 0, 10, low, high) == (date(2000, 2, 29) - date(1970, 1, 1)).days


def _two_customers(before: str, after: str) -> bytes:
    customers = json.dumps([customer("C-1"), customer("C-2")], separators=(",", ":"))
    return f'{{{before}"customers":{customers}{after}}}'.encode()


@pytest.mark.parametrize(
    ("before", "after", "accepted"),
    [
        (f'"as_of":"{AS_OF}",', "", True),
        ("", f',"as_of":"{AS_OF}"', True),  # as_of after the list: the second thread reads it
        (f'"as_of":"{AS_OF}",', f',"as_of":"{AS_OF}"', False),  # once in each half
        ("", "", False),  # in neither
        (f'"as_of":"{AS_OF}",', ',"customers":[]', False),  # the list twice
    ],
)
def test_a_body_split_between_two_threads_reads_as_one(before: str, after: str, accepted: bool) -> None:
    raw = _two_customers(before, after)
    second = raw.index(b'{"customer_id":"C-2"')
    assert (decode_split_at(raw, second) is not None) == accepted
    check(raw)


def test_large_bodies_are_split_between_two_threads() -> None:
    raw = json.dumps(batch(60), separators=(",", ":")).encode()
    calls: list[tuple[int, int]] = []
    scan = columnar._scan_stretch

    def spy(data: np.ndarray, start: int, stop: int) -> Any:
        calls.append((start, stop))
        return scan(data, start, stop)

    with (
        mock.patch.object(columnar, "SPLIT_MIN_BYTES", len(raw)),
        mock.patch.object(columnar, "_scan_stretch", spy),
    ):
        assert_same_batch(decode_columns(raw), _ordinary(raw))
    (middle,) = {stop for _, stop in calls if stop}
    assert sorted(calls) == [(0, middle), (middle, 0)]
    assert raw[middle : middle + 15] == b'{"customer_id":'

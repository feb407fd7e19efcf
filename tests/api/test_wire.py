"""The msgspec decoder never accepts what the pydantic contract refuses, and never changes a value.

Bodies are generated from pools of valid and invalid values per field (boundaries, wrong types,
zones, lengths, unknown fields). For each body: whatever msgspec accepts, pydantic accepts too;
whatever pydantic accepts, :func:`decode_score_request` serves with pydantic's values (through
msgspec when it agrees, else through the fallback); whatever pydantic refuses is a 422.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from berth.api import schemas, wire
from berth.api.body import decode_score_request

MISSING = object()

# (valid values, edge values): edges are boundaries, wrong types, zones, lengths; some are valid.
DATES = (["2025-01-02", "2024-12-31"], ["1900-01-01", "2199-12-31", "1899-12-31", "2200-01-01", "2025-1-2"])
DATES[1].extend(["2025-02-30", "2025-01-02T00:00:00", "20250102", "", 20250102, None])
DATETIMES = (["2025-01-02T10:00:00", "2024-12-31T23:59:59Z"], ["2025-01-02T10:00:00+05:30", "2025-01-02"])
DATETIMES[1].extend(["2025-01-02T10:00:00.250", "2025-01-02 10:00:00", "1900-01-02T00:00:00", 1735812000])
DATETIMES[1].extend(["1900-01-01T12:00:00", "2199-12-31T00:00:00", "2199-12-31T00:00:01", None, "x"])
DATETIMES[1].extend(["2199-12-31T02:00:00+03:00", "2025-01-02T10:00:00-00:00", "2025-01-02T10:00"])
DATETIMES[1].extend(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+00:01"])  # overflow in UTC
AMOUNTS = ([0, 1.5, 10.25, None], [-1, -0.0, 1e308, "1.5", True, 1e400, 3])
SCORES = ([0, 7.5, 10, None], [10.5, -0.5, "7", False, 10.0000001])
BOOLS = ([True, False, None], [0, 1, "true", "yes"])
LABELS = (["a", "CNSHA-NLRTM", None], ["x" * 128, "x" * 129, "", "é" * 128, "é" * 129, 5, " "])
CUSTOMER_IDS = (["C-1", "C-2"], ["", "a\nb", "C-1\n", "x" * 128, "x" * 129, 5, "Ü-1", "a\x7fb", None])
TYPES = (["complaint", "survey", "call", "meeting"], ["loyalty_redemption", "Complaint", "other", 1, None])
SENTIMENTS = (
    [0.5, -1.0, "positive", None],
    ["neutral", "Positive", "great", True, 1e400, "0.5", 1.5, -1.01, 1],
)


def _field(pools: tuple[list[Any], list[Any]], *, optional: bool = True) -> st.SearchStrategy[Any]:
    valid, edge = st.sampled_from(pools[0]), st.sampled_from(pools[1])
    value = st.integers(0, 39).flatmap(lambda roll: edge if roll == 0 else valid)  # 1 field in 40
    return st.one_of(value, value, value, st.just(MISSING)) if optional else value


def _record(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    extra = st.sampled_from([{}] * 39 + [{"unexpected": 1}])
    return st.builds(
        lambda extra, **values: {**{k: v for k, v in values.items() if v is not MISSING}, **extra},
        extra,
        **fields,
    )


SHIPMENT = _record(
    shipment_date=_field(DATES, optional=False),
    volume=_field(AMOUNTS),
    revenue=_field(AMOUNTS),
    delay_hours=_field(AMOUNTS),
    damaged=_field(BOOLS),
    lane=_field(LABELS),
    shipment_id=_field(LABELS),
)
INTERACTION = _record(
    timestamp=_field(DATETIMES, optional=False),
    type=_field(TYPES, optional=False),
    score=_field(SCORES),
    resolved_at=_field(DATETIMES),
    sentiment=_field(SENTIMENTS),
    channel=_field(LABELS),
)
PROFILE = _record(
    segment=_field(LABELS),
    since=_field(DATES),
    contract=_field(BOOLS),
    loyalty_member=_field(BOOLS),
    credit_rating=_field(LABELS),
)
CUSTOMER = st.builds(
    lambda cid, ships, inters, profile, extra: {
        "customer_id": cid,
        "shipments": ships,
        **({"interactions": inters} if inters is not None else {}),
        **({"profile": profile} if profile is not None else {}),
        **extra,
    },
    _field(CUSTOMER_IDS, optional=False),
    st.lists(SHIPMENT, min_size=0, max_size=2),
    st.one_of(st.none(), st.lists(INTERACTION, max_size=2)),
    st.one_of(st.none(), PROFILE),
    st.sampled_from([{}] * 39 + [{"segment": "x"}]),
)
BODY = st.builds(
    lambda as_of, customers: {"as_of": as_of, "customers": customers},
    _field(DATES, optional=False),
    st.lists(CUSTOMER, min_size=1, max_size=2),
)


def _pydantic(raw: bytes) -> schemas.ScoreRequest | None:
    try:
        return schemas.ScoreRequest.model_validate_json(raw)
    except ValidationError:
        return None


_SORTED = msgspec.json.Encoder(order="sorted")


def _canonical(request: wire.ScoreRequest) -> list[bytes]:
    """Each customer's values as JSON with sorted keys and no nulls: equal exactly when the values are."""
    return [_SORTED.encode([request.as_of, c]) for c in request.customers]


def _zoned(timestamp: str) -> dict[str, Any]:
    interaction = {"timestamp": timestamp, "type": "call"}
    shipment = {"shipment_date": "2025-01-02"}
    customer = {"customer_id": "C", "shipments": [shipment], "interactions": [interaction]}
    return {"as_of": "2025-06-30", "customers": [customer]}


@settings(max_examples=1_500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY)
# Zoned values near the range's ends (found by this test: the range applies after conversion).
@example(_zoned("2199-12-31T02:00:00+03:00"))
@example(_zoned("1900-01-02T02:00:00+03:00"))
@example(_zoned("2025-01-02T10:00"))  # pydantic accepts, msgspec does not: served through the fallback
@example(
    {
        "as_of": "2025-06-30",
        "customers": [{"customer_id": "C-1\n", "shipments": [{"shipment_date": "2025-01-02"}]}],
    }
)
def test_msgspec_accepts_nothing_pydantic_refuses_and_keeps_every_value(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    validated = _pydantic(raw)
    try:
        fast: wire.ScoreRequest | None = wire.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        fast = None
    if validated is None:
        assert fast is None, f"msgspec accepted a body pydantic refuses: {body}"
        with pytest.raises(RequestValidationError):
            decode_score_request(raw, limit=1_000)
        return
    expected = _canonical(msgspec.convert(validated.model_dump(), wire.ScoreRequest, strict=False))
    assert _canonical(decode_score_request(raw, limit=1_000)) == expected
    if fast is not None:
        assert _canonical(fast) == expected


def test_the_fast_path_takes_the_usual_body() -> None:
    from .payloads import batch

    raw = json.dumps(batch(3)).encode()
    assert _pydantic(raw) is not None
    assert len(wire.decode(raw).customers) == 3


def test_invalid_utf8_is_a_422_not_a_crash() -> None:
    shipment = b'{"shipment_date":"2025-01-02","lane":"\xff"}'  # not UTF-8 inside a string
    raw = b'{"as_of":"2025-06-30","customers":[{"customer_id":"C","shipments":[' + shipment + b"]}]}"
    with pytest.raises(RequestValidationError):
        decode_score_request(raw, limit=1_000)


def _one(**edits: Any) -> dict[str, Any]:
    interaction = {
        "timestamp": "2025-01-02T10:00:00",
        "type": "complaint",
        "resolved_at": "2025-01-03T10:00:00",
    }
    customer = {
        "customer_id": "C",
        "shipments": [{"shipment_date": "2025-01-02"}, {"shipment_date": "2025-01-03"}],
        "interactions": [{"timestamp": "2025-01-01T10:00:00", "type": "call"}, interaction],
        "profile": {"since": "2020-01-01"},
    }
    body: dict[str, Any] = {"as_of": "2025-06-30", "customers": [customer]}
    for path, value in edits.items():
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return body


OUT_OF_RANGE = {
    "as_of": ["1899-12-31", "2200-01-01"],
    "customers.0.shipments.1.shipment_date": ["1899-12-31", "2200-01-01"],
    "customers.0.profile.since": ["1899-12-31", "2200-01-01"],
    "customers.0.interactions.1.timestamp": [
        "1900-01-01T12:00:00",
        "2199-12-31T00:00:01",
        "1900-01-02T02:00:00+05:00",
    ],
    "customers.0.interactions.1.resolved_at": [
        "1900-01-01T12:00:00",
        "2199-12-31T00:00:01",
        "2199-12-31T02:00:00-03:00",
    ],
}


@pytest.mark.parametrize(
    ("path", "value"), [(path, value) for path, values in OUT_OF_RANGE.items() for value in values]
)
def test_every_date_outside_the_range_is_refused_at_its_field(path: str, value: str) -> None:
    """The bulk range checks of :func:`wire.decode` cover every date and date-time field."""
    raw = json.dumps(_one(**{path: value})).encode()
    assert _pydantic(json.dumps(_one()).encode()) is not None
    with pytest.raises(msgspec.ValidationError):
        wire.decode(raw)
    with pytest.raises(RequestValidationError) as caught:
        decode_score_request(raw, limit=1_000)
    locs = [tuple(str(part) for part in error["loc"]) for error in caught.value.errors()]
    assert ("body", *path.split(".")) in locs


@pytest.mark.parametrize("field", ["timestamp", "resolved_at"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+00:01"])
def test_offsets_beyond_what_a_datetime_holds_are_a_422(field: str, value: str) -> None:
    """Converting such a value to UTC overflows Python's datetime: a 422 at the field, not a 500."""
    raw = json.dumps(_one(**{f"customers.0.interactions.1.{field}": value})).encode()
    with pytest.raises(msgspec.ValidationError):
        wire.decode(raw)
    with pytest.raises(RequestValidationError) as caught:
        decode_score_request(raw, limit=1_000)
    locs = [tuple(str(part) for part in error["loc"]) for error in caught.value.errors()]
    assert ("body", "customers", "0", "interactions", "1", field) in locs


def test_zoned_date_times_are_decoded_as_naive_utc() -> None:
    raw = json.dumps(
        _one(
            **{
                "customers.0.interactions.0.timestamp": "2025-01-01T10:00:00+02:00",
                "customers.0.interactions.1.resolved_at": "2025-01-03T10:00:00-05:00",
            }
        )
    ).encode()
    (customer,) = wire.decode(raw).customers
    assert customer.interactions[0].timestamp == datetime(2025, 1, 1, 8)
    assert customer.interactions[1].timestamp == datetime(2025, 1, 2, 10)  # naive stays as it is
    assert customer.interactions[1].resolved_at == datetime(2025, 1, 3, 15)


@settings(max_examples=300, deadline=None)
@given(
    probability=st.floats(0.0, 1.0),
    partial=st.one_of(st.none(), st.floats(0.0, 1.0)),
    contribution=st.floats(allow_nan=False, allow_infinity=False),
    note=st.one_of(st.none(), st.text(max_size=20)),
    label=st.text(max_size=12),
)
def test_the_response_struct_serialises_as_the_pydantic_schema(
    probability: float, partial: float | None, contribution: float, note: str | None, label: str
) -> None:
    """Same keys in the same order and the same values as ``schemas.ScoreResponse``'s JSON."""
    from datetime import date

    driver = wire.DriverOut(name="volume", contribution=contribution, label_en=label, label_zh="货量趋势")
    score = wire.CustomerScoreOut(
        customer_id="C-1",
        churn_probability=probability,
        partial_churn_probability=partial,
        risk_band="high",
        drivers=[driver, driver],
        eligible=note is None,
        note=note,
    )
    response = wire.ScoreResponse(
        request_id="r-1", model_name="m", model_version="3", as_of=date(2025, 6, 30), scores=[score]
    )
    encoded = wire.encode_response(response)
    documented = schemas.ScoreResponse.model_validate(msgspec.to_builtins(response)).model_dump_json()
    assert json.loads(encoded) == json.loads(documented)

    def keys(value: Any) -> Any:
        if isinstance(value, dict):
            return [(k, keys(v)) for k, v in value.items()]
        return [keys(v) for v in value] if isinstance(value, list) else None

    assert keys(json.loads(encoded)) == keys(json.loads(documented))

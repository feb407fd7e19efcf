"""The scoring request and response as msgspec structs: the fast codec behind ``POST /v1/scores``.

:mod:`berth.api.schemas` (pydantic) stays the contract: it generates the OpenAPI schema and words
every validation error. Decoding a 1,000-customer body into pydantic models (150k model
instances) dominated such a request; msgspec decodes and checks the same body in C, roughly ten
times faster (``benchmarks/bench_serving.py``), into structs the garbage collector does not track.
The structs below mirror the pydantic models field for field, constraint for constraint;
``tests/api/test_wire.py`` checks with generated bodies that msgspec accepts nothing pydantic
refuses and keeps every value. When msgspec refuses a body, pydantic parses it again to report
every problem at its field path (:func:`berth.api.body.decode_score_request`).

The ranges of dates and date-times (and the conversion of zoned date-times to naive UTC) are
checked by :func:`decode` over the whole request at once, not per struct in ``__post_init__``:
a Python call per shipment and interaction was a large share of decoding a 1,000-customer batch.

Bodies in the plain valid form are decoded straight into columns instead
(:mod:`berth.api.columnar`); these structs serve the other spellings the contract allows, and
the wording of broken cross-field rules.

The response structs mirror :class:`berth.api.schemas.ScoreResponse` field for field and in its
order (the schema documents the response; ``tests/api/test_wire.py`` checks both serialise to
the same JSON). Building a pydantic model per score and per driver cost more than encoding them.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import msgspec

from berth.api.schemas import MAX_DATE, MAX_DATETIME, MIN_DATE, MIN_DATETIME, InteractionType

_FINITE_MAX = sys.float_info.max  # a JSON number too large for a double decodes as inf: refused
Amount = Annotated[float, msgspec.Meta(ge=0.0, le=_FINITE_MAX)]
Number = Annotated[float, msgspec.Meta(ge=-_FINITE_MAX, le=_FINITE_MAX)]
Score = Annotated[float, msgspec.Meta(ge=0.0, le=10.0)]
Sentiment = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# \Z, not $: Python's $ also matches before a trailing newline, pydantic's (Rust) regex does not.
CustomerId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+\Z")]


class _Leaf(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """Base of the leaf records: unknown fields refused, ``None`` fields left out when encoding."""


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # an offset pushes year 1 or 9999 past what datetime holds
        raise msgspec.ValidationError(
            f"a date-time is outside {MIN_DATETIME} .. {MAX_DATETIME} (UTC)"
        ) from None


class ShipmentIn(_Leaf, kw_only=True):
    """One shipment (mirrors :class:`berth.api.schemas.ShipmentIn`)."""

    cargo_type: Label | None = None
    channel: Label | None = None
    cost: Amount | None = None
    damaged: bool | None = None
    delay_hours: Amount | None = None
    lane: Label | None = None
    revenue: Amount | None = None
    shipment_date: date
    shipment_id: Label | None = None
    volume: Amount | None = None


class InteractionIn(_Leaf, kw_only=True):
    """One interaction (mirrors :class:`berth.api.schemas.InteractionIn`); :func:`decode` makes zoned
    times naive UTC."""

    channel: Label | None = None
    resolved_at: datetime | None = None
    score: Score | None = None
    sentiment: Sentiment | Literal["positive", "neutral", "negative"] | None = None
    timestamp: datetime
    type: InteractionType


class ProfileIn(_Leaf, kw_only=True):
    """What the CRM knows about the customer (mirrors :class:`berth.api.schemas.ProfileIn`)."""

    account_manager: Label | None = None
    contract: bool | None = None
    credit_rating: Label | None = None
    loyalty_member: bool | None = None
    region: Label | None = None
    segment: Label | None = None
    since: date | None = None


class CustomerIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """One customer's history (mirrors :class:`berth.api.schemas.CustomerIn`)."""

    customer_id: CustomerId
    interactions: list[InteractionIn] = msgspec.field(default_factory=list)
    profile: ProfileIn = msgspec.field(default_factory=ProfileIn)
    shipments: Annotated[list[ShipmentIn], msgspec.Meta(min_length=1)]


class ScoreRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """Customers to score as of a date (mirrors :class:`berth.api.schemas.ScoreRequest`)."""

    as_of: date
    customers: Annotated[list[CustomerIn], msgspec.Meta(min_length=1)]


_DECODER = msgspec.json.Decoder(ScoreRequest, strict=True)


def decode(raw: bytes) -> ScoreRequest:
    """The request in ``raw``, checked; :class:`msgspec.ValidationError` (or ``DecodeError``) if not.

    After msgspec's own checks, every date must lie in [``MIN_DATE``, ``MAX_DATE``] and every
    date-time, once zoned ones are converted to naive UTC, in [``MIN_DATETIME``, ``MAX_DATETIME``].
    """
    request = _DECODER.decode(raw)
    customers = request.customers
    dates = [s.shipment_date for c in customers for s in c.shipments]
    dates.extend(since for c in customers if (since := c.profile.since) is not None)
    dates.append(request.as_of)
    if min(dates) < MIN_DATE or max(dates) > MAX_DATE:
        raise msgspec.ValidationError(f"a date is outside {MIN_DATE} .. {MAX_DATE}")
    interactions = [x for c in customers for x in c.interactions]
    if not interactions:
        return request
    opened = [x.timestamp for x in interactions]
    resolved = [r for x in interactions if (r := x.resolved_at) is not None]
    if any(t.tzinfo is not None for t in opened) or any(t.tzinfo is not None for t in resolved):
        for x in interactions:
            x.timestamp = _naive_utc(x.timestamp)
            x.resolved_at = None if x.resolved_at is None else _naive_utc(x.resolved_at)
        opened = [x.timestamp for x in interactions]
        resolved = [r for x in interactions if (r := x.resolved_at) is not None]
    opened.extend(resolved)
    if min(opened) < MIN_DATETIME or max(opened) > MAX_DATETIME:
        raise msgspec.ValidationError(f"a date-time is outside {MIN_DATETIME} .. {MAX_DATETIME} (UTC)")
    return request


class DriverOut(msgspec.Struct, frozen=True, gc=False):
    """One readable reason behind a score (mirrors :class:`berth.api.schemas.DriverOut`)."""

    name: str
    contribution: float
    label_en: str
    label_zh: str
    sentence: str | None = None


class RecommendationOut(msgspec.Struct, frozen=True, gc=False):
    """One recommended action (mirrors :class:`berth.api.schemas.RecommendationOut`)."""

    action: str
    expected_net_value: float
    expected_saved_value: float
    uplift: float
    cost: float


class CustomerScoreOut(msgspec.Struct, frozen=True, gc=False):
    """The scores of one customer (mirrors :class:`berth.api.schemas.CustomerScoreOut`)."""

    customer_id: str
    churn_probability: float
    partial_churn_probability: float | None
    risk_band: str
    drivers: list[DriverOut]
    eligible: bool
    note: str | None
    tier_current: str | None = None
    tier_expected: str | None = None
    tier_probabilities: dict[str, float] | None = None
    p_downgrade: float | None = None
    p_upgrade: float | None = None
    expected_shipments: float | None = None
    expected_revenue: float | None = None
    clv: float | None = None
    p_alive: float | None = None
    activity_state: str | None = None
    loyalty_form: str | None = None
    abc_class: str | None = None
    relationship_level: str | None = None
    upgrade_stage: str | None = None
    recommendations: list[RecommendationOut] | None = None
    recommendation_note: str | None = None


class ScoreResponse(msgspec.Struct, frozen=True, gc=False):
    """Scores of a batch (mirrors :class:`berth.api.schemas.ScoreResponse`)."""

    request_id: str
    model_name: str
    model_version: str
    as_of: date
    scores: list[CustomerScoreOut]
    client_request_id: str | None = None


_RESPONSE_ENCODER = msgspec.json.Encoder()


def encode_response(response: ScoreResponse) -> bytes:
    """The response body, as pydantic would serialise :class:`berth.api.schemas.ScoreResponse`."""
    return _RESPONSE_ENCODER.encode(response)

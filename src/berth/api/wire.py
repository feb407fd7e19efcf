"""The scoring request as msgspec structs: the fast decoder behind ``POST /v1/scores``.

:mod:`berth.api.schemas` (pydantic) stays the contract: it generates the OpenAPI schema and words
every validation error. Decoding a 1,000-customer body into pydantic models (150k model
instances) dominated such a request; msgspec decodes and checks the same body in C, roughly ten
times faster (``benchmarks/bench_serving.py``), into structs the garbage collector does not track.
The structs below mirror the pydantic models field for field, constraint for constraint;
``tests/api/test_wire.py`` checks with generated bodies that msgspec accepts nothing pydantic
refuses and keeps every value. When msgspec refuses a body, pydantic parses it again to report
every problem at its field path (:func:`berth.api.body.decode_score_request`).

``None`` fields are omitted when encoding and keys are sorted, so :func:`canonical_json` is the
canonical form the prediction log hashes.
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
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# \Z, not $: Python's $ also matches before a trailing newline, pydantic's (Rust) regex does not.
CustomerId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+\Z")]


class _Leaf(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """Base of the leaf records: unknown fields refused, ``None`` fields left out when encoding."""


def _check_date(value: date | None, name: str) -> None:
    if value is not None and not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"{name} must be between {MIN_DATE} and {MAX_DATE}")


def _naive_utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if not MIN_DATETIME <= naive <= MAX_DATETIME:
        raise ValueError(f"{name} must be between {MIN_DATETIME} and {MAX_DATETIME} (UTC)")
    return naive


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

    def __post_init__(self) -> None:
        _check_date(self.shipment_date, "shipment_date")


class InteractionIn(_Leaf, kw_only=True):
    """One interaction (mirrors :class:`berth.api.schemas.InteractionIn`); zoned times become naive UTC."""

    channel: Label | None = None
    resolved_at: datetime | None = None
    score: Score | None = None
    sentiment: Number | Literal["positive", "neutral", "negative"] | None = None
    timestamp: datetime
    type: InteractionType

    def __post_init__(self) -> None:
        self.timestamp = _naive_utc(self.timestamp, "timestamp")  # type: ignore[assignment]
        self.resolved_at = _naive_utc(self.resolved_at, "resolved_at")


class ProfileIn(_Leaf, kw_only=True):
    """What the CRM knows about the customer (mirrors :class:`berth.api.schemas.ProfileIn`)."""

    account_manager: Label | None = None
    contract: bool | None = None
    credit_rating: Label | None = None
    loyalty_member: bool | None = None
    region: Label | None = None
    segment: Label | None = None
    since: date | None = None

    def __post_init__(self) -> None:
        _check_date(self.since, "since")


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

    def __post_init__(self) -> None:
        _check_date(self.as_of, "as_of")


class _Hashed(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    as_of: date
    customer: CustomerIn


SCORE_REQUEST_DECODER = msgspec.json.Decoder(ScoreRequest, strict=True)
_ENCODER = msgspec.json.Encoder(order="sorted")


def canonical_json(customer: CustomerIn, as_of: date) -> bytes:
    """Compact JSON of ``as_of`` and the customer: keys sorted, no nulls, numbers as floats."""
    # Customer's interactions and profile are kept when empty ([] and {}): CustomerIn omits nothing.
    return _ENCODER.encode(_Hashed(as_of=as_of, customer=customer))

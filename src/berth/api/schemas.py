"""Request and response models of the HTTP API (separate models for what comes in and goes out).

Request bodies are validated straight from the JSON bytes (``model_validate_json``, see
:mod:`berth.api.body`) in strict mode, so the checks run in pydantic's Rust core: unknown fields
are rejected, numbers must be JSON numbers (not strings), NaN and infinities are refused, and dates
must be ISO strings (``YYYY-MM-DD``; date-times RFC 3339, zoned ones normalised to naive UTC)
between 1900 and 2199. Rules that need the whole batch (dates after ``as_of``, duplicate customers)
live in :func:`berth.api.convert.batch_issues`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
MIN_DATETIME = datetime(1900, 1, 2)  # a day of margin: zone offsets cannot push it out of range
MAX_DATETIME = datetime(2199, 12, 31)

InteractionType = Literal[
    "complaint", "inquiry", "survey", "meeting", "call", "email", "claim", "loyalty_redemption"
]
RiskBand = Literal["low", "medium", "high", "critical"]  # == berth.scoring.RISK_BANDS (tested)
DriverGroup = Literal[
    "rhythm", "volume", "revenue", "service", "complaints", "attitude", "relationship", "profile", "btyd",
    "concentration",
]  # fmt: skip  # == the keys of berth.features.GROUP_LABELS (tested)


def _naive_utc(value: datetime) -> datetime:
    """Convert zoned date-times to UTC and drop the zone, as the data contract expects; then the range."""
    try:
        naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # an offset pushes year 1 or 9999 past what datetime holds
        naive = None
    if naive is None or not MIN_DATETIME <= naive <= MAX_DATETIME:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "must be between {low} and {high} (UTC)",
            {"low": MIN_DATETIME.isoformat(), "high": MAX_DATETIME.isoformat()},
        )
    return naive


def _aware_utc(value: datetime) -> datetime:
    """Treat naive date-times as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_DATE_RANGE = "between 1900 and 2199"
IsoDate = Annotated[date, Field(ge=MIN_DATE, le=MAX_DATE, description=f"YYYY-MM-DD, {_DATE_RANGE}.")]
IsoDateTime = Annotated[
    datetime,
    Field(description=f"RFC 3339; zoned values are converted to UTC, then must be {_DATE_RANGE}."),
    AfterValidator(_naive_utc),
]
UtcDateTime = Annotated[
    datetime,
    Field(ge=MIN_DATETIME, le=MAX_DATETIME, description="RFC 3339; naive values are taken as UTC."),
    AfterValidator(_aware_utc),
]
Amount = Annotated[float, Field(ge=0.0)]
Label = Annotated[str, Field(min_length=1, max_length=128)]
CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class InputModel(BaseModel):
    """Base of request bodies: strict, unknown fields rejected, finite numbers only."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class OutputModel(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- scoring requests ---------------------------------------------------------------------------


class ShipmentIn(InputModel):
    """One shipment of a customer."""

    shipment_date: IsoDate
    volume: Amount | None = Field(default=None, description="Volume (TEU, tonnes...), ≥ 0.")
    revenue: Amount | None = Field(default=None, description="Revenue, ≥ 0.")
    cost: Amount | None = Field(default=None, description="Cost, ≥ 0.")
    delay_hours: Amount | None = Field(default=None, description="Delay in hours, ≥ 0.")
    damaged: bool | None = None
    shipment_id: Label | None = None
    cargo_type: Label | None = None
    lane: Label | None = None
    channel: Label | None = None


class InteractionIn(InputModel):
    """One interaction with a customer (complaint, survey, meeting, ...)."""

    timestamp: IsoDateTime
    type: InteractionType
    score: float | None = Field(default=None, ge=0.0, le=10.0, description="Survey score (NPS 0–10).")
    resolved_at: IsoDateTime | None = None
    sentiment: (
        Annotated[float, Field(ge=-1.0, le=1.0)] | Literal["positive", "neutral", "negative"] | None
    ) = Field(
        default=None, description="A number from -1 to 1, or positive / neutral / negative (1 / 0 / -1)."
    )
    channel: Label | None = None


class ProfileIn(InputModel):
    """What the CRM knows about the customer."""

    segment: Label | None = None
    region: Label | None = None
    since: IsoDate | None = Field(default=None, description="Customer since (not after as_of).")
    credit_rating: Label | None = None
    contract: bool | None = Field(default=None, description="Whether the customer has a contract.")
    loyalty_member: bool | None = None
    account_manager: Label | None = None


class CustomerIn(InputModel):
    """One customer's history to score."""

    customer_id: CustomerId
    shipments: list[ShipmentIn] = Field(min_length=1, description="At least one shipment.")
    interactions: list[InteractionIn] = Field(default_factory=list)
    profile: ProfileIn = Field(default_factory=ProfileIn)


_SCORE_EXAMPLE: dict[str, Any] = {
    "as_of": "2025-06-30",
    "customers": [
        {
            "customer_id": "C-00042",
            "shipments": [
                {"shipment_date": "2025-05-02", "volume": 12.0, "revenue": 8400.0, "delay_hours": 3.5},
                {"shipment_date": "2025-06-11", "volume": 9.5, "revenue": 6100.0, "damaged": False},
            ],
            "interactions": [
                {
                    "timestamp": "2025-06-12T09:30:00Z",
                    "type": "complaint",
                    "resolved_at": "2025-06-14T16:00:00Z",
                },
                {"timestamp": "2025-06-20T10:00:00Z", "type": "survey", "score": 6},
            ],
            "profile": {
                "segment": "forwarder",
                "region": "EU",
                "since": "2019-03-01",
                "loyalty_member": True,
            },
        }
    ],
}


class ScoreRequest(InputModel):
    """Customers to score as of a date (at most ``max_batch_size`` of them, else 413)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SCORE_EXAMPLE]})

    as_of: IsoDate = Field(description="Score as of this date; no input date may be later.")
    customers: list[CustomerIn] = Field(
        min_length=1,
        description="Customer ids must be distinct within the batch (a repeated id is refused: 422).",
    )


# -- scoring responses --------------------------------------------------------------------------


class DriverOut(OutputModel):
    """One readable reason behind a score (signed contribution in log-odds)."""

    name: DriverGroup = Field(description="The feature group (berth.features.GROUP_LABELS).")
    contribution: float
    label_en: str
    label_zh: str
    sentence: str | None = Field(
        default=None,
        description="The customer's own figures in words, in the response's language (`lang` or "
        "Accept-Language); says so where the customer has no data for this group.",
    )


class RecommendationOut(OutputModel):
    """A retention action worth taking for the customer (configs/playbook.yaml)."""

    action: str = Field(description="The playbook's action name, e.g. follow_up_call.")
    expected_net_value: float = Field(
        description="churn probability × value at risk × uplift − cost, in revenue units."
    )
    expected_saved_value: float = Field(description="churn probability × value at risk × uplift.")
    uplift: float = Field(ge=0.0, le=1.0, description="Relative churn reduction assumed (or measured).")
    cost: float = Field(ge=0.0, description="Cost of the action for one customer.")


class CustomerScoreOut(OutputModel):
    """The scores of one customer."""

    customer_id: str
    churn_probability: float = Field(ge=0.0, le=1.0)
    partial_churn_probability: float | None = Field(ge=0.0, le=1.0)
    risk_band: RiskBand
    drivers: list[DriverOut]
    eligible: bool = Field(description="False when the model could not score the customer reliably.")
    note: str | None
    tier_current: str | None = Field(description="Loyalty tier over the last period (lapsed: no shipment).")
    tier_expected: str | None = Field(description="Most probable tier in the next period.")
    tier_probabilities: dict[str, float] | None = Field(description="Next-period tier probabilities.")
    p_downgrade: float | None = Field(ge=0.0, le=1.0, description="P(next tier below the current one).")
    p_upgrade: float | None = Field(ge=0.0, le=1.0, description="P(next tier above the current one).")
    expected_shipments: float | None = Field(
        ge=0.0, description="Expected shipment days over the bundle's value horizon."
    )
    expected_revenue: float | None = Field(description="Expected revenue over the value horizon.")
    clv: float | None = Field(description="Discounted customer lifetime value (margin × revenue).")
    p_alive: float | None = Field(ge=0.0, le=1.0, description="P(the customer still ships with you).")
    activity_state: str | None = Field(description="active / dozing / half_asleep / dormant.")
    loyalty_form: str | None = Field(description="true / latent / spurious / none / unknown_attitude.")
    abc_class: str | None = Field(description="A / B / C by revenue share (unknown without value).")
    relationship_level: str | None = Field(
        description="basic / reactive / accountable / proactive / partnership (unknown without margin)."
    )
    upgrade_stage: str | None = Field(description="potential / new / repeat / loyal.")
    recommendations: list[RecommendationOut] | None = Field(
        default=None,
        description="The best paying actions, best first (empty when none pays: see "
        "recommendation_note); absent with recommendations=false or without a playbook.",
    )
    recommendation_note: str | None = Field(
        default=None, description="Why no action is recommended (nothing triggered, or nothing pays)."
    )


_SCORE_RESPONSE_EXAMPLE: dict[str, Any] = {
    "request_id": "5b0c9d4e2f7a4f0c8e1d3a6b9c2e4f10",
    "model_name": "berth-churn",
    "model_version": "7",
    "as_of": "2025-06-30",
    "scores": [
        {
            "customer_id": "C-00042",
            "churn_probability": 0.31,
            "partial_churn_probability": 0.22,
            "risk_band": "medium",
            "drivers": [
                {
                    "name": "rhythm",
                    "contribution": 0.42,
                    "label_en": "Shipping rhythm and recency",
                    "label_zh": "发货节奏与最近一次发货",
                    "sentence": "no shipment for 34 days; the usual gap between shipments is 9 days",
                }
            ],
            # FastAPI drops nulls from examples: a customer with a note keeps every field present.
            "eligible": False,
            "note": "no shipment in the last 365 days: probability from the BG/NBD model",
            "tier_current": "gold",
            "tier_expected": "silver",
            "tier_probabilities": {
                "lapsed": 0.08,
                "bronze": 0.12,
                "silver": 0.46,
                "gold": 0.31,
                "platinum": 0.03,
            },
            "p_downgrade": 0.66,
            "p_upgrade": 0.03,
            "expected_shipments": 17.4,
            "expected_revenue": 412000.0,
            "clv": 236500.0,
            "p_alive": 0.93,
            "activity_state": "dozing",
            "loyalty_form": "spurious",
            "abc_class": "A",
            "relationship_level": "partnership",
            "upgrade_stage": "loyal",
            "recommendations": [
                {
                    "action": "service_recovery",
                    "expected_net_value": 18350.0,
                    "expected_saved_value": 18850.0,
                    "uplift": 0.25,
                    "cost": 500.0,
                },
                {
                    "action": "follow_up_call",
                    "expected_net_value": 7490.0,
                    "expected_saved_value": 7540.0,
                    "uplift": 0.1,
                    "cost": 50.0,
                },
            ],
            # recommendation_note (null when an action pays) is dropped with the other nulls
        }
    ],
}


class ScoreResponse(OutputModel):
    """Scores of a batch, with the model that produced them."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SCORE_RESPONSE_EXAMPLE]})

    request_id: str = Field(description="The server's unique id of this request (prediction log key).")
    model_name: str
    model_version: str
    as_of: date
    scores: list[CustomerScoreOut]
    client_request_id: str | None = Field(
        default=None, description="Your X-Request-ID, when sent: a correlation id, echoed, not unique."
    )


class StoredScoreOut(OutputModel):
    """The latest batch score stored for a customer."""

    customer_id: str
    as_of: date
    churn_probability: float
    partial_churn_probability: float | None
    risk_band: RiskBand
    model_name: str
    model_version: str
    scored_at: datetime
    drivers: list[DriverOut] = Field(
        default_factory=list, description="The top drivers stored with the score (berth score --to-db)."
    )
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


# -- feedback -----------------------------------------------------------------------------------


class FeedbackCreate(InputModel):
    """An action taken for a customer, and its outcome when already known.

    Cross-field rules (a violation is 422): ``outcome_at`` requires ``outcome``, and ``outcome_at``
    may not be before ``taken_at``.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C-00042",
                    "action": "account_review_call",
                    "taken_at": "2025-07-02T14:00:00Z",
                    "notes": "Discussed delays on the Rotterdam lane.",
                    "request_id": "3f1c2b9a6d7e4f0a8b5c1d2e3f4a5b6c",
                }
            ]
        }
    )

    customer_id: CustomerId
    action: Annotated[str, Field(min_length=1, max_length=64)]
    taken_at: UtcDateTime
    outcome: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    outcome_at: UtcDateTime | None = Field(
        default=None, description="Requires outcome; not before taken_at (else 422)."
    )
    notes: Annotated[str, Field(max_length=2000)] | None = None
    request_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="The scoring request that prompted the action."
    )
    campaign_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="The campaign whose recommendation this answers (the campaign_id of "
        "GET /v1/customers/{customer_id}/recommendations, i.e. of berth plan).",
    )

    @model_validator(mode="after")
    def _outcome_consistent(self) -> Self:
        """An outcome date needs an outcome, and cannot precede the action."""
        if self.outcome_at is not None and self.outcome is None:
            raise ValueError("outcome_at given without outcome")
        if self.outcome_at is not None and self.outcome_at < self.taken_at:
            raise ValueError("outcome_at is before taken_at")
        return self


class FeedbackOutcome(InputModel):
    """The outcome of an action recorded earlier."""

    outcome: Annotated[str, Field(min_length=1, max_length=64)]
    outcome_at: UtcDateTime


class FeedbackCreated(OutputModel):
    """The id of a new feedback entry."""

    id: int


class FeedbackOut(OutputModel):
    """A stored feedback entry."""

    id: int
    customer_id: str
    action: str
    taken_at: datetime
    outcome: str | None
    outcome_at: datetime | None
    notes: str | None
    request_id: str | None
    created_at: datetime
    campaign_id: str | None = None


class CustomerRecommendationsOut(OutputModel):
    """What to do for a customer, from the latest stored campaign plan, else the latest stored score."""

    customer_id: str
    source: Literal["plan", "score"] = Field(
        description="plan: the customer's row of the latest campaign plan stored by berth plan; "
        "score: the playbook applied to the latest batch score (berth score --to-db)."
    )
    as_of: date
    model_name: str
    model_version: str
    campaign_id: str | None = Field(description="The plan's campaign (quote it in POST /v1/feedback).")
    group: Literal["treatment", "control"] | None = Field(
        description="control: held out at random so the campaign can measure what its actions achieve; "
        "take no retention action for this customer."
    )
    churn_probability: float = Field(ge=0.0, le=1.0)
    recommendations: list[RecommendationOut]
    note: str | None = Field(description="Why no action is listed (control group, nothing pays, ...).")


# -- model, admin, health -----------------------------------------------------------------------


class ModelInfoOut(OutputModel):
    """What a caller may know about the serving model."""

    name: str
    version: str
    trained_at: str
    horizon_days: int
    training_cutoff: str
    content_hash: str
    metrics: dict[str, float | None]
    extra: dict[str, Any]
    loaded_at: datetime


class ReloadOut(OutputModel):
    """Result of a model reload."""

    previous_version: str | None
    model: ModelInfoOut


class HealthOut(OutputModel):
    """Liveness."""

    status: Literal["ok"]


class ReadyOut(OutputModel):
    """Readiness: a model is loaded and the database answers."""

    status: Literal["ready"]
    model_name: str
    model_version: str


class ValidationIssue(OutputModel):
    """One reason a request is invalid."""

    loc: list[str | int] = Field(description="Path to the field: ['body', 'customers', 0, 'customer_id'].")
    pointer: str | None = Field(description="JSON pointer into the body (RFC 6901), when in the body.")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI identifying the problem type (urn:berth:problem:...).")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = Field(default=None, description="Also in the X-Request-ID header.")
    errors: list[ValidationIssue] | None = Field(default=None, description="Validation problems only.")


# -- stored history: events in, scoring by id -----------------------------------------------------


class ShipmentEvent(ShipmentIn):
    """A shipment to store (``POST /v1/events``); stored once per (customer_id, shipment_id)."""

    customer_id: CustomerId


class InteractionEvent(InteractionIn):
    """An interaction to store; the event is (customer_id, timestamp, type)."""

    customer_id: CustomerId


class ProfileEvent(ProfileIn):
    """A customer's profile; it replaces the stored one."""

    customer_id: CustomerId


MAX_EVENT_ROWS = 10_000  # rows per POST /v1/events (above: 413)


class EventsRequest(InputModel):
    """Rows to store in the customer history (at most 10,000 rows in all, else 413).

    A row that breaks this schema makes the whole body a 422 naming each field (nothing is
    stored). The data contract's rules beyond the schema are checked row by row: a row whose date
    is in the future (more than a day after today, UTC) or whose ``resolved_at`` precedes its
    ``timestamp`` is refused (its result names the field and the reason) and the others are stored.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shipments": [
                        {
                            "customer_id": "C-00042",
                            "shipment_id": "S-991",
                            "shipment_date": "2025-06-11",
                            "volume": 9.5,
                        }
                    ],
                    "interactions": [
                        {"customer_id": "C-00042", "timestamp": "2025-06-12T09:30:00Z", "type": "complaint"}
                    ],
                    "profiles": [{"customer_id": "C-00042", "segment": "forwarder", "region": "EU"}],
                }
            ]
        }
    )

    shipments: list[ShipmentEvent] = Field(default_factory=list)
    interactions: list[InteractionEvent] = Field(default_factory=list)
    profiles: list[ProfileEvent] = Field(default_factory=list)


class RowProblem(OutputModel):
    """Why a row was refused."""

    field: str = Field(description="The row's field (dotted path within the row), or '' for the row.")
    reason: str


class EventResult(OutputModel):
    """What happened to one row, in request order."""

    status: Literal["stored", "duplicate", "updated", "refused"] = Field(
        description="stored: new; duplicate: already stored (nothing changed); updated: a profile "
        "replaced; refused: see problems."
    )
    customer_id: str | None = None
    problems: list[RowProblem] | None = None


class EventsResponse(OutputModel):
    """Per-row results; the rows reported stored are committed when this response is sent."""

    request_id: str
    stored: int
    duplicates: int
    updated: int
    refused: int
    shipments: list[EventResult]
    interactions: list[EventResult]
    profiles: list[EventResult]


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise PydanticCustomError("duplicate_customer", "customer ids must be distinct")
    return ids


class ScoreByIdRequest(InputModel):
    """Customers to score from their stored history (``POST /v1/events``, ``berth ingest``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"as_of": "2025-06-30", "customer_ids": ["C-00042"]}]}
    )

    as_of: IsoDate = Field(description="Score as of this date: stored rows after it are left out.")
    customer_ids: Annotated[list[CustomerId], AfterValidator(_distinct)] = Field(
        min_length=1,
        description="Distinct ids (at most max_batch_size, else 413); ids without a stored shipment up "
        "to as_of are a 404 naming them.",
    )

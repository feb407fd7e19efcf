"""Pure conversions between API models and the :mod:`berth.scoring` contract (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow

from berth import tables
from berth.api.wire import CustomerScoreOut, DriverOut, RecommendationOut, ScoreRequest
from berth.recommend.ranking import Recommendation
from berth.scoring import (
    LOYALTY_AMOUNT_FIELDS,
    LOYALTY_LABEL_FIELDS,
    LOYALTY_PROBABILITY_FIELDS,
    RISK_BANDS,
    ColumnTables,
    CustomerScore,
)

Issue = dict[str, Any]
Columns = dict[str, Sequence[Any] | np.ndarray]


class ModelOutputError(RuntimeError):
    """The model returned something the API cannot serve (missing customers, NaN, bad band)."""


def _issue(loc: Sequence[str | int], msg: str, kind: str) -> Issue:
    return {"loc": ("body", *loc), "msg": msg, "type": kind}


@dataclass(frozen=True)
class DecodedBatch:
    """A scoring request as the scorer's columns, decoded by :mod:`berth.api.columnar` or from structs.

    Rows are in request order, each customer's rows contiguous: customer ``i``'s shipments are rows
    ``shipment_starts[i]:shipment_starts[i + 1]`` of every shipment column (likewise interactions),
    its profile row ``i``. Text columns are lists, object arrays or Arrow string arrays.
    """

    as_of: date
    customer_ids: list[str]
    columns: ColumnTables
    shipment_starts: np.ndarray
    interaction_starts: np.ndarray
    raw: bytes | None = None  # the body, to decode again as structs (only to word a broken rule)
    structs: ScoreRequest | None = field(default=None, repr=False)
    # Columnar decoding only: every text value in one Arrow array (ids first), where each text
    # column's rows start in it, and each interaction's kind as its index in InteractionType.
    text: pyarrow.StringArray | None = field(default=None, repr=False)
    text_rows: Mapping[tuple[str, str], int] = field(default_factory=dict, repr=False)
    interaction_kinds: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_request(cls, request: ScoreRequest) -> DecodedBatch:
        """The batch of a request decoded as structs (msgspec or pydantic)."""
        customers = request.customers
        return cls(
            as_of=request.as_of,
            customer_ids=[c.customer_id for c in customers],
            columns=to_column_tables(request),
            shipment_starts=_starts([len(c.shipments) for c in customers]),
            interaction_starts=_starts([len(c.interactions) for c in customers]),
            structs=request,
        )

    def split(self, at: int) -> tuple[ColumnTables, ColumnTables]:
        """The columns of customers ``[:at]`` and ``[at:]`` (each customer's rows stay together)."""
        bounds = {
            tables.SHIPMENTS: int(self.shipment_starts[at]),
            tables.INTERACTIONS: int(self.interaction_starts[at]),
            tables.CUSTOMERS: at,
        }
        first = {
            table: {name: column[: bounds[table]] for name, column in columns.items()}
            for table, columns in self.columns.items()
        }
        second = {
            table: {name: column[bounds[table] :] for name, column in columns.items()}
            for table, columns in self.columns.items()
        }
        return first, second

    def request(self) -> ScoreRequest:
        """The request as structs (decoded again from ``raw`` when it was decoded as columns)."""
        if self.structs is not None:
            return self.structs
        from berth.api.body import decode_score_request  # body imports this module

        assert self.raw is not None
        return decode_score_request(self.raw, limit=len(self.customer_ids))


def _starts(counts: list[int]) -> np.ndarray:
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


def batch_issues(batch: DecodedBatch) -> list[Issue]:
    """Rules spanning fields: no date after ``as_of``, distinct customer ids, resolution after contact.

    Checked on the batch's columns in a few array comparisons; only a request that breaks a rule
    is walked row by row (as structs) to name every offending field.
    """
    if _rules_hold(batch.as_of, batch.columns):
        return []
    return _rule_issues(batch.request())


def _rules_hold(as_of: date, columns: ColumnTables) -> bool:
    after = np.datetime64(as_of, "D") + 1  # the first instant after as_of
    profile = columns[tables.CUSTOMERS]
    ids = profile[tables.CUSTOMER_ID]
    if len(set(ids)) != len(ids):
        return False
    opened = np.asarray(columns[tables.INTERACTIONS][tables.TIMESTAMP])
    resolved = np.asarray(columns[tables.INTERACTIONS]["resolved_at"])
    # NaT (no resolution, no since) compares False with everything
    broken = (
        (np.asarray(columns[tables.SHIPMENTS][tables.SHIPMENT_DATE]) >= after).any()
        or (opened >= after).any()
        or (resolved >= after).any()
        or (resolved < opened).any()
        or (np.asarray(profile["since"]) >= after).any()
    )
    return not broken


def _rule_issues(request: ScoreRequest) -> list[Issue]:
    """Every broken cross-field rule of the request, at its field path."""
    as_of = request.as_of
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    for i, customer in enumerate(request.customers):
        first = seen.setdefault(customer.customer_id, i)
        if first != i:
            issues.append(
                _issue(
                    ("customers", i, "customer_id"),
                    f"duplicate customer_id {customer.customer_id!r} (also at customers[{first}])",
                    "duplicate_customer",
                )
            )
        for j, shipment in enumerate(customer.shipments):
            if shipment.shipment_date > as_of:
                issues.append(
                    _issue(
                        ("customers", i, "shipments", j, "shipment_date"),
                        f"date {shipment.shipment_date} is after as_of {as_of}",
                        "date_after_as_of",
                    )
                )
        for j, interaction in enumerate(customer.interactions):
            loc: tuple[str | int, ...] = ("customers", i, "interactions", j)
            if interaction.timestamp.date() > as_of:
                issues.append(
                    _issue(
                        (*loc, "timestamp"),
                        f"timestamp {interaction.timestamp.isoformat()} is after as_of {as_of}",
                        "date_after_as_of",
                    )
                )
            resolved = interaction.resolved_at
            if resolved is not None:
                if resolved.date() > as_of:
                    issues.append(
                        _issue(
                            (*loc, "resolved_at"),
                            f"resolved_at {resolved.isoformat()} is after as_of {as_of}",
                            "date_after_as_of",
                        )
                    )
                if resolved < interaction.timestamp:
                    issues.append(
                        _issue((*loc, "resolved_at"), "resolved_at is before timestamp", "resolved_too_early")
                    )
        since = customer.profile.since
        if since is not None and since > as_of:
            issues.append(
                _issue(
                    ("customers", i, "profile", "since"),
                    f"date {since} is after as_of {as_of}",
                    "date_after_as_of",
                )
            )
    return issues


_SENTIMENT_WORDS = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}


def _sentiments(values: Sequence[float | str | None]) -> np.ndarray:
    """float64 scores, the words as +1 / 0 / -1, NaN for None."""
    try:
        return _numbers(values)  # type: ignore[arg-type]
    except ValueError:  # a word among them (the contract allows no other text)
        return _numbers([_SENTIMENT_WORDS[v] if isinstance(v, str) else v for v in values])


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NAT = np.iinfo(np.int64).min  # NaT as an int64
_MICROSECONDS_PER_DAY = 86_400_000_000
# From this many values pandas converts date-times faster than a comprehension (its call costs ~50 µs).
_PANDAS_MIN_VALUES = 500


def _dates(values: Sequence[date | None]) -> np.ndarray:
    """``datetime64[D]``, NaT for None (through ordinals: numpy converts date objects ~20x slower)."""
    try:  # mapping the method itself runs no bytecode per value; a None raises
        dates = cast(Sequence[date], values)
        days = np.fromiter(map(date.toordinal, dates), dtype=np.int64, count=len(values)) - _EPOCH_ORDINAL
    except TypeError:
        days = np.array(
            [_NAT if v is None else v.toordinal() - _EPOCH_ORDINAL for v in values], dtype=np.int64
        )
    return days.view("datetime64[D]")


def _datetimes(values: Sequence[datetime | None]) -> np.ndarray:
    """``datetime64[us]`` of naive (UTC) date-times, NaT for None."""
    if len(values) >= _PANDAS_MIN_VALUES:
        index = pd.DatetimeIndex(cast(list[datetime | None], values))
        return np.asarray(index.as_unit("us").to_numpy(), dtype="datetime64[us]")
    micros = [
        _NAT
        if v is None
        else (v.toordinal() - _EPOCH_ORDINAL) * _MICROSECONDS_PER_DAY
        + ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000
        + v.microsecond
        for v in values
    ]
    return np.array(micros, dtype=np.int64).view("datetime64[us]")


def _numbers(values: Sequence[float | bool | None]) -> np.ndarray:
    """float64, NaN for None (booleans as 1.0 / 0.0)."""
    return np.array(values, dtype=np.float64)


def to_column_tables(request: ScoreRequest) -> ColumnTables:
    """The batch as the canonical column tables of :mod:`berth.tables`, one array per column.

    Numbers are float64 (NaN for missing), dates ``datetime64`` (NaT for missing), text stays
    Python strings (None for missing). One comprehension per field, converted to an array at once:
    the features then need no per-value Python, which matters for 100k-row batches.
    """
    customers = request.customers
    ids = [c.customer_id for c in customers]
    ships = [s for c in customers for s in c.shipments]
    inters = [x for c in customers for x in c.interactions]
    id_array = np.array(ids, dtype=object)
    shipments: Columns = {
        tables.CUSTOMER_ID: np.repeat(id_array, [len(c.shipments) for c in customers]),
        tables.SHIPMENT_DATE: _dates([s.shipment_date for s in ships]),
        "shipment_id": [s.shipment_id for s in ships],
        "volume": _numbers([s.volume for s in ships]),
        "revenue": _numbers([s.revenue for s in ships]),
        "cost": _numbers([s.cost for s in ships]),
        "delay_hours": _numbers([s.delay_hours for s in ships]),
        "damaged": _numbers([s.damaged for s in ships]),
        "cargo_type": [s.cargo_type for s in ships],
        "lane": [s.lane for s in ships],
        "channel": [s.channel for s in ships],
    }
    interactions: Columns = {
        tables.CUSTOMER_ID: np.repeat(id_array, [len(c.interactions) for c in customers]),
        tables.TIMESTAMP: _datetimes([x.timestamp for x in inters]),
        tables.INTERACTION_TYPE: [x.type for x in inters],
        "score": _numbers([x.score for x in inters]),
        "resolved_at": _datetimes([x.resolved_at for x in inters]),
        "sentiment": _sentiments([x.sentiment for x in inters]),
        "channel": [x.channel for x in inters],
    }
    profiles = [c.profile for c in customers]
    profile_columns: Columns = {
        tables.CUSTOMER_ID: ids,
        "segment": [p.segment for p in profiles],
        "region": [p.region for p in profiles],
        "since": _dates([p.since for p in profiles]),
        "credit_rating": [p.credit_rating for p in profiles],
        "contract": [p.contract for p in profiles],
        "loyalty_member": [p.loyalty_member for p in profiles],
        "account_manager": [p.account_manager for p in profiles],
    }
    return {tables.SHIPMENTS: shipments, tables.INTERACTIONS: interactions, tables.CUSTOMERS: profile_columns}


def _probability(value: float | None, what: str, customer_id: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ModelOutputError(f"{what} {value!r} of customer {customer_id!r} is not a probability")
    return number


def to_outputs(
    wanted: Sequence[str],
    scores: Sequence[CustomerScore],
    recommendations: Mapping[str, tuple[Sequence[Recommendation], str]] | None = None,
) -> list[CustomerScoreOut]:
    """Model scores in the order of ``wanted`` (the request's customer ids), checked: one per
    customer, probabilities in [0, 1], known bands; with ``recommendations`` (by customer id: the
    actions and "pays" or the reason there are none), each score carries them."""
    by_id = {score.customer_id: score for score in scores}
    if len(by_id) != len(scores) or set(by_id) != set(wanted):
        raise ModelOutputError(f"model returned {len(scores)} scores for {len(wanted)} customers")
    outputs = []
    for customer_id in wanted:
        s = by_id[customer_id]
        if s.risk_band not in RISK_BANDS:
            raise ModelOutputError(f"unknown risk band {s.risk_band!r} for customer {customer_id!r}")
        churn = _probability(s.churn_probability, "churn_probability", customer_id)
        assert churn is not None
        outputs.append(
            CustomerScoreOut(
                customer_id=customer_id,
                churn_probability=churn,
                partial_churn_probability=_probability(
                    s.partial_churn_probability, "partial_churn_probability", customer_id
                ),
                risk_band=s.risk_band,
                drivers=[
                    DriverOut(
                        name=d.name,
                        contribution=float(d.contribution),
                        label_en=d.label_en,
                        label_zh=d.label_zh,
                        sentence=d.sentence,
                    )
                    for d in s.drivers
                    if math.isfinite(d.contribution)  # an unexplainable driver must not block the score
                ],
                eligible=bool(s.eligible),
                note=s.note,
                **_loyalty_outputs(s, customer_id),
                **_recommendation_outputs(recommendations, customer_id),
            )
        )
    return outputs


def _recommendation_outputs(
    recommendations: Mapping[str, tuple[Sequence[Recommendation], str]] | None, customer_id: str
) -> dict[str, Any]:
    if recommendations is None:
        return {}
    actions, reason = recommendations[customer_id]
    return {
        "recommendations": [
            RecommendationOut(
                action=r.action,
                expected_net_value=round(r.expected_net_value, 2),
                expected_saved_value=round(r.expected_saved_value, 2),
                uplift=r.uplift,
                cost=r.cost,
            )
            for r in actions
        ],
        "recommendation_note": None if actions else reason,
    }


def _loyalty_outputs(score: CustomerScore, customer_id: str) -> dict[str, Any]:
    """The tier, value and taxonomy fields of a score, checked (probabilities in [0, 1], finite amounts)."""
    out: dict[str, Any] = {name: getattr(score, name) for name in LOYALTY_LABEL_FIELDS}
    for name in LOYALTY_PROBABILITY_FIELDS:
        out[name] = _probability(getattr(score, name), name, customer_id)
    for name in LOYALTY_AMOUNT_FIELDS:
        value = getattr(score, name)
        if value is not None and not math.isfinite(value):
            raise ModelOutputError(f"{name} {value!r} of customer {customer_id!r} is not a finite number")
        out[name] = None if value is None else float(value)
    tiers = score.tier_probabilities
    out["tier_probabilities"] = (
        None
        if tiers is None
        else {tier: _probability(p, "tier_probabilities", customer_id) for tier, p in tiers.items()}
    )
    return out


def log_outputs(score: CustomerScoreOut, model_name: str) -> dict[str, Any]:
    """What the prediction log keeps of one served score."""
    return {
        "model_name": model_name,
        "churn_probability": score.churn_probability,
        "partial_churn_probability": score.partial_churn_probability,
        "risk_band": score.risk_band,
        "eligible": score.eligible,
        "drivers": [{"name": d.name, "contribution": d.contribution} for d in score.drivers],
        **{
            name: getattr(score, name)
            for name in (*LOYALTY_LABEL_FIELDS, *LOYALTY_PROBABILITY_FIELDS, *LOYALTY_AMOUNT_FIELDS)
        },
    }

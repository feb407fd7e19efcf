"""The service database: batch scores, the prediction log, feedback and API keys (SQLAlchemy 2).

SQLite (default, WAL mode) and PostgreSQL (``postgresql+psycopg://...``) are both supported. The
schema is owned by the Alembic migrations packaged in :mod:`berth.migrations`; call
:func:`upgrade` (or ``berth db upgrade``) before using a new database.

API keys are ``<key_id>.<secret>`` where the secret is 32 random bytes
(``secrets.token_urlsafe``). Only the SHA-256 of the whole key is stored. A slow password hash
(argon2, bcrypt) protects *low-entropy* secrets against offline guessing; a 256-bit random secret
cannot be guessed whatever the hash speed, so a fast hash keeps verification in microseconds
without weakening anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime
from typing import Any, Final

import msgspec
import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from berth.errors import DataContractError
from berth.scoring import (
    LOYALTY_AMOUNT_FIELDS,
    LOYALTY_LABEL_FIELDS,
    LOYALTY_PROBABILITY_FIELDS,
    RISK_BANDS,
)

__all__ = [
    "API_SCOPES",
    "ApiKeyRecord",
    "FeedbackRecord",
    "PlannedActionRecord",
    "PredictionLogEntry",
    "ScoreRecord",
    "Store",
    "hash_api_key",
    "make_engine",
    "metadata",
    "upgrade",
]

API_SCOPES: Final = ("score", "events", "admin")  # events: may write customer history
_KEY_PREFIX: Final = "bk_"
_MAX_KEY_LENGTH: Final = 256
_WRITE_CHUNK: Final = 5_000
_LOG_CHUNK: Final = 64  # rows per executemany: ~2 ms of work between GIL hand-offs

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Treat naive values as UTC and convert aware ones to UTC."""
        if value is None:
            return None
        return _as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read back from SQLite."""
        if value is None:
            return None
        return _as_utc(value)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=_NAMING)


class ScoreRow(Base):
    """One batch score of one customer as of a date."""

    __tablename__ = "scores"
    __table_args__ = (Index("ix_scores_customer_latest", "customer_id", "as_of", "scored_at"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    as_of: Mapped[date] = mapped_column(Date)
    churn_probability: Mapped[float] = mapped_column(Float)
    partial_churn_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    risk_band: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime())
    tier_current: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tier_expected: Mapped[str | None] = mapped_column(String(32), nullable=True)
    activity_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    loyalty_form: Mapped[str | None] = mapped_column(String(32), nullable=True)
    abc_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    relationship_level: Mapped[str | None] = mapped_column(String(32), nullable=True)
    upgrade_stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    p_downgrade: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_upgrade: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_alive: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_shipments: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_revenue: Mapped[float | None] = mapped_column(Float, nullable=True)
    clv: Mapped[float | None] = mapped_column(Float, nullable=True)
    tier_probabilities: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object
    drivers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON [{name, contribution}]


class PredictionLogRow(Base):
    """One served prediction: who asked, what went in (hashed) and what came out."""

    __tablename__ = "prediction_log"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    input_hash: Mapped[str] = mapped_column(String(64))
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    bundle_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class FeedbackRow(Base):
    """An action taken for a customer and, later, its outcome."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    campaign_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PlannedActionRow(Base):
    """One (customer, action) pair of a stored campaign plan, treatment or control."""

    __tablename__ = "planned_actions"
    __table_args__ = (
        Index("ix_planned_actions_customer_latest", "customer_id", "as_of", "created_at"),
        UniqueConstraint("campaign_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column(String(16))
    churn_probability: Mapped[float] = mapped_column(Float)
    value_at_risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    uplift: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    expected_saved_value: Mapped[float] = mapped_column(Float)
    expected_net_value: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiKeyRow(Base):
    """An API key: its public id, the SHA-256 of the full key, and its scopes."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


# -- customer history (berth ingest, POST /v1/events; read back to score by id) --------------------
# Data-contract column names (berth.tables). Date-times are naive UTC, as the contract keeps them.


class StoredShipmentRow(Base):
    """One stored shipment of a customer; ``shipment_key`` is its shipment_id, or a content key without one.

    The primary key leads with ``customer_id``: it serves reads by customer, and one index instead
    of two halved the cost of bulk inserts."""

    __tablename__ = "history_shipments"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    shipment_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    shipment_date: Mapped[date] = mapped_column(Date)
    shipment_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    volume: Mapped[float | None] = mapped_column(Float, nullable=True)
    revenue: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    delay_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    damaged: Mapped[float | None] = mapped_column(Float, nullable=True)
    cargo_type: Mapped[str | None] = mapped_column(Text, nullable=True)
    lane: Mapped[str | None] = mapped_column(Text, nullable=True)
    channel: Mapped[str | None] = mapped_column(Text, nullable=True)


class StoredInteractionRow(Base):
    """One stored interaction; the event is (customer_id, timestamp, type): the contract has no id."""

    __tablename__ = "history_interactions"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    type: Mapped[str] = mapped_column(String(128), primary_key=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    sentiment: Mapped[float | None] = mapped_column(Float, nullable=True)
    channel: Mapped[str | None] = mapped_column(Text, nullable=True)


class StoredProfileRow(Base):
    """The latest profile of a customer (an update replaces it)."""

    __tablename__ = "history_profiles"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    segment: Mapped[str | None] = mapped_column(Text, nullable=True)
    region: Mapped[str | None] = mapped_column(Text, nullable=True)
    since: Mapped[date | None] = mapped_column(Date, nullable=True)
    credit_rating: Mapped[str | None] = mapped_column(Text, nullable=True)
    contract: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    loyalty_member: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    account_manager: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


metadata = Base.metadata


@dataclass(frozen=True)
class ScoreRecord:
    """The latest stored batch score of a customer."""

    customer_id: str
    as_of: date
    churn_probability: float
    partial_churn_probability: float | None
    risk_band: str
    model_name: str
    model_version: str
    scored_at: datetime
    loyalty: Mapping[str, Any] = field(default_factory=dict)  # LOYALTY_* fields, tier_probabilities
    drivers: tuple[tuple[str, float], ...] = ()  # (group, contribution), strongest first


@dataclass(frozen=True)
class PredictionLogEntry:
    """One row of the prediction log, ready to insert."""

    request_id: str
    customer_id: str
    model_version: str
    input_hash: str
    outputs: Mapping[str, Any]
    created_at: datetime
    bundle_hash: str | None = None  # the served bundle's content hash (verified at load)
    client_request_id: str | None = None  # the caller's X-Request-ID, a correlation id (not unique)


@dataclass(frozen=True)
class PlannedActionRecord:
    """One customer's row of a stored campaign plan."""

    campaign_id: str
    as_of: date
    customer_id: str
    action: str
    group: str  # treatment | control
    churn_probability: float
    value_at_risk: float | None
    uplift: float
    cost: float
    expected_saved_value: float
    expected_net_value: float
    reason: str | None
    model_name: str
    model_version: str
    created_at: datetime


@dataclass(frozen=True)
class FeedbackRecord:
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


@dataclass(frozen=True)
class ApiKeyRecord:
    """What is known about an API key (never the key itself)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def hash_api_key(plaintext: str) -> str:
    """SHA-256 hex digest of a full API key (see the module docstring for why a fast hash)."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never block the writer; NORMAL sync (no fsync per commit, safe in WAL)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-16000")
    finally:
        cursor.close()


def _numpy_scalar(value: Any) -> Any:
    """NumPy scalars as Python ones (``json.dumps`` took float64, a float subclass; msgspec does not)."""
    if isinstance(value, np.generic):
        return value.item()
    raise NotImplementedError(f"cannot store {type(value).__name__} as JSON")


_JSON_ENCODER = msgspec.json.Encoder(enc_hook=_numpy_scalar)


def _json_text(value: Any) -> str:
    """Text of a JSON column: msgspec, several times faster than ``json.dumps`` on prediction-log
    rows; compact, and NaN written as null (``json.dumps`` writes NaN, which is not JSON)."""
    return _JSON_ENCODER.encode(value).decode()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the pragmas (SQLite) or pool settings (others) we rely on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, json_serializer=_json_text)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(
        parsed,
        json_serializer=_json_text,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
    )


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the packaged Alembic migrations to the database at ``url``."""
    engine = make_engine(url)
    try:
        _upgrade_engine(engine, revision)
    finally:
        engine.dispose()


def _upgrade_engine(engine: Engine, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "berth:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _probability_or_none(value: Any, what: str, row: int) -> float | None:
    """A probability from a frame cell (missing → None); anything outside [0, 1] is an error."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise DataContractError(f"row {row}: {what} {value!r} is not in [0, 1]")
    return number


_LOYALTY_COLUMNS = tuple(
    getattr(ScoreRow, name)
    for name in (
        *LOYALTY_LABEL_FIELDS,
        *LOYALTY_PROBABILITY_FIELDS,
        *LOYALTY_AMOUNT_FIELDS,
        "tier_probabilities",
    )
)


def _label_or_none(value: Any, what: str, row: int) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    if len(text) > 32:
        raise DataContractError(f"row {row}: {what} {text[:40]!r}... is longer than 32 characters")
    return text


def _amount_or_none(value: Any, what: str, row: int) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise DataContractError(f"row {row}: {what} {value!r} is not a finite number")
    return number


def _json_or_none(value: Any, what: str, row: int) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise DataContractError(f"row {row}: {what} is not JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise DataContractError(f"row {row}: {what} must be an object of tier → probability")
    return json.dumps({str(k): _probability_or_none(v, what, row) for k, v in value.items()})


def _loyalty_columns(frame: pd.DataFrame) -> dict[str, tuple[list[Any], Callable[[Any, str, int], Any]]]:
    """The loyalty, value and taxonomy columns a scores frame has, each with its checker."""
    kinds: list[tuple[tuple[str, ...], Callable[[Any, str, int], Any]]] = [
        (LOYALTY_LABEL_FIELDS, _label_or_none),
        (LOYALTY_PROBABILITY_FIELDS, _probability_or_none),
        (LOYALTY_AMOUNT_FIELDS, _amount_or_none),
        (("tier_probabilities",), _json_or_none),
    ]
    return {name: (list(frame[name]), check) for names, check in kinds for name in names if name in frame}


_PLAN_COLUMNS: Final = (
    "campaign_id",
    "as_of",
    "customer_id",
    "action",
    "group",
    "churn_probability",
    "value_at_risk",
    "uplift",
    "cost",
    "expected_saved_value",
    "expected_net_value",
)


_FEEDBACK_DEFAULTS: Final = dict.fromkeys(("outcome", "outcome_at", "notes", "request_id", "campaign_id"))


def _driver_json(frame: pd.DataFrame) -> list[str | None]:
    """Per row, the top drivers (``driver_k`` / ``driver_k_contribution`` columns) as JSON text."""
    ks = [k for k in range(1, 11) if f"driver_{k}" in frame and f"driver_{k}_contribution" in frame]
    if not ks:
        return [None] * len(frame)
    names = [list(frame[f"driver_{k}"]) for k in ks]
    values = [list(frame[f"driver_{k}_contribution"]) for k in ks]
    out: list[str | None] = []
    for i in range(len(frame)):
        row = [
            {"name": str(name[i]), "contribution": float(value[i])}
            for name, value in zip(names, values, strict=True)
            if isinstance(name[i], str)
            and name[i]
            and value[i] is not None
            and math.isfinite(float(value[i]))
        ]
        out.append(json.dumps(row))
    return out


class Store:
    """Reads and writes the service tables; thread-safe (one engine, pooled connections)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def upgrade(self) -> None:
        """Bring the schema to the latest migration."""
        _upgrade_engine(self.engine)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    # -- batch scores ---------------------------------------------------------------------------

    def write_scores(self, frame: pd.DataFrame, model_name: str, model_version: str) -> int:
        """Insert one row per frame row (customer_id, as_of, churn_probability, risk_band, ...)."""
        missing = [c for c in ("customer_id", "as_of", "churn_probability", "risk_band") if c not in frame]
        if missing:
            raise DataContractError(f"scores frame lacks columns {missing}")
        if frame.empty:
            return 0
        n = len(frame)
        as_of = list(pd.to_datetime(frame["as_of"]).dt.date)
        scored_at = (
            list(pd.to_datetime(frame["scored_at"], utc=True).dt.to_pydatetime())
            if "scored_at" in frame
            else [_now()] * n
        )
        partial = (
            list(frame["partial_churn_probability"]) if "partial_churn_probability" in frame else [None] * n
        )
        loyalty = _loyalty_columns(frame)
        drivers = _driver_json(frame)
        rows: list[dict[str, Any]] = []
        for i, (customer_id, churn, band) in enumerate(
            zip(frame["customer_id"], frame["churn_probability"], frame["risk_band"], strict=True)
        ):
            probability = _probability_or_none(churn, "churn_probability", i)
            if probability is None:
                raise DataContractError(f"row {i}: churn_probability is missing")
            if band not in RISK_BANDS:
                raise DataContractError(f"row {i}: risk_band {band!r} is not one of {RISK_BANDS}")
            rows.append(
                {
                    "customer_id": str(customer_id),
                    "as_of": as_of[i],
                    "churn_probability": probability,
                    "partial_churn_probability": _probability_or_none(
                        partial[i], "partial_churn_probability", i
                    ),
                    "risk_band": str(band),
                    "model_name": model_name,
                    "model_version": model_version,
                    "scored_at": scored_at[i],
                    **{name: convert(values[i], name, i) for name, (values, convert) in loyalty.items()},
                    "drivers": drivers[i],
                }
            )
        with self.engine.begin() as connection:
            for start in range(0, len(rows), _WRITE_CHUNK):
                connection.execute(insert(ScoreRow), rows[start : start + _WRITE_CHUNK])
        return len(rows)

    def latest_score(self, customer_id: str) -> ScoreRecord | None:
        """The score with the latest ``as_of`` (then ``scored_at``) for a customer, or None."""
        query = (
            select(
                ScoreRow.customer_id,
                ScoreRow.as_of,
                ScoreRow.churn_probability,
                ScoreRow.partial_churn_probability,
                ScoreRow.risk_band,
                ScoreRow.model_name,
                ScoreRow.model_version,
                ScoreRow.scored_at,
                *_LOYALTY_COLUMNS,
                ScoreRow.drivers,
            )
            .where(ScoreRow.customer_id == customer_id)
            .order_by(ScoreRow.as_of.desc(), ScoreRow.scored_at.desc(), ScoreRow.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        base, extra, drivers = row[:8], row[8:-1], row[-1]
        loyalty = {c.key: v for c, v in zip(_LOYALTY_COLUMNS, extra, strict=True) if v is not None}
        if "tier_probabilities" in loyalty:
            loyalty["tier_probabilities"] = json.loads(loyalty["tier_probabilities"])
        stored = tuple((str(d["name"]), float(d["contribution"])) for d in json.loads(drivers or "[]"))
        return replace(ScoreRecord(*base), loyalty=loyalty, drivers=stored)

    # -- prediction log -------------------------------------------------------------------------

    def log_predictions(
        self, rows: Sequence[PredictionLogEntry], *, on_chunk: Callable[[], None] | None = None
    ) -> None:
        """Insert prediction-log rows in one transaction (executemany in chunks; ``on_chunk`` between)."""
        if not rows:
            return
        params = [
            {
                "request_id": row.request_id,
                "customer_id": row.customer_id,
                "model_version": row.model_version,
                "input_hash": row.input_hash,
                "outputs": dict(row.outputs),
                "created_at": row.created_at,
                "bundle_hash": row.bundle_hash,
                "client_request_id": row.client_request_id,
            }
            for row in rows
        ]
        with self.engine.begin() as connection:
            for start in range(0, len(params), _LOG_CHUNK):
                connection.execute(insert(PredictionLogRow), params[start : start + _LOG_CHUNK])
                if on_chunk is not None:
                    on_chunk()

    def count_predictions(self, request_id: str | None = None) -> int:
        """Number of prediction-log rows (of one request when ``request_id`` is given)."""
        query = select(func.count()).select_from(PredictionLogRow)
        if request_id is not None:
            query = query.where(PredictionLogRow.request_id == request_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def predictions(self, request_id: str) -> list[PredictionLogEntry]:
        """The prediction-log rows of one request, in insertion order."""
        query = (
            select(
                PredictionLogRow.request_id,
                PredictionLogRow.customer_id,
                PredictionLogRow.model_version,
                PredictionLogRow.input_hash,
                PredictionLogRow.outputs,
                PredictionLogRow.created_at,
                PredictionLogRow.bundle_hash,
                PredictionLogRow.client_request_id,
            )
            .where(PredictionLogRow.request_id == request_id)
            .order_by(PredictionLogRow.id)
        )
        with self.engine.connect() as connection:
            return [PredictionLogEntry(*row) for row in connection.execute(query)]

    # -- feedback -------------------------------------------------------------------------------

    def add_feedback(
        self,
        customer_id: str,
        action: str,
        taken_at: datetime,
        *,
        outcome: str | None = None,
        outcome_at: datetime | None = None,
        notes: str | None = None,
        request_id: str | None = None,
        campaign_id: str | None = None,
    ) -> int:
        """Record an action taken for a customer (and its outcome if already known); return its id.

        ``campaign_id`` links it to the stored plan whose recommendation it answers."""
        values = {
            "campaign_id": campaign_id,
            "customer_id": customer_id,
            "action": action,
            "taken_at": taken_at,
            "outcome": outcome,
            "outcome_at": outcome_at,
            "notes": notes,
            "request_id": request_id,
            "created_at": _now(),
        }
        with self.engine.begin() as connection:
            return int(connection.execute(insert(FeedbackRow).returning(FeedbackRow.id), values).scalar_one())

    def import_feedback(self, rows: Sequence[Mapping[str, Any]]) -> tuple[int, int, int]:
        """Store feedback rows (:meth:`add_feedback`'s arguments) in one transaction; return
        (stored, outcomes added, skipped). A row whose (customer_id, action, taken_at) is stored
        already is skipped, unless it brings the outcome the stored one lacks (a CRM export
        re-sent once the outcome is known): then that outcome is recorded."""
        customers = sorted({str(r["customer_id"]) for r in rows})
        key_columns = (FeedbackRow.customer_id, FeedbackRow.action, FeedbackRow.taken_at)
        now = _now()
        with self.engine.begin() as connection:
            seen: dict[tuple[str, str, datetime], tuple[int, str | None]] = {
                (c, a, _as_utc(t)): (i, o)
                for start in range(0, len(customers), 500)
                for c, a, t, i, o in connection.execute(
                    select(*key_columns, FeedbackRow.id, FeedbackRow.outcome).where(
                        FeedbackRow.customer_id.in_(customers[start : start + 500])
                    )
                )
            }
            fresh, outcomes = [], 0
            for row in rows:
                key = (str(row["customer_id"]), str(row["action"]), _as_utc(row["taken_at"]))
                if key not in seen:
                    seen[key] = (-1, row.get("outcome"))
                    fresh.append({**_FEEDBACK_DEFAULTS, **row, "created_at": now})
                    continue
                stored_id, stored_outcome = seen[key]
                if stored_id > 0 and stored_outcome is None and row.get("outcome") is not None:
                    connection.execute(
                        update(FeedbackRow)
                        .where(FeedbackRow.id == stored_id)
                        .values(outcome=row["outcome"], outcome_at=row.get("outcome_at"))
                    )
                    seen[key] = (stored_id, row["outcome"])
                    outcomes += 1
            for start in range(0, len(fresh), _WRITE_CHUNK):
                connection.execute(insert(FeedbackRow), fresh[start : start + _WRITE_CHUNK])
        return len(fresh), outcomes, len(rows) - len(fresh) - outcomes

    def record_outcome(self, feedback_id: int, outcome: str, outcome_at: datetime) -> bool:
        """Set the outcome of an existing feedback entry; False when there is no such entry."""
        query = (
            update(FeedbackRow)
            .where(FeedbackRow.id == feedback_id)
            .values(outcome=outcome, outcome_at=outcome_at)
        )
        with self.engine.begin() as connection:
            return connection.execute(query).rowcount > 0

    def get_feedback(self, feedback_id: int) -> FeedbackRecord | None:
        """One feedback entry, or None."""
        columns = [
            FeedbackRow.id,
            FeedbackRow.customer_id,
            FeedbackRow.action,
            FeedbackRow.taken_at,
            FeedbackRow.outcome,
            FeedbackRow.outcome_at,
            FeedbackRow.notes,
            FeedbackRow.request_id,
            FeedbackRow.created_at,
            FeedbackRow.campaign_id,
        ]
        with self.engine.connect() as connection:
            row = connection.execute(select(*columns).where(FeedbackRow.id == feedback_id)).first()
        return None if row is None else FeedbackRecord(**row._asdict())

    # -- campaign plans -------------------------------------------------------------------------

    def write_plan(self, plan: pd.DataFrame, model_name: str, model_version: str) -> int:
        """Store a campaign plan (``berth plan``'s rows); a campaign stored again replaces its rows."""
        missing = [c for c in _PLAN_COLUMNS if c not in plan]
        if missing:
            raise DataContractError(f"plan frame lacks columns {missing}")
        if plan.empty:
            return 0
        if plan["customer_id"].duplicated().any():
            raise DataContractError("a plan holds each customer once")
        now = _now()
        rows = [
            {
                **{c: row[c] for c in _PLAN_COLUMNS},
                "customer_id": str(row["customer_id"]),
                "as_of": pd.Timestamp(row["as_of"]).date(),
                "value_at_risk": _amount_or_none(row["value_at_risk"], "value_at_risk", i),
                "reason": None
                if pd.isna(row.get("lead_driver_sentence"))
                else row.get("lead_driver_sentence"),
                "model_name": model_name,
                "model_version": model_version,
                "created_at": now,
            }
            for i, row in enumerate(plan.to_dict("records"))
        ]
        campaigns = sorted({str(r["campaign_id"]) for r in rows})
        with self.engine.begin() as connection:
            connection.execute(delete(PlannedActionRow).where(PlannedActionRow.campaign_id.in_(campaigns)))
            for start in range(0, len(rows), _WRITE_CHUNK):
                connection.execute(insert(PlannedActionRow), rows[start : start + _WRITE_CHUNK])
        return len(rows)

    def latest_planned_action(self, customer_id: str) -> PlannedActionRecord | None:
        """The customer's row in the latest stored campaign(s) (the latest ``as_of``; among several
        that day, the one stored last), or None when the latest campaigns leave it out: an older
        campaign's action is not a recommendation any more."""
        columns = [getattr(PlannedActionRow, f.name) for f in dataclass_fields(PlannedActionRecord)]
        latest = select(func.max(PlannedActionRow.as_of)).scalar_subquery()
        query = (
            select(*columns)
            .where(PlannedActionRow.customer_id == customer_id, PlannedActionRow.as_of == latest)
            .order_by(
                PlannedActionRow.as_of.desc(), PlannedActionRow.created_at.desc(), PlannedActionRow.id.desc()
            )
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else PlannedActionRecord(**row._asdict())

    # -- API keys -------------------------------------------------------------------------------

    def create_api_key(self, scopes: Iterable[str], name: str = "") -> tuple[str, str]:
        """Create a key with ``scopes``; return ``(key_id, plaintext)`` — the plaintext is shown once."""
        wanted = sorted(set(scopes))
        if not wanted or any(scope not in API_SCOPES for scope in wanted):
            raise ValueError(f"scopes must be a non-empty subset of {API_SCOPES}, got {wanted}")
        key_id = _KEY_PREFIX + secrets.token_hex(6)
        plaintext = f"{key_id}.{secrets.token_urlsafe(32)}"
        values = {
            "id": key_id,
            "key_hash": hash_api_key(plaintext),
            "scopes": ",".join(wanted),
            "name": name[:128],
            "created_at": _now(),
        }
        with self.engine.begin() as connection:
            connection.execute(insert(ApiKeyRow), values)
        return key_id, plaintext

    def revoke_api_key(self, key_id: str) -> bool:
        """Revoke an active key; False when no active key has that id."""
        query = (
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        with self.engine.begin() as connection:
            return connection.execute(query).rowcount > 0

    def verify_api_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The record of an active key matching ``plaintext``, or None (unknown, malformed, revoked)."""
        key_id, dot, _secret = plaintext.partition(".")
        if not dot or len(plaintext) > _MAX_KEY_LENGTH or not key_id.startswith(_KEY_PREFIX):
            return None
        query = select(
            ApiKeyRow.key_hash, ApiKeyRow.name, ApiKeyRow.scopes, ApiKeyRow.created_at, ApiKeyRow.revoked_at
        ).where(ApiKeyRow.id == key_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, hash_api_key(plaintext)):
            return None
        return ApiKeyRecord(key_id, row.name, frozenset(row.scopes.split(",")), row.created_at)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key, active or revoked, oldest first."""
        query = select(
            ApiKeyRow.id, ApiKeyRow.name, ApiKeyRow.scopes, ApiKeyRow.created_at, ApiKeyRow.revoked_at
        ).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            ApiKeyRecord(row.id, row.name, frozenset(row.scopes.split(",")), row.created_at, row.revoked_at)
            for row in rows
        ]

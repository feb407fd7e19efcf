"""The contract between a loaded model and its callers (the HTTP API, ``berth score``).

A :class:`Scorer` takes customer histories as plain columns in the data-contract names and an
``as_of`` date, and returns one :class:`CustomerScore` per customer. The API never touches pandas,
XGBoost or MLflow directly: it only sees this protocol, so tests can swap in a fake scorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import numpy as np

# {"shipments": {"customer_id": [...], "shipment_date": [...], "volume": [...]},
#  "interactions": {...}, "customers": {...}} — canonical column names (berth.tables);
# a column is a list (dates as datetime.date / datetime.datetime or ISO strings, missing values as
# None), a NumPy array (numbers as float64 with NaN, dates as datetime64 with NaT) or, for text,
# a pyarrow string array (nulls for missing; the API's columnar decoder hands text over so).
ColumnTables = Mapping[str, Mapping[str, Sequence[Any] | np.ndarray]]

RISK_BANDS = ("low", "medium", "high", "critical")
# What every score carries beyond churn (the loyalty, value and taxonomy half), by kind: one list
# that the score frame, the scores table and the API responses follow.
LOYALTY_PROBABILITY_FIELDS = ("p_downgrade", "p_upgrade", "p_alive")
LOYALTY_AMOUNT_FIELDS = ("expected_shipments", "expected_revenue", "clv")
LOYALTY_LABEL_FIELDS = (
    "tier_current",
    "tier_expected",
    "activity_state",
    "loyalty_form",
    "abc_class",
    "relationship_level",
    "upgrade_stage",
)


@dataclass(frozen=True)
class Driver:
    """One readable reason behind a score: a feature group and its signed contribution (log-odds)."""

    name: str
    contribution: float
    label_en: str = ""
    label_zh: str = ""
    sentence: str | None = None  # the customer's own figures in words (when a language was asked)


@dataclass(frozen=True)
class CustomerScore:
    """The scores of one customer as of a date."""

    customer_id: str
    churn_probability: float
    risk_band: str
    partial_churn_probability: float | None = None
    drivers: tuple[Driver, ...] = field(default=())
    eligible: bool = True
    note: str | None = None
    tier_current: str | None = None
    tier_expected: str | None = None
    tier_probabilities: Mapping[str, float] | None = None
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


@dataclass(frozen=True)
class ModelInfo:
    """What a caller may know about the loaded model."""

    name: str
    version: str
    trained_at: str
    horizon_days: int
    training_cutoff: str
    content_hash: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


class Scorer(Protocol):
    """A loaded, ready-to-serve model."""

    @property
    def info(self) -> ModelInfo:
        """Name, version and validation metrics of the model."""
        ...

    def score(self, tables: ColumnTables, as_of: date, *, lang: str | None = None) -> list[CustomerScore]:
        """Score every customer found in ``tables['shipments']`` as of ``as_of``; with ``lang``
        (en or zh), each driver carries a sentence citing the customer's figures."""
        ...

"""Canonical table and column names of the data contract, and the container for loaded data.

Every module downstream of validation works on :class:`PortData` with these canonical names and
dtypes: ``customer_id`` as string, dates as ``datetime64`` (tz-naive), numbers as float64,
``damaged`` as float 0/1. Validation (:mod:`berth.contract`) is the only way raw tables get here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pandas as pd

SHIPMENTS: Final = "shipments"
INTERACTIONS: Final = "interactions"
CUSTOMERS: Final = "customers"
TABLE_NAMES: Final = (SHIPMENTS, INTERACTIONS, CUSTOMERS)

CUSTOMER_ID: Final = "customer_id"

# shipments
SHIPMENT_DATE: Final = "shipment_date"
SHIPMENT_REQUIRED: Final = (CUSTOMER_ID, SHIPMENT_DATE)
SHIPMENT_OPTIONAL: Final = (
    "shipment_id",
    "volume",
    "revenue",
    "cost",
    "delay_hours",
    "damaged",
    "cargo_type",
    "lane",
    "channel",
)

# interactions
TIMESTAMP: Final = "timestamp"
INTERACTION_TYPE: Final = "type"
INTERACTION_REQUIRED: Final = (CUSTOMER_ID, TIMESTAMP, INTERACTION_TYPE)
INTERACTION_OPTIONAL: Final = ("score", "resolved_at", "sentiment", "channel")
INTERACTION_TYPES: Final = (
    "complaint",
    "inquiry",
    "survey",
    "meeting",
    "call",
    "email",
    "claim",
    "loyalty_redemption",
)

# customers
CUSTOMER_REQUIRED: Final = (CUSTOMER_ID,)
CUSTOMER_OPTIONAL: Final = (
    "segment",
    "region",
    "since",
    "credit_rating",
    "contract",
    "loyalty_member",
    "account_manager",
)


@dataclass(frozen=True)
class PortData:
    """Validated tables in canonical form. ``interactions`` and ``customers`` are optional."""

    shipments: pd.DataFrame
    interactions: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default=())

    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` is present and has ``column`` with at least one non-null value."""
        frame = getattr(self, table)
        return frame is not None and column in frame.columns and bool(frame[column].notna().any())

"""A tiny book whose report numbers can be worked out by hand (see test_portfolio.py)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from berth.tables import PortData

AS_OF = date(2025, 12, 31)  # period 2025-01-01 .. 2025-12-31; previous 2024-01-02 .. 2024-12-31


def shipments_frame(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """Canonical shipments from (customer, date, volume, revenue) rows."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
            "shipment_date": pd.to_datetime([r[1] for r in rows]),
            "volume": np.array([r[2] for r in rows], dtype=np.float64),
            "revenue": np.array([r[3] for r in rows], dtype=np.float64),
        }
    )


def surveys_frame(rows: list[tuple[str, str, float | None, str]]) -> pd.DataFrame:
    """Canonical interactions from (customer, timestamp, score, type) rows."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
            "timestamp": pd.to_datetime([r[1] for r in rows]),
            "type": pd.Series([r[3] for r in rows], dtype="str"),
            "score": np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64),
        }
    )


# A: two shipment days this period, shipped last period too (repeat, retained)
# B: one shipment this period, shipped last period (retained)
# C: two shipments on one day this period (one shipment day: not repeat), new this period
# D, E: shipped last period only (churned)
SHIPMENTS = [
    ("A", "2024-03-01", 40.0, 400.0),
    ("A", "2025-02-01", 30.0, 300.0),
    ("A", "2025-08-01", 30.0, 300.0),
    ("B", "2024-05-01", 10.0, 100.0),
    ("B", "2025-04-01", 20.0, 200.0),
    ("C", "2025-09-01", 5.0, 50.0),
    ("C", "2025-09-01", 5.0, 50.0),
    ("D", "2024-02-01", 10.0, 100.0),
    ("D", "2024-09-01", 10.0, 100.0),
    ("E", "2024-07-01", 20.0, 150.0),
]
# Latest scores in the period: A 7 (passive), B 10 (promoter), C 9 (promoter), D 3 (detractor).
SURVEYS: list[tuple[str, str, float | None, str]] = [
    ("A", "2024-06-01 10:00", 2.0, "survey"),  # previous period: not read
    ("A", "2025-03-01 10:00", 10.0, "survey"),
    ("A", "2025-06-01 10:00", 7.0, "survey"),  # latest
    ("B", "2025-05-01 09:00", 10.0, "survey"),
    ("C", "2025-10-01 12:00", 9.0, "survey"),
    ("C", "2025-11-01 12:00", None, "survey"),  # no score: not an answer
    ("D", "2025-02-01 08:00", 3.0, "survey"),  # churned, still surveyed
    ("E", "2024-06-01 08:00", 10.0, "survey"),  # previous period only
    ("B", "2025-07-01 08:00", 1.0, "complaint"),  # not a survey
]
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": pd.Series(["A", "B", "C", "D", "E"], dtype="str"),
        "segment": pd.Series(["shipper", "shipper", "forwarder", "forwarder", None], dtype="object"),
    }
)


@pytest.fixture(scope="session")
def tiny_book() -> PortData:
    """The hand-checked book (shipments with volume and revenue, surveys, segments)."""
    return PortData(
        shipments=shipments_frame(SHIPMENTS), interactions=surveys_frame(SURVEYS), customers=CUSTOMERS.copy()
    )

"""Small request bodies built by hand."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

AS_OF = date(2025, 6, 30)


def customer(
    customer_id: str = "C-1", *, days_ago: tuple[int, ...] = (5, 40, 90), **extra: Any
) -> dict[str, Any]:
    """One customer with a shipment ``days_ago`` days before AS_OF each, an interaction and a profile."""
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "shipments": [
            {
                "shipment_date": (AS_OF - timedelta(days=d)).isoformat(),
                "volume": 10.0 + i,
                "revenue": 1000.0,
                "cost": 700.0,
                "delay_hours": 2.0,
                "damaged": False,
                "lane": "CNSHA-NLRTM",
            }
            for i, d in enumerate(days_ago)
        ],
        "interactions": [
            {
                "timestamp": "2025-06-01T10:00:00+02:00",
                "type": "complaint",
                "resolved_at": "2025-06-02T10:00:00Z",
                "sentiment": "negative",
            },
            {"timestamp": "2025-06-10T10:00:00Z", "type": "survey", "score": 7},
        ],
        "profile": {"segment": "forwarder", "region": "EU", "since": "2019-01-01", "contract": True},
    }
    body.update(extra)
    return body


def batch(n: int = 1, *, as_of: date = AS_OF) -> dict[str, Any]:
    """A scoring request for customers C-0 .. C-(n-1)."""
    return {"as_of": as_of.isoformat(), "customers": [customer(f"C-{i}") for i in range(n)]}

"""Why customers are not scored as of a date (berth score's summary)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from berth.eligibility import NEVER_SHIPPED, describe_unscored, unscored_reasons
from berth.tables import PortData


def _data() -> PortData:
    shipments = pd.DataFrame(
        {
            "customer_id": ["active", "lapsed", "lapsed", "later", "edge"],
            "shipment_date": pd.to_datetime(
                ["2025-06-01", "2024-01-01", "2024-05-31", "2025-07-01", "2024-07-01"]
            ),
        }
    )
    customers = pd.DataFrame({"customer_id": ["active", "lapsed", "later", "edge", "prospect"]})
    return PortData(shipments=shipments, customers=customers)


def test_unscored_customers_are_counted_by_reason() -> None:
    as_of = date(2025, 6, 30)
    # 'edge' shipped 364 days before as_of: inside a 365-day lookback, so the scorer should have
    # scored it; it is reported as such rather than hidden
    reasons = unscored_reasons(_data(), ["active"], as_of, 365)
    assert reasons == {
        "no shipment in the 365 days up to 2025-06-30 (the model's lookback_days)": 1,
        "first shipment after 2025-06-30": 1,
        NEVER_SHIPPED: 1,
        "eligible by the lookback rule, yet not scored": 1,
    }
    lines = describe_unscored(reasons, scored=1)
    assert lines[0] == "4 of 5 customers in the data not scored:"
    assert lines[1] == "  1  no shipment in the 365 days up to 2025-06-30 (the model's lookback_days)"


def test_a_shorter_lookback_moves_customers_to_the_lapsed_reason_and_nothing_missing_says_nothing() -> None:
    reasons = unscored_reasons(_data(), ["active"], date(2025, 6, 30), 300)
    assert reasons["no shipment in the 300 days up to 2025-06-30 (the model's lookback_days)"] == 2
    everyone = ["active", "lapsed", "later", "edge", "prospect"]
    assert unscored_reasons(_data(), everyone, date(2025, 6, 30), 365) == {}
    assert describe_unscored({}, scored=5) == []

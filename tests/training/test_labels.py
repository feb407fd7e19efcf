"""Labels: churn and partial churn from each customer's own shipments after the cutoff."""

from __future__ import annotations

from datetime import date

import numpy as np

from berth import tables as t
from berth.features import HistoryArrays, date_to_day
from berth.labels import label_customers

CUTOFF = date(2024, 6, 30)


def _history(rows: list[tuple[str, date, float]]) -> HistoryArrays:
    ids, days, volumes = zip(*rows, strict=True)
    return HistoryArrays.from_columns(
        {t.SHIPMENTS: {t.CUSTOMER_ID: list(ids), t.SHIPMENT_DATE: list(days), "volume": list(volumes)}}
    )


def test_partial_churn_compares_each_customers_own_volumes() -> None:
    """Volume after the cutoff below half the volume before it is a partial churn; no shipment
    after it is a churn (and a partial one); a 1e17 customer (the contract accepts it) does not
    swamp the volumes of the customers after it, as running sums over the table did."""
    history = _history(
        [
            ("HUGE", date(2024, 6, 1), 1e17),
            ("HUGE", date(2024, 7, 15), 1e17),
            ("HALVED", date(2024, 6, 10), 10.0),  # 10 before, 4 after: partial
            ("HALVED", date(2024, 7, 20), 4.0),
            ("STEADY", date(2024, 6, 10), 10.0),  # 10 before, 6 after: neither
            ("STEADY", date(2024, 7, 20), 6.0),
            ("GONE", date(2024, 6, 20), 3.0),  # nothing after: churned
        ]
    )
    codes = np.arange(history.n_customers)
    labels = label_customers(history, codes, date_to_day(CUTOFF), 90, 0.5)
    by_id = dict(
        zip(history.customer_ids, zip(labels.churned, labels.partial_churned, strict=True), strict=True)
    )
    assert by_id == {"HUGE": (0, 0), "HALVED": (0, 1), "STEADY": (0, 0), "GONE": (1, 1)}

"""Who is scored as of a date, and why the others are not, in words a user can act on.

A customer is scored as of ``as_of`` when they shipped in ``(as_of - lookback_days, as_of]``
(the rule of :func:`berth.features.eligible_codes`). Everyone else the data names falls under one
reason: shipped only before that window, shipped only after ``as_of``, or never shipped (only in
the customers or interactions table).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd

from berth.tables import CUSTOMER_ID, SHIPMENT_DATE, PortData

__all__ = ["describe_unscored", "unscored_reasons"]


def _lapsed(as_of: date, lookback_days: int) -> str:
    return f"no shipment in the {lookback_days} days up to {as_of} (the model's lookback_days)"


def _not_yet(as_of: date) -> str:
    return f"first shipment after {as_of}"


NEVER_SHIPPED = "no shipment at all (only in the customers or interactions table)"
OTHER = "eligible by the lookback rule, yet not scored"


def unscored_reasons(
    data: PortData, scored_ids: Iterable[str], as_of: date, lookback_days: int
) -> dict[str, int]:
    """Customers of ``data`` not among ``scored_ids``, counted by reason (largest first)."""
    scored = pd.Index(pd.Series(list(scored_ids), dtype="str").unique())
    frames = [data.shipments, data.customers, data.interactions]
    known = pd.Index(
        pd.concat([f[CUSTOMER_ID].astype("str") for f in frames if f is not None], ignore_index=True)
        .dropna()
        .unique()
    )
    missing = known.difference(scored)
    if missing.empty:
        return {}
    ships = data.shipments[[CUSTOMER_ID, SHIPMENT_DATE]]
    ships = ships[ships[CUSTOMER_ID].astype("str").isin(missing)]
    day = ships[SHIPMENT_DATE].dt.normalize()
    end = pd.Timestamp(as_of)
    ids = ships[CUSTOMER_ID].astype("str")
    last_by = day[day <= end].groupby(ids[day <= end]).max()
    shipped_later = pd.Index(ids[day > end].unique())
    reasons: dict[str, int] = {}

    def add(reason: str, count: int) -> None:
        if count:
            reasons[reason] = count

    lapsed = int((last_by <= end - pd.Timedelta(days=lookback_days)).sum())
    add(_lapsed(as_of, lookback_days), lapsed)
    add(_not_yet(as_of), len(shipped_later.difference(last_by.index)))
    add(NEVER_SHIPPED, len(missing.difference(pd.Index(ids.unique()))))
    add(OTHER, len(missing) - sum(reasons.values()))
    return dict(sorted(reasons.items(), key=lambda item: -item[1]))


def describe_unscored(reasons: dict[str, int], scored: int) -> list[str]:
    """Lines for the console: the total not scored, then one line per reason."""
    if not reasons:
        return []
    total = sum(reasons.values())
    width = len(f"{max(reasons.values()):,}")
    return [
        f"{total:,} of {total + scored:,} customers in the data not scored:",
        *(f"  {count:>{width},}  {reason}" for reason, count in reasons.items()),
    ]

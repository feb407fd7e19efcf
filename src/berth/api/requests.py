"""Build ``POST /v1/scores`` bodies from validated tables (CLI ``berth request``, tests, benchmarks)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd

from berth import tables as t
from berth.tables import CUSTOMER_ID, SHIPMENT_DATE, TIMESTAMP, PortData

# The request's per-customer fields are the contract's columns without customer_id.
_SHIPMENT_FIELDS = (t.SHIPMENT_DATE, *t.SHIPMENT_OPTIONAL)
_INTERACTION_FIELDS = (t.TIMESTAMP, t.INTERACTION_TYPE, *t.INTERACTION_OPTIONAL)
_PROFILE_FIELDS = t.CUSTOMER_OPTIONAL
_DATE_FIELDS = {"shipment_date", "since"}
_BOOL_FIELDS = {"damaged", "contract", "loyalty_member"}


def _json_value(name: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if name in _DATE_FIELDS else value.isoformat()
    if name in _BOOL_FIELDS:
        return bool(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def _records(frame: pd.DataFrame, fields: Iterable[str]) -> list[dict[str, Any]]:
    present = [f for f in fields if f in frame.columns]
    out = []
    for row in frame[present].itertuples(index=False):
        record = {name: _json_value(name, value) for name, value in zip(present, row, strict=True)}
        out.append({k: v for k, v in record.items() if v is not None})
    return out


def request_body(data: PortData, customer_ids: Iterable[str], as_of: date) -> dict[str, Any]:
    """The JSON body scoring ``customer_ids`` as of ``as_of`` with their history up to that day."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    customers = []
    for customer_id in customer_ids:
        ships = data.shipments[
            (data.shipments[CUSTOMER_ID] == customer_id) & (data.shipments[SHIPMENT_DATE] < end)
        ]
        if ships.empty:
            continue
        entry: dict[str, Any] = {"customer_id": customer_id, "shipments": _records(ships, _SHIPMENT_FIELDS)}
        if data.interactions is not None:
            inter = data.interactions[
                (data.interactions[CUSTOMER_ID] == customer_id) & (data.interactions[TIMESTAMP] < end)
            ]
            if "resolved_at" in inter.columns:
                inter = inter.assign(resolved_at=inter["resolved_at"].where(inter["resolved_at"] < end))
            entry["interactions"] = _records(inter, _INTERACTION_FIELDS)
        if data.customers is not None:
            profile = data.customers[data.customers[CUSTOMER_ID] == customer_id]
            if not profile.empty:
                (record,) = _records(profile.head(1), _PROFILE_FIELDS)
                entry["profile"] = record
        customers.append(entry)
    return {"as_of": as_of.isoformat(), "customers": customers}

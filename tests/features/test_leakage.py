"""No leakage: data after a cutoff changes no feature at that cutoff and no label that ends before it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.features import (
    INPUT_COLUMNS,
    FeatureSpec,
    HistoryArrays,
    build_features,
    date_to_day,
    plan_features,
)
from berth.features import _history as history_module
from berth.labels import label_customers
from berth.tables import PortData

from .compare import assert_same_history

START = date(2024, 1, 1)
TYPES = ["complaint", "survey", "call", "meeting", "claim", "email", "loyalty_redemption"]


def _history(seed: int, n_customers: int, days: int) -> PortData:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(n_customers * 3, n_customers * 30))
    ids = [f"C{i}" for i in rng.integers(0, n_customers, n)]
    ship_days = rng.integers(0, days, n)
    shipments = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "shipment_date": pd.to_datetime(START) + pd.to_timedelta(ship_days, unit="D"),
            "volume": rng.gamma(2.0, 3.0, n),
            "revenue": rng.gamma(2.0, 30.0, n),
            "cost": rng.gamma(2.0, 20.0, n),
            "delay_hours": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(12.0, n)),
            "damaged": (rng.random(n) < 0.05).astype(float),
            "cargo_type": rng.choice(["reefer", "dry", "bulk"], n),
            "lane": rng.choice(["a", "b"], n),
        }
    )
    m = int(rng.integers(1, n_customers * 10))
    opened = pd.to_datetime(START) + pd.to_timedelta(rng.integers(0, days * 24, m), unit="h")
    kinds = rng.choice(TYPES, m)
    resolved = opened + pd.to_timedelta(rng.integers(1, 24 * 60, m), unit="h")
    interactions = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in rng.integers(0, n_customers, m)], dtype="str"),
            "timestamp": opened,
            "type": kinds,
            "score": np.where(kinds == "survey", rng.integers(0, 11, m), np.nan),
            "resolved_at": pd.Series(resolved).where((kinds == "complaint") & (rng.random(m) < 0.7)),
            "sentiment": rng.uniform(-1, 1, m),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in range(n_customers)], dtype="str"),
            "segment": rng.choice(["shipper", "forwarder"], n_customers),
            "since": pd.to_datetime(START) - pd.to_timedelta(rng.integers(0, 900, n_customers), unit="D"),
            "contract": rng.choice(["spot", "annual"], n_customers),
            "loyalty_member": rng.random(n_customers) < 0.5,
        }
    )
    return PortData(shipments=shipments, interactions=interactions, customers=customers)


def _tamper_after(data: PortData, cutoff: date, seed: int) -> PortData:
    """Change everything after the cutoff: new, edited and newly resolved events, new customers."""
    rng = np.random.default_rng(seed + 1)
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    ships = data.shipments.copy()
    later = ships["shipment_date"] >= end
    ships.loc[later, "volume"] = ships.loc[later, "volume"] * 10 + 1
    ships.loc[later, "delay_hours"] = 500.0
    extra_n = int(rng.integers(1, 40))
    extra = pd.DataFrame(
        {
            "customer_id": pd.Series(
                rng.choice([*ships["customer_id"].unique(), "NEW1"], extra_n), dtype="str"
            ),
            "shipment_date": end + pd.to_timedelta(rng.integers(0, 200, extra_n), unit="D"),
            "volume": rng.gamma(2.0, 3.0, extra_n),
            "revenue": 1.0,
            "cost": 1.0,
            "delay_hours": 99.0,
            "damaged": 1.0,
            "cargo_type": "new",
            "lane": "z",
        }
    )
    inter = data.interactions.copy()
    open_before = (inter["timestamp"] < end) & (inter["type"] == "complaint")
    # complaints open at the cutoff get resolved later: still unresolved *at* the cutoff
    inter.loc[open_before & inter["resolved_at"].isna(), "resolved_at"] = end + pd.Timedelta(hours=5)
    inter.loc[inter["timestamp"] >= end, "score"] = 0.0
    extra_inter = pd.DataFrame(
        {
            "customer_id": pd.Series(rng.choice(inter["customer_id"].unique(), 5), dtype="str"),
            "timestamp": end + pd.to_timedelta(rng.integers(0, 500, 5), unit="h"),
            "type": ["complaint", "survey", "claim", "meeting", "call"],
            "score": [np.nan, 0.0, np.nan, np.nan, np.nan],
            "resolved_at": pd.NaT,
            "sentiment": -1.0,
        }
    )
    return PortData(
        shipments=pd.concat([ships, extra], ignore_index=True),
        interactions=pd.concat([inter, extra_inter], ignore_index=True),
        customers=data.customers,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    n_customers=st.integers(1, 25),
    cutoff_offset=st.integers(60, 600),
)
def test_data_after_cutoff_changes_no_feature(seed: int, n_customers: int, cutoff_offset: int) -> None:
    data = _history(seed, n_customers, 730)
    cutoff = START + timedelta(days=cutoff_offset)
    spec = plan_features(
        HistoryArrays.from_port_data(data), date_to_day(cutoff), FeatureSpec(horizon_days=90)
    )
    before = build_features(data, cutoff, spec).sort_values("customer_id").reset_index(drop=True)
    after = build_features(_tamper_after(data, cutoff, seed), cutoff, spec)
    after = after.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-9)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), n_customers=st.integers(1, 25), horizon=st.sampled_from([30, 90, 180]))
def test_data_after_cutoff_changes_no_earlier_label(seed: int, n_customers: int, horizon: int) -> None:
    data = _history(seed, n_customers, 730)
    cutoff = START + timedelta(days=500)
    tampered = _tamper_after(data, cutoff, seed)
    label_cutoff = date_to_day(cutoff) - horizon  # its label window ends exactly at the cutoff

    def labels(port: PortData) -> pd.DataFrame:
        history = HistoryArrays.from_port_data(port)
        codes = np.arange(history.n_customers)
        codes = codes[history.shipments.bounds(codes, label_cutoff) > history.shipments.starts(codes)]
        out = label_customers(history, codes, label_cutoff, horizon, 0.5)
        return (
            pd.DataFrame(
                {
                    "customer_id": history.customer_ids[codes].astype(str),
                    "churned": out.churned,
                    "partial": out.partial_churned,
                }
            )
            .sort_values("customer_id")
            .reset_index(drop=True)
        )

    pd.testing.assert_frame_equal(labels(data), labels(tampered))


def _filtered_to(data: PortData, cutoff: date) -> PortData:
    """The tables as known on ``cutoff``, filtered row by row: later events dropped, later
    resolutions unknown. The plain-pandas statement of what ``known_until`` must mean."""
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    ships = data.shipments[[c for c in INPUT_COLUMNS["shipments"] if c in data.shipments.columns]]
    ships = ships[ships["shipment_date"] < end]
    inter = data.interactions
    if inter is not None:
        inter = inter[[c for c in INPUT_COLUMNS["interactions"] if c in inter.columns]]
        inter = inter[inter["timestamp"] < end]
        if "resolved_at" in inter.columns:
            inter = inter.assign(resolved_at=inter["resolved_at"].where(inter["resolved_at"] < end))
    return PortData(shipments=ships, interactions=inter, customers=data.customers)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(0, 10_000), n_customers=st.integers(1, 25), cutoff_offset=st.integers(-5, 760))
def test_known_until_is_the_history_of_the_tables_filtered_to_the_day(
    seed: int, n_customers: int, cutoff_offset: int
) -> None:
    """Training masks later events inside the history build instead of copying filtered tables:
    it must be exactly the history of the filtered tables, and blind to anything after the day."""
    data = _history(seed, n_customers, 730)
    cutoff = START + timedelta(days=cutoff_offset)
    known = HistoryArrays.from_port_data(data, known_until=cutoff)
    assert_same_history(known, HistoryArrays.from_port_data(_filtered_to(data, cutoff)))
    assert_same_history(
        known, HistoryArrays.from_port_data(_tamper_after(data, cutoff, seed), known_until=cutoff)
    )


def test_tampering_is_not_a_no_op() -> None:
    """The leakage tests would pass trivially if the tampering changed nothing visible."""
    data = _history(3, 10, 730)
    cutoff = START + timedelta(days=300)
    spec = plan_features(
        HistoryArrays.from_port_data(data), date_to_day(cutoff), FeatureSpec(horizon_days=90)
    )
    later = cutoff + timedelta(days=200)
    before = build_features(data, later, spec).set_index("customer_id")
    after = build_features(_tamper_after(data, cutoff, 3), later, spec).set_index("customer_id")
    shared = before.index.intersection(after.index)
    assert not np.allclose(before.loc[shared, "volume_90"], after.loc[shared, "volume_90"])


@pytest.mark.parametrize("dtype", ["object", "category"])
def test_text_columns_of_any_dtype_give_the_same_history(dtype: str) -> None:
    """Arrow-backed strings (pandas' default) take a faster encoding path than object or
    categorical columns: both must give the same history."""
    data = _history(11, 20, 730)
    text = {"shipments": ("customer_id", "cargo_type", "lane"), "interactions": ("customer_id", "type")}
    recast = PortData(
        shipments=data.shipments.astype(dict.fromkeys(text["shipments"], dtype)),
        interactions=data.interactions.astype(dict.fromkeys(text["interactions"], dtype)),
        customers=data.customers,
    )
    assert data.shipments["customer_id"].dtype == "str"
    cutoff = START + timedelta(days=400)
    assert_same_history(
        HistoryArrays.from_port_data(data, known_until=cutoff),
        HistoryArrays.from_port_data(recast, known_until=cutoff),
    )


def test_parallel_gathers_give_the_same_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large tables gather their columns on threads; forced on for a small book, nothing changes."""
    data = _history(5, 20, 730)
    cutoff = START + timedelta(days=500)
    sequential = HistoryArrays.from_port_data(data, known_until=cutoff)
    monkeypatch.setattr(history_module, "_PARALLEL_MIN_EVENTS", 0)
    assert_same_history(HistoryArrays.from_port_data(data, known_until=cutoff), sequential)


def test_known_until_drops_shipments_without_a_customer_id() -> None:
    """A missing id must not be credited to another customer when later shipments are masked."""
    ships = pd.DataFrame(
        {
            "customer_id": pd.Series(["a", None, "a"], dtype="str"),
            "shipment_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-03-01"]),
        }
    )
    inter = pd.DataFrame(
        {
            "customer_id": pd.Series(["z", "a"], dtype="str"),
            "timestamp": pd.to_datetime(["2024-01-03", "2024-03-05"]),
            "type": ["call", "call"],
        }
    )
    data = PortData(ships, inter)
    cutoff = date(2024, 2, 1)
    known = HistoryArrays.from_port_data(data, known_until=cutoff)
    assert known.customer_ids.tolist() == ["a"]
    assert known.n_events == 2  # the shipment with an id and the interaction before the cutoff
    assert_same_history(known, HistoryArrays.from_port_data(_filtered_to(data, cutoff)))


def test_mixed_arrow_string_types_fall_back_to_pandas() -> None:
    """Ids as Arrow ``string`` in one table and pandas' ``str`` (large_string) in the other."""
    data = _history(2, 10, 400)
    interactions = data.interactions.assign(
        customer_id=data.interactions["customer_id"].astype(pd.ArrowDtype(pa.string()))
    )
    mixed = PortData(data.shipments, interactions, data.customers)
    assert_same_history(HistoryArrays.from_port_data(mixed), HistoryArrays.from_port_data(data))

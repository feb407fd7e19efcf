"""Classifying customers from a history: inputs, fallbacks, unknowns and point in time."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from berth.features import HistoryArrays, date_to_day
from berth.tables import PortData
from berth.taxonomy import (
    ACTIVITY_STATES,
    OUTPUT_COLUMNS,
    TaxonomyConfig,
    TaxonomyReference,
    classify_customers,
    fit_taxonomy_reference,
)

START = date(2023, 1, 1)
CUTOFF = date(2024, 12, 31)


def _day(offset: int) -> pd.Timestamp:
    return pd.Timestamp(START) + pd.Timedelta(days=offset)


def _shipments(rows: list[tuple[str, int]], **values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series([c for c, _ in rows], dtype="str"),
            "shipment_date": pd.to_datetime([_day(d) for _, d in rows]),
            **{name: np.asarray(column, dtype=np.float64) for name, column in values.items()},
        }
    )


def _codes(history: HistoryArrays, ids: list[str]) -> np.ndarray:
    return pd.Index(history.customer_ids).get_indexer(ids)


def _classify(
    data: PortData, ids: list[str], config: TaxonomyConfig | None = None, cutoff: date = CUTOFF
) -> tuple[pd.DataFrame, TaxonomyReference]:
    history = HistoryArrays.from_port_data(data)
    reference = fit_taxonomy_reference(history, date_to_day(cutoff), config)
    frame = classify_customers(history, _codes(history, ids), date_to_day(cutoff), reference, config)
    return frame, reference


def _random_book(seed: int, n_customers: int = 40, days: int = 900) -> PortData:
    rng = np.random.default_rng(seed)
    n = n_customers * 25
    ship_days = rng.integers(0, days, n)
    shipments = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in rng.integers(0, n_customers, n)], dtype="str"),
            "shipment_date": pd.to_datetime(START) + pd.to_timedelta(ship_days, unit="D"),
            "volume": rng.gamma(2.0, 3.0, n),
            "revenue": rng.gamma(2.0, 30.0, n),
            "cost": rng.gamma(2.0, 20.0, n),
        }
    )
    m = n_customers * 8
    kinds = rng.choice(["complaint", "survey", "call"], m)
    opened = pd.to_datetime(START) + pd.to_timedelta(rng.integers(0, days * 24, m), unit="h")
    resolved = opened + pd.to_timedelta(rng.integers(1, 24 * 90, m), unit="h")
    interactions = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in rng.integers(0, n_customers, m)], dtype="str"),
            "timestamp": opened,
            "type": kinds,
            "score": np.where(kinds == "survey", rng.integers(0, 11, m), np.nan),
            "resolved_at": pd.Series(resolved).where((kinds == "complaint") & (rng.random(m) < 0.6)),
            "sentiment": rng.uniform(-1, 1, m),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in range(n_customers)], dtype="str"),
            "segment": rng.choice(["shipper", "forwarder"], n_customers),
        }
    )
    return PortData(shipments=shipments, interactions=interactions, customers=customers)


def test_segment_gap_is_used_when_a_customer_has_too_few_gaps() -> None:
    weekly = [(f"W{k}", d) for k in range(3) for d in range(0, 730, 7)]
    monthly = [(f"M{k}", d) for k in range(3) for d in range(0, 730, 30)]
    newcomers = [("NW", 700), ("NW", 707), ("NM", 700), ("NM", 707), ("NX", 700), ("NX", 707)]
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series(["W0", "W1", "W2", "M0", "M1", "M2", "NW", "NM", "NX"], dtype="str"),
            "segment": ["liner"] * 3 + ["forwarder"] * 3 + ["liner", "forwarder", "agent"],
        }
    )
    data = PortData(shipments=_shipments(weekly + monthly + newcomers), customers=customers)
    frame, reference = _classify(data, ["W0", "M0", "NW", "NM", "NX"])
    assert reference.segment_gap_days == {"forwarder": 30.0, "liner": 7.0}
    assert reference.global_gap_days == pytest.approx(18.5)  # median of 7, 7, 7, 30, 30, 30
    # the newcomers' one gap is not enough (min_gaps 3): their segment's gap, or the global one
    assert frame["usual_gap_days"].tolist() == [7.0, 30.0, 7.0, 30.0, 18.5]
    # last shipment day 707, cutoff day 730: 23 days ago; > 1.5 x 7 but < 1.5 x 30
    assert frame["activity_state"].tolist()[2:] == ["half_asleep", "active", "active"]


def test_unknown_attitude_and_unknown_margin_without_interactions_or_costs() -> None:
    rows = [("A", d) for d in range(0, 730, 10)] + [("B", d) for d in range(0, 730, 20)]
    data = PortData(shipments=_shipments(rows, revenue=[100.0] * len(rows)))
    frame, reference = _classify(data, ["A", "B"])
    assert reference.margin_cuts is None
    assert frame["attitude"].isna().all()
    assert frame["loyalty_form"].tolist() == ["unknown_attitude", "unknown_attitude"]
    assert frame["relationship_level"].tolist() == ["unknown", "unknown"]
    assert frame["margin_rate"].isna().all()
    assert frame["revenue_12m"].tolist() == [3600.0, 1800.0]  # days 366..730: 36 and 18 shipments


def test_margin_is_unknown_for_a_customer_without_revenue_in_the_window() -> None:
    rows = [("A", d) for d in range(0, 730, 10)] + [("OLD", 10), ("OLD", 20)]
    n = len(rows)
    data = PortData(shipments=_shipments(rows, revenue=[100.0] * n, cost=[60.0] * n))
    frame, _ = _classify(data, ["A", "OLD"])
    assert frame["margin_rate"].tolist()[0] == pytest.approx(0.4)
    assert np.isnan(frame["margin_rate"].tolist()[1])
    assert frame["relationship_level"].tolist()[1] == "unknown"
    assert frame["relationship_level"].tolist()[0] != "unknown"


def test_attitude_from_surveys_and_open_complaints() -> None:
    rows = [("A", d) for d in range(0, 730, 10)] + [("B", d) for d in range(0, 730, 10)]
    interactions = pd.DataFrame(
        {
            "customer_id": pd.Series(["A", "B", "B", "B"], dtype="str"),
            "timestamp": pd.to_datetime([_day(700), _day(700), _day(710), _day(720)]),
            "type": ["survey", "survey", "complaint", "complaint"],
            "score": [9.0, 6.0, np.nan, np.nan],
            # B's second complaint is resolved only after the cutoff: open at the cutoff
            "resolved_at": pd.Series([pd.NaT, pd.NaT, _day(712), _day(740)], dtype="datetime64[ns]"),
        }
    )
    data = PortData(shipments=_shipments(rows), interactions=interactions)
    frame, _ = _classify(data, ["A", "B"])
    # A: survey 9 -> 0.9 (weight 0.4), a promoter -> NPS 1 -> 1.0 (weight 0.3); no sentiment
    # B: survey 6 -> 0.6, a detractor -> NPS -1 -> 0.0; two complaints, one of them open
    a, b = (0.4 * 0.9 + 0.3 * 1.0) / 0.7, (0.4 * 0.6 + 0.3 * 0.0) / 0.7
    assert frame["attitude"].tolist() == pytest.approx([a, b - 2 * 0.05 - 0.2 * 0.5])
    assert frame["loyalty_form"].tolist() == ["true", "spurious"]


def test_customers_without_shipments_yet_are_potential() -> None:
    rows = [("A", d) for d in range(0, 730, 10)] + [("LATE", 740)]
    data = PortData(shipments=_shipments(rows))
    history = HistoryArrays.from_port_data(data)
    cutoff = date_to_day(CUTOFF)
    reference = fit_taxonomy_reference(history, cutoff)
    frame = classify_customers(history, np.array([*_codes(history, ["A", "LATE"]), -1]), cutoff, reference)
    assert frame["upgrade_stage"].tolist() == ["loyal", "potential", "potential"]  # A: 730 days, regular
    assert frame["activity_state"].tolist() == ["active", "no_shipments", "no_shipments"]
    assert frame.index.tolist() == ["A", "LATE", None]


def test_two_column_data_classifies_by_shipment_count() -> None:
    # shipments in the year to the cutoff: BIG 365, MID 24, twenty S customers 1 each (409):
    # BIG holds 89% (A), MID takes the cumulative share to 95.1% (B), the rest are C
    rows = (
        [("BIG", d) for d in range(0, 731)]
        + [("MID", d) for d in range(0, 731, 15)]
        + [(f"S{k}", d) for k in range(20) for d in (100, 700)]
    )
    data = PortData(shipments=_shipments(rows))
    ids = ["BIG", "MID", "S0"]
    frame, reference = _classify(data, ids)
    assert reference.value_basis == "shipments"
    assert frame["abc_class"].tolist() == ["A", "B", "C"]
    assert frame["shipments_12m"].tolist() == [365.0, 24.0, 1.0]
    assert frame["revenue_12m"].isna().all()
    assert frame["relationship_level"].tolist() == ["unknown"] * 3
    assert frame["loyalty_form"].tolist() == ["unknown_attitude"] * 3
    assert set(frame["activity_state"]) <= set(ACTIVITY_STATES[:4])


def test_output_columns_and_categories() -> None:
    frame, _ = _classify(_random_book(3), [f"C{i}" for i in range(10)])
    assert tuple(frame.columns) == OUTPUT_COLUMNS
    assert OUTPUT_COLUMNS[:5] == (
        "activity_state",
        "loyalty_form",
        "abc_class",
        "relationship_level",
        "upgrade_stage",
    )
    for name in ("days_since_last_shipment", "usual_gap_days", "attitude", "revenue_12m", "margin_rate"):
        assert frame[name].dtype == np.float64
    assert isinstance(frame["activity_state"].dtype, pd.CategoricalDtype)
    assert list(frame["activity_state"].cat.categories) == list(ACTIVITY_STATES)


def _tamper_after(data: PortData, cutoff: date, seed: int) -> PortData:
    """New and edited shipments and interactions after the cutoff, and later complaint resolutions."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    ships = data.shipments.copy()
    later = ships["shipment_date"] >= end
    ships.loc[later, "revenue"] *= 10.0
    extra = ships.sample(30, random_state=seed).assign(
        shipment_date=end + pd.to_timedelta(rng.integers(0, 60, 30), unit="D")
    )
    inter = data.interactions
    assert inter is not None
    inter = inter.copy()
    open_then = (inter["type"] == "complaint") & ~(inter["resolved_at"] < end)
    inter.loc[open_then, "resolved_at"] = end + pd.Timedelta(hours=1)  # open at the cutoff: resolved now
    new_inter = inter.sample(30, random_state=seed).assign(
        timestamp=end + pd.to_timedelta(rng.integers(0, 60 * 24, 30), unit="h"),
        score=10.0,
        resolved_at=pd.Series(pd.NaT, index=range(30), dtype="datetime64[ns]").to_numpy(),
    )
    return PortData(
        shipments=pd.concat([ships, extra], ignore_index=True),
        interactions=pd.concat([inter, new_inter], ignore_index=True),
        customers=data.customers,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_events_after_the_cutoff_change_nothing(seed: int) -> None:
    cutoff = START + timedelta(days=600)
    data = _random_book(seed)
    tampered = _tamper_after(data, cutoff, seed)
    day = date_to_day(cutoff)
    ids = [f"C{i}" for i in range(40)]
    base = HistoryArrays.from_port_data(data)
    reference = fit_taxonomy_reference(base, day)
    expected = classify_customers(base, _codes(base, ids), day, reference)
    for history in (
        HistoryArrays.from_port_data(tampered),
        HistoryArrays.from_port_data(data, known_until=cutoff),
    ):
        got = classify_customers(history, _codes(history, ids), day, reference)
        pd.testing.assert_frame_equal(got, expected)
        assert fit_taxonomy_reference(history, day) == reference
    # and the tampering is visible later on: the test would notice a leak
    later = day + 60
    assert not classify_customers(
        HistoryArrays.from_port_data(tampered), _codes(base, ids), later, reference
    ).equals(classify_customers(base, _codes(base, ids), later, reference))


def test_reference_round_trips_through_json() -> None:
    history = HistoryArrays.from_port_data(_random_book(5))
    reference = fit_taxonomy_reference(history, date_to_day(CUTOFF))
    assert reference.margin_cuts is not None
    restored = TaxonomyReference.from_dict(json.loads(json.dumps(reference.to_dict(), allow_nan=False)))
    assert restored == reference
    empty = TaxonomyReference(0, "shipments", (float("inf"),) * 2, (float("inf"),) * 2, None, 30.0)
    assert TaxonomyReference.from_dict(json.loads(json.dumps(empty.to_dict(), allow_nan=False))) == empty


def test_one_customer_at_serving_matches_the_whole_book() -> None:
    data = _random_book(7)
    history = HistoryArrays.from_port_data(data)
    day = date_to_day(CUTOFF)
    reference = fit_taxonomy_reference(history, day)
    book = classify_customers(history, np.arange(history.n_customers), day, reference)
    one_id = str(history.customer_ids[5])
    assert data.interactions is not None
    assert data.customers is not None
    alone = PortData(
        shipments=data.shipments[data.shipments["customer_id"] == one_id],
        interactions=data.interactions[data.interactions["customer_id"] == one_id],
        customers=data.customers[data.customers["customer_id"] == one_id],
    )
    single = HistoryArrays.from_port_data(alone)
    got = classify_customers(single, np.array([0]), day, reference)
    pd.testing.assert_frame_equal(got, book.iloc[[5]])

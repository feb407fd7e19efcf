"""Portfolio tables: the numbers worked out by hand on a tiny book, thin books, and point in time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from berth.reports.portfolio import (
    TABLE_NAMES,
    PortfolioConfig,
    PortfolioReport,
    concentration_measures,
    gini,
    lorenz_curve,
    portfolio_report,
)
from berth.tables import PortData

from .conftest import AS_OF, CUSTOMERS, SHIPMENTS, SURVEYS, shipments_frame, surveys_frame


def _row(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


# -- concentration measures -----------------------------------------------------------------------


def test_concentration_measures_by_hand() -> None:
    # shares 2/3, 2/9, 1/9
    out = concentration_measures(
        [600.0, 200.0, 100.0], top_shares=(0.01, 0.2, 0.5, 1.0), top_counts=(1, 2, 5)
    )
    assert out["customers"] == 3
    assert out["total"] == 900
    assert out["hhi"] == pytest.approx((2 / 3) ** 2 + (2 / 9) ** 2 + (1 / 9) ** 2)  # 41/81
    assert out["hhi_points"] == pytest.approx(10_000 * 41 / 81)
    assert out["equivalent_customers"] == pytest.approx(81 / 41)
    assert out["top_1pct_share"] == pytest.approx(2 / 3)  # at least one customer
    assert out["top_20pct_share"] == pytest.approx(2 / 3)  # ceil(0.2 × 3) = 1 customer
    assert out["top_50pct_share"] == pytest.approx(8 / 9)  # ceil(1.5) = 2 customers
    assert out["top_100pct_share"] == pytest.approx(1.0)
    assert out["cr1"] == pytest.approx(2 / 3)
    assert out["cr2"] == pytest.approx(8 / 9)
    assert out["cr5"] == pytest.approx(1.0)  # fewer customers than k: all of them
    # Gini = sum |xi - xj| / (2 n² mean) = 2000 / 5400
    assert out["gini"] == pytest.approx(10 / 27)


def test_equal_customers_and_one_customer() -> None:
    equal = concentration_measures([5.0] * 10)
    assert equal["gini"] == pytest.approx(0.0)
    assert equal["hhi"] == pytest.approx(0.1)
    assert equal["top_10pct_share"] == pytest.approx(0.1)
    alone = concentration_measures([0.0, 0.0, 0.0, 7.0])
    assert alone["hhi"] == pytest.approx(1.0)
    assert alone["gini"] == pytest.approx(3 / 4)  # (n - 1) / n: the most unequal n customers
    empty = concentration_measures([])
    assert math.isnan(empty["hhi"])
    assert math.isnan(empty["gini"])


def test_lorenz_curve_runs_from_origin_to_one_and_matches_gini() -> None:
    values = np.array([600.0, 200.0, 100.0])
    x, y = lorenz_curve(values)
    np.testing.assert_allclose(x, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(y, [0, 1 / 9, 1 / 3, 1])
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
    assert gini(values) == pytest.approx(1 - 2 * area)
    gx, gy = lorenz_curve(np.arange(1000.0), points=11)
    assert gx.shape == gy.shape == (11,)
    assert gy[0] == 0
    assert gy[-1] == pytest.approx(1)
    assert np.all(np.diff(gy) >= 0)


# -- the tiny book ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tiny_book: PortData) -> PortfolioReport:
    return portfolio_report(tiny_book, AS_OF)


def test_every_table_is_there(report: PortfolioReport) -> None:
    assert set(report.tables) == set(TABLE_NAMES)
    assert report.segments == ("all", "forwarder", "shipper", "unknown")
    assert str(report.period_start) == "2025-01-01"
    assert str(report.previous_start) == "2024-01-02"
    for table in report.tables.values():
        if len(table):
            assert table.columns[0] == "segment"


def test_churn_retention_and_repeat_by_hand(report: PortfolioReport) -> None:
    summary = report.tables["summary"]
    book = _row(summary, segment="all")
    assert book["customers"] == 5
    assert book["previous_customers"] == 4  # A, B, D, E
    assert book["churned_customers"] == 2  # D, E
    assert book["churn_rate"] == pytest.approx(0.5)
    assert book["retention_rate"] == pytest.approx(0.5)
    assert book["active_customers"] == 3  # A, B, C
    assert book["new_or_returning_customers"] == 1  # C
    assert book["repeat_customers"] == 1  # A; C shipped twice on one day
    assert book["repeat_rate"] == pytest.approx(1 / 3)
    assert book["revenue"] == pytest.approx(900)
    assert book["volume"] == pytest.approx(90)
    shipper, forwarder = _row(summary, segment="shipper"), _row(summary, segment="forwarder")
    assert shipper["churn_rate"] == 0
    assert shipper["repeat_rate"] == pytest.approx(0.5)
    assert forwarder["churn_rate"] == 1.0
    assert forwarder["churned_customers"] == 1
    assert _row(summary, segment="unknown")["churned_customers"] == 1  # E: no segment in the table


def test_satisfaction_and_nps_by_hand(report: PortfolioReport) -> None:
    book = _row(report.tables["summary"], segment="all")
    # latest answers in the period: A 7, B 10, C 9, D 3 (E answered only last period)
    assert book["surveyed_customers"] == 4  # C
    assert book["satisfied_customers"] == 2  # S: B, C (score >= 8)
    assert book["satisfaction_rate"] == pytest.approx(0.5)  # T = S / C
    assert (book["promoters"], book["passives"], book["detractors"]) == (2, 1, 1)
    assert book["nps"] == pytest.approx(25.0)  # 50% − 25%
    shipper = _row(report.tables["summary"], segment="shipper")  # A 7, B 10
    assert shipper["nps"] == pytest.approx(50.0)
    assert shipper["satisfaction_rate"] == pytest.approx(0.5)


def test_satisfaction_threshold_is_a_setting(tiny_book: PortData) -> None:
    lenient = portfolio_report(tiny_book, AS_OF, report=PortfolioConfig(satisfied_score=7))
    assert _row(lenient.tables["summary"], segment="all")["satisfaction_rate"] == pytest.approx(0.75)


def test_concentration_by_hand(report: PortfolioReport) -> None:
    table = report.tables["concentration"]
    assert set(table["basis"]) == {"volume", "revenue"}
    revenue = _row(table, segment="all", basis="revenue")  # A 600, B 200, C 100 in the period
    assert revenue["customers"] == 3
    assert revenue["hhi"] == pytest.approx(41 / 81)
    assert revenue["top_10pct_share"] == pytest.approx(2 / 3)
    assert revenue["cr1"] == pytest.approx(2 / 3)
    assert revenue["gini"] == pytest.approx(10 / 27)
    shipper = _row(table, segment="shipper", basis="revenue")  # A 600, B 200
    assert shipper["hhi"] == pytest.approx(0.75**2 + 0.25**2)
    lorenz = report.tables["lorenz"]
    curve = lorenz[(lorenz["segment"] == "all") & (lorenz["basis"] == "revenue")]
    np.testing.assert_allclose(curve["value_share"], [0, 1 / 9, 1 / 3, 1])


def test_tiers_and_migration_add_up(report: PortfolioReport) -> None:
    tiers, migration = report.tables["tiers"], report.tables["tier_migration"]
    assert report.facts["tier_measure"] == "revenue"
    book = tiers[tiers["segment"] == "all"]
    assert book["customers_current"].sum() == book["customers_previous"].sum() == 5  # shipped in either
    assert _row(tiers, segment="all", tier="lapsed")["customers_current"] == 2  # D, E
    moves = migration[migration["segment"] == "all"]
    assert moves["customers"].sum() == 5
    now = moves.groupby("current_tier")["customers"].sum()
    assert now["lapsed"] == 2
    summary = _row(report.tables["summary"], segment="all")
    assert summary["tier_upgraded"] + summary["tier_downgraded"] + summary["tier_unchanged"] == 5
    assert summary["tier_downgraded"] == 2  # D and E lapsed


def test_states_cover_every_customer(report: PortfolioReport) -> None:
    states = report.tables["states"]
    for kind in ("activity_state", "loyalty_form", "abc_class", "relationship_level", "upgrade_stage"):
        part = states[(states["segment"] == "all") & (states["kind"] == kind)]
        assert part["customers"].sum() == 5, kind
        assert part["share"].sum() == pytest.approx(1.0)
    assert {"active", "dozing", "half_asleep", "dormant"} <= set(states["value"])


def test_too_little_history_for_clv_says_so(report: PortfolioReport) -> None:
    assert report.tables["clv"].empty
    assert report.notes["clv"] == "not_fitted"


# -- thin books and point in time ------------------------------------------------------------------


def test_two_column_book_still_reports() -> None:
    ships = shipments_frame(SHIPMENTS)[["customer_id", "shipment_date"]]
    report = portfolio_report(PortData(shipments=ships), AS_OF)
    assert report.segments == ("all",)
    assert report.facts["bases"] == ("shipments",)
    assert report.notes["satisfaction"] == "no_surveys"
    assert report.notes["clv"] == "no_revenue"
    summary = _row(report.tables["summary"], segment="all")
    assert summary["churn_rate"] == pytest.approx(0.5)
    assert math.isnan(summary["satisfaction_rate"])
    assert math.isnan(summary["nps"])
    shipments = _row(report.tables["concentration"], segment="all", basis="shipments")  # A 2, B 1, C 2
    assert shipments["hhi"] == pytest.approx((0.4**2) * 2 + 0.2**2)
    assert report.facts["tier_measure"] == "shipments"
    assert not report.tables["tiers"].empty
    assert not report.tables["states"].empty


def test_nothing_shipped_yet_gives_empty_sections() -> None:
    report = portfolio_report(PortData(shipments=shipments_frame(SHIPMENTS)), AS_OF.replace(year=2023))
    assert report.facts["customers"] == 0
    assert report.notes["concentration"] == "no_shipments"
    assert report.notes["churn"] == "no_previous_shipments"
    assert report.tables["concentration"].empty
    assert report.tables["tiers"].empty


def test_events_after_as_of_change_nothing(tiny_book: PortData, report: PortfolioReport) -> None:
    later_ships = [
        ("A", "2026-01-01", 999.0, 99_999.0),  # the day after as_of
        ("D", "2026-02-01", 50.0, 5_000.0),  # D comes back: still churned as of as_of
        ("F", "2026-01-15", 10.0, 100.0),  # a customer first seen later
    ]
    later_surveys: list[tuple[str, str, float | None, str]] = [
        ("A", "2026-01-01 00:00", 0.0, "survey"),
        ("B", "2026-03-01 12:00", 0.0, "survey"),
        ("F", "2026-01-16 12:00", 10.0, "survey"),
    ]
    customers = pd.concat(
        [CUSTOMERS, pd.DataFrame({"customer_id": pd.Series(["F"], dtype="str"), "segment": ["agent"]})],
        ignore_index=True,
    )
    later = PortData(
        shipments=shipments_frame(later_ships + SHIPMENTS),  # and out of order
        interactions=surveys_frame(SURVEYS + later_surveys),
        customers=customers,
    )
    again = portfolio_report(later, AS_OF)
    assert again.segments == report.segments
    assert again.notes == report.notes
    assert again.facts == report.facts
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(again.tables[name], report.tables[name], check_dtype=False, obj=name)

"""Customer value: occasion summaries, point-in-time forecasts, the holdout check and the bundle."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from berth.config import ValueConfig
from berth.customer_value import (
    ValueModel,
    fit_value_model,
    occasion_summary,
    predict_value,
    value_holdout,
)
from berth.features import HistoryArrays, date_to_day
from berth.modeling.btyd import BGNBDParams
from berth.tables import PortData

START = date(2024, 1, 1)
DAY0 = date_to_day(START)


def _history(rows: list[tuple[str, int, float, float]], *, cost: bool = True) -> HistoryArrays:
    frame = pd.DataFrame(rows, columns=["customer_id", "offset", "revenue", "cost"])
    shipments = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "shipment_date": pd.to_datetime(START) + pd.to_timedelta(frame["offset"], unit="D"),
            "revenue": frame["revenue"].astype(float),
        }
    )
    if cost:
        shipments["cost"] = frame["cost"].astype(float)
    return HistoryArrays.from_port_data(PortData(shipments=shipments))


def _random_rows(seed: int, customers: int = 400, days: int = 700) -> list[tuple[str, int, float, float]]:
    """Customers with their own rate, spend and lifetime, so the models have something to fit."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        first = int(rng.integers(0, days // 2))
        life = int(rng.exponential(400))
        rate = rng.gamma(1.5, 1 / 20)
        spend = rng.gamma(3.0, 100.0)
        n = rng.poisson(rate * min(life, days - first)) + 1
        for day in np.sort(first + rng.integers(0, max(min(life, days - first), 1), n)):
            revenue = spend * rng.gamma(5.0, 0.2)
            rows.append((f"C{c}", int(day), revenue, 0.7 * revenue))
    return rows


def test_occasion_summary_by_hand() -> None:
    history = _history(
        [
            ("A", 0, 100.0, 60.0),
            ("A", 0, 50.0, 30.0),  # same day: one occasion worth 150
            ("A", 10, 300.0, 180.0),
            ("A", 20, 100.0, 60.0),
            ("A", 40, 999.0, 0.0),  # after the cutoff: ignored
            ("B", 5, 80.0, 100.0),  # one occasion: no repeat value; a loss-making customer
        ]
    )
    s = occasion_summary(history, np.arange(2), DAY0 + 30)
    ids = history.customer_ids.tolist()
    a, b = ids.index("A"), ids.index("B")
    assert s.frequency[a] == 2
    assert s.recency[a] == 20
    assert s.T[a] == 30
    assert s.repeat_value[a] == pytest.approx((300 + 100) / 2)  # repeat occasions only
    assert s.margin_rate[a] == pytest.approx(0.4)
    assert s.frequency[b] == 0
    assert np.isnan(s.repeat_value[b])
    assert s.margin_rate[b] == pytest.approx(-0.25)


def test_forecasts_read_nothing_after_the_cutoff() -> None:
    rows = _random_rows(1)
    cutoff = DAY0 + 400
    history = _history(rows)
    later = _history(
        [r if DAY0 + r[1] <= cutoff else (r[0], r[1], r[2] * 7.0, r[3]) for r in rows]
        + [(r[0], 650, 1e5, 1.0) for r in rows[::5]]
    )
    assert (history.customer_ids == later.customer_ids).all()
    config = ValueConfig()
    model = fit_value_model(history, cutoff, config, occasion_model="pareto_nbd")
    assert model == fit_value_model(later, cutoff, config, occasion_model="pareto_nbd")
    codes = np.arange(history.n_customers)
    now, then = predict_value(model, history, codes, cutoff), predict_value(model, later, codes, cutoff)
    for name in ("expected_shipments", "expected_revenue", "p_alive", "clv"):
        np.testing.assert_array_equal(getattr(now, name), getattr(then, name), err_msg=name)


def test_holdout_fits_only_before_the_holdout_and_records_its_choice() -> None:
    rows = _random_rows(2)
    history = _history(rows)
    cutoff = DAY0 + 700
    config = ValueConfig(horizon_days=182)
    holdout = value_holdout(history, cutoff, config)
    assert holdout is not None
    assert holdout.calibration_end_day == cutoff - 182
    # the holdout's fits are those of a history that ends at the calibration end
    truncated = _history([r for r in rows if DAY0 + r[1] <= holdout.calibration_end_day])
    for name in ("bgnbd", "pareto_nbd"):
        full = fit_value_model(history, holdout.calibration_end_day, config, occasion_model=name)
        cut = fit_value_model(truncated, holdout.calibration_end_day, config, occasion_model=name)
        assert full == cut
    assert set(holdout.metrics) == {"value_bgnbd", "value_pareto_nbd"}
    assert holdout.chosen in ("bgnbd", "pareto_nbd")
    assert "lowest holdout revenue mae" in holdout.reason
    assert holdout.tracking["actual"].shape == holdout.tracking["bgnbd"].shape == (182 // 7,)
    # cumulative series never decrease
    for series in holdout.tracking.values():
        assert (np.diff(series) >= -1e-9).all()
    for metrics in holdout.metrics.values():
        assert metrics["shipments_correlation"] > 0.3
        assert abs(metrics["shipments_aggregate_error"]) < 0.5


def test_holdout_needs_history_before_it() -> None:
    history = _history(_random_rows(3, customers=50, days=200))
    assert value_holdout(history, DAY0 + 200, ValueConfig(horizon_days=182)) is None


def test_margin_falls_back_to_the_configured_share_without_costs() -> None:
    history = _history(_random_rows(4, customers=100), cost=False)
    model = fit_value_model(history, DAY0 + 600, ValueConfig(margin_share=0.3), occasion_model="bgnbd")
    assert model.margin_source == "configured share"
    assert model.margin_share == 0.3
    with_cost = fit_value_model(
        _history(_random_rows(4, customers=100)), DAY0 + 600, ValueConfig(), occasion_model="bgnbd"
    )
    assert with_cost.margin_source == "cost"
    assert with_cost.margin_share == pytest.approx(0.3)


def test_clv_discounting_and_json_round_trip() -> None:
    history = _history(_random_rows(5, customers=200))
    codes = np.arange(history.n_customers)
    cutoff = DAY0 + 600
    base = fit_value_model(history, cutoff, ValueConfig(annual_discount_rate=0.0), occasion_model="bgnbd")
    assert ValueModel.from_dict(base.to_dict()) == base
    assert isinstance(base.bgnbd, BGNBDParams)
    undiscounted = predict_value(base, history, codes, cutoff).clv
    discounted = predict_value(
        fit_value_model(history, cutoff, ValueConfig(annual_discount_rate=0.2), occasion_model="bgnbd"),
        history,
        codes,
        cutoff,
    ).clv
    assert (discounted <= undiscounted + 1e-9).all()
    assert discounted.sum() < undiscounted.sum()


def test_shipments_only_history_gets_occasion_forecasts_without_revenue() -> None:
    rows = _random_rows(6, customers=200)
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "shipment_date": pd.to_datetime(START) + pd.to_timedelta([r[1] for r in rows], unit="D"),
        }
    )
    history = HistoryArrays.from_port_data(PortData(shipments=frame))
    model = fit_value_model(history, DAY0 + 600, ValueConfig(), occasion_model="bgnbd")
    prediction = predict_value(model, history, np.arange(history.n_customers), DAY0 + 600)
    assert np.isfinite(prediction.expected_shipments).all()
    assert np.isnan(prediction.expected_revenue).all()
    assert np.isnan(prediction.clv).all()

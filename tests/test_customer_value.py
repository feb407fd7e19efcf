"""Customer value: occasion summaries, point-in-time forecasts, the holdout check and the bundle."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from berth.config import ValueConfig
from berth.customer_value import (
    ValueModel,
    fit_direct_models,
    fit_value_model,
    occasion_summary,
    predict_value,
    value_holdout,
)
from berth.features import FeatureSpec, HistoryArrays, compute_features, date_to_day, plan_features
from berth.modeling.btyd import BGNBDParams
from berth.modeling.direct_value import DirectValueModel
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


def test_missing_revenue_is_unknown_and_margin_uses_rows_with_both_figures() -> None:
    history = _history(
        [
            ("A", 0, float("nan"), float("nan")),
            ("A", 10, float("nan"), float("nan")),  # no revenue at all: value unknown, not zero
            ("B", 0, 100.0, 50.0),
            ("B", 10, 100.0, float("nan")),  # no cost: left out of the margin
            ("B", 20, 100.0, 50.0),
        ]
    )
    s = occasion_summary(history, np.arange(2), DAY0 + 30)
    a, b = history.customer_ids.tolist().index("A"), history.customer_ids.tolist().index("B")
    assert s.frequency[a] == 1
    assert np.isnan(s.repeat_value[a])
    assert np.isnan(s.margin_rate[a])
    assert s.repeat_value[b] == pytest.approx(100.0)
    assert s.margin_rate[b] == pytest.approx(0.5)


def test_clv_steps_must_divide_the_clv_horizon() -> None:
    from berth.config import TrainConfig, parse_config
    from berth.errors import ConfigError

    with pytest.raises(ConfigError, match="whole number"):
        parse_config(TrainConfig, {"value": {"clv_horizon_days": 1000, "clv_step_days": 28}}, source="x")


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


def _spec(history: HistoryArrays, day: int) -> FeatureSpec:
    return plan_features(history, day, FeatureSpec(horizon_days=90))


def test_direct_revenue_models_learn_only_from_labels_that_end_by_their_cutoff() -> None:
    rows = _random_rows(7, customers=300, days=1000)
    history = _history(rows)
    label_end = DAY0 + 800
    config = ValueConfig(horizon_days=182, direct_cutoffs=3)
    spec = _spec(history, label_end)
    models = fit_direct_models(history, spec, label_end, 182, config, occasion_model="bgnbd")
    assert set(models) == {"direct", "corrected"}
    later = _history(
        [r if DAY0 + r[1] <= label_end else (r[0], r[1], r[2] * 9.0, r[3]) for r in rows]
        + [(r[0], 900, 1e6, 1.0) for r in rows[::7]]
    )
    again = fit_direct_models(later, spec, label_end, 182, config, occasion_model="bgnbd")
    probe = np.random.default_rng(0).gamma(2.0, 10.0, size=(50, len(spec.feature_names)))
    forecast = np.full(50, 1_000.0)
    for variant, model in models.items():
        assert model.horizon_days == 182
        np.testing.assert_array_equal(model.predict(probe, forecast), again[variant].predict(probe, forecast))
    # too little history before the label end: no direct model, and the holdout says why
    assert fit_direct_models(history, spec, DAY0 + 300, 182, config, occasion_model="bgnbd") == {}


def test_holdout_compares_direct_models_and_the_bundle_serves_the_chosen_one(tmp_path: Path) -> None:
    rows = _random_rows(8, customers=300, days=1000)
    history = _history(rows)
    cutoff = DAY0 + 1000
    config = ValueConfig(horizon_days=182, direct_cutoffs=3)
    spec = _spec(history, cutoff)
    holdout = value_holdout(history, cutoff, config, spec)
    assert holdout is not None
    assert {"value_direct", "value_corrected"} <= set(holdout.metrics)
    assert np.isfinite(holdout.metrics["value_corrected"]["revenue_mae"])
    short = value_holdout(_history(_random_rows(8, customers=100, days=400)), DAY0 + 400, config, spec)
    assert short is not None
    assert any("not evaluated" in note for note in short.notes)
    # a served corrected model: JSON + UBJ through the bundle, same revenue after a reload
    base = fit_value_model(history, cutoff, config, occasion_model="bgnbd")
    trees = fit_direct_models(history, spec, cutoff, 182, config, occasion_model="bgnbd")["corrected"]
    served = replace(base, direct=trees, revenue_model="corrected")
    codes = np.arange(history.n_customers)
    features = compute_features(history, cutoff, spec, codes=codes).values
    before = predict_value(served, history, codes, cutoff, features=features)
    assert not np.allclose(
        before.expected_revenue, predict_value(base, history, codes, cutoff).expected_revenue
    )
    folder = tmp_path / "direct"
    folder.mkdir()
    reloaded = replace(
        base, direct=DirectValueModel.load(folder, trees.save(folder)), revenue_model="corrected"
    )
    after = predict_value(reloaded, history, codes, cutoff, features=features)
    np.testing.assert_allclose(after.expected_revenue, before.expected_revenue, rtol=1e-6)
    np.testing.assert_allclose(after.clv, before.clv, rtol=1e-6)

"""Loyalty tiers: the rule, point-in-time labels, the model and its metrics."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.config import TierConfig, TrainConfig
from berth.errors import ConfigError
from berth.features import HistoryArrays, date_to_day
from berth.modeling.tiers import (
    TierClassifier,
    TierRule,
    fit_tier_classifier,
    fit_tier_rule,
    movement_probabilities,
    one_hot,
    ranked_probability_score,
    resolve_measure,
    tier_current,
    tier_label,
    tier_metrics,
)
from berth.tables import PortData

START = date(2024, 1, 1)
RULE = TierRule(
    measure="revenue", period_days=30, names=("bronze", "silver", "gold"), edges=(100.0, 500.0), points={}
)


def _history(rows: list[tuple[str, int, float]]) -> HistoryArrays:
    """(customer, day offset from START, revenue) rows → history."""
    frame = pd.DataFrame(rows, columns=["customer_id", "offset", "revenue"])
    shipments = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "shipment_date": pd.to_datetime(START) + pd.to_timedelta(frame["offset"], unit="D"),
            "revenue": frame["revenue"].astype(float),
            "volume": frame["revenue"].astype(float) / 10.0,
        }
    )
    return HistoryArrays.from_port_data(PortData(shipments=shipments))


def test_rule_assigns_tiers_at_their_edges() -> None:
    measure = np.array([0.0, 99.99, 100.0, 499.0, 500.0, 1e9, 50.0])
    shipped = np.array([False, True, True, True, True, True, True])
    # an edge is the lower bound of the tier above it; no shipment in the period is lapsed
    assert RULE.assign(measure, shipped).tolist() == [0, 1, 2, 2, 3, 3, 1]
    assert RULE.labels == ("lapsed", "bronze", "silver", "gold")


def test_rule_round_trips_through_json() -> None:
    assert TierRule.from_dict(RULE.to_dict()) == RULE


def test_current_tier_and_label_read_their_own_periods() -> None:
    cutoff = date_to_day(START) + 60
    history = _history(
        [
            ("A", 31, 600.0),  # day 31: inside (cutoff − 30, cutoff] → gold now
            ("A", 61, 50.0),  # after the cutoff → bronze next
            ("B", 29, 600.0),  # before the current period → lapsed now
            ("B", 90, 200.0),  # day 90 = cutoff + 30: inside the label period → silver next
            ("C", 60, 150.0),  # on the cutoff → silver now; nothing after → lapsed next
            ("C", 91, 900.0),  # after the label period: ignored by both
        ]
    )
    codes = np.arange(history.n_customers)
    ids = history.customer_ids.tolist()
    current = dict(zip(ids, tier_current(history, codes, cutoff, RULE).tolist(), strict=True))
    label = dict(zip(ids, tier_label(history, codes, cutoff, RULE).tolist(), strict=True))
    assert current == {"A": 3, "B": 0, "C": 2}
    assert label == {"A": 1, "B": 2, "C": 0}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cutoff_offset=st.integers(40, 120),
    period=st.integers(7, 60),
)
def test_tiers_are_point_in_time(seed: int, cutoff_offset: int, period: int) -> None:
    """Events after the cutoff never change tier_current; events after the label period (or before
    the cutoff) never change the label; the quantile rule reads nothing after its as-of day."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 200))
    rows = [
        (f"C{rng.integers(0, 15)}", int(rng.integers(0, 200)), float(rng.gamma(2.0, 100.0))) for _ in range(n)
    ]
    cutoff = date_to_day(START) + cutoff_offset
    rule = TierRule("revenue", period, ("bronze", "silver", "gold"), (150.0, 400.0), {})
    base = _history(rows)
    codes = np.arange(base.n_customers)

    def changed(keep: object) -> HistoryArrays:
        """The same customers, with rows the predicate rejects replaced by random new ones."""
        new = [r if keep(r[1]) else (r[0], r[1], float(rng.gamma(2.0, 500.0))) for r in rows]  # type: ignore[operator]
        new += [(r[0], r[1], 1e6) for r in rows if not keep(r[1])]  # type: ignore[operator]
        return _history(new)

    after_cutoff = changed(lambda d: date_to_day(START) + d <= cutoff)
    assert (after_cutoff.customer_ids == base.customer_ids).all()
    np.testing.assert_array_equal(
        tier_current(after_cutoff, codes, cutoff, rule), tier_current(base, codes, cutoff, rule)
    )
    config = TierConfig(names=("bronze", "silver", "gold"), quantiles=(0.5, 0.9))
    if any(cutoff - period < date_to_day(START) + r[1] <= cutoff for r in rows):
        assert fit_tier_rule(after_cutoff, cutoff, period, "revenue", config) == fit_tier_rule(
            base, cutoff, period, "revenue", config
        )
    outside_label = changed(lambda d: cutoff < date_to_day(START) + d <= cutoff + period)
    np.testing.assert_array_equal(
        tier_label(outside_label, codes, cutoff, rule), tier_label(base, codes, cutoff, rule)
    )


def test_two_column_data_gets_tiers_by_shipment_count() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["A"] * 5 + ["B"] * 2 + ["C"],
            "shipment_date": pd.to_datetime(START) + pd.to_timedelta([1, 2, 3, 4, 5, 2, 3, 4], unit="D"),
        }
    )
    history = HistoryArrays.from_port_data(PortData(shipments=frame))
    config = TierConfig(names=("bronze", "silver"), quantiles=(0.5,))
    measure = resolve_measure(config, history.available)
    assert measure == "shipments"
    rule = fit_tier_rule(history, date_to_day(START) + 10, 30, measure, config)
    tiers = tier_current(history, np.arange(3), date_to_day(START) + 10, rule)
    # the median count is 2: B, at the edge, stays bronze (quantile edges are strict)
    assert dict(zip(history.customer_ids.tolist(), tiers.tolist(), strict=True)) == {"A": 2, "B": 1, "C": 1}


def test_quantile_tiers_keep_their_shares_when_counts_tie() -> None:
    counts = np.repeat([1.0, 2.0, 3.0, 8.0], [60, 25, 10, 5])
    rule = TierRule(
        "shipments",
        30,
        ("bronze", "silver", "gold", "platinum"),
        tuple(np.quantile(counts, (0.5, 0.8, 0.95))),
        {},
        strict=True,
    )
    assert np.bincount(rule.assign(counts, counts > 0), minlength=5).tolist() == [0, 60, 25, 10, 5]
    # an absolute threshold is a minimum: reaching it is enough
    absolute = TierRule("shipments", 30, ("bronze", "silver"), (2.0,), {})
    assert absolute.assign(np.array([1.0, 2.0]), np.array([True, True])).tolist() == [1, 2]


def test_measure_prefers_revenue_then_volume() -> None:
    auto = TierConfig()
    assert resolve_measure(auto, frozenset({"revenue", "volume"})) == "revenue"
    assert resolve_measure(auto, frozenset({"volume"})) == "volume"
    with pytest.raises(ValueError, match="revenue"):
        resolve_measure(TierConfig(measure="revenue"), frozenset({"volume"}))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"names": ["gold"]}, "at least two"),
        ({"names": ["lapsed", "gold"], "quantiles": [0.5]}, "lapsed"),
        ({"quantiles": [0.5, 0.8]}, "edges"),
        ({"quantiles": [0.8, 0.5, 0.9]}, "increase"),
        ({"quantiles": [0.0, 0.5, 0.9]}, r"\(0, 1\)"),
        ({"method": "absolute"}, "thresholds"),
    ],
)
def test_config_refuses_inconsistent_tiers(raw: dict[str, object], message: str) -> None:
    from berth.config import parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config(TrainConfig, {"tiers": raw}, source="train.yaml")


def test_ranked_probability_score_by_hand() -> None:
    outcome = np.array([0, 2])
    probability = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    # row 1 perfect; row 2 cumulative (0.5, 0.5) vs (0, 0) → (0.25 + 0.25) / 2 tiers = 0.25
    assert ranked_probability_score(outcome, probability) == pytest.approx(0.125)
    # a one-step miss costs less than a two-step miss (ordinal)
    near = ranked_probability_score(np.array([0]), np.array([[0.0, 1.0, 0.0]]))
    far = ranked_probability_score(np.array([0]), np.array([[0.0, 0.0, 1.0]]))
    assert near < far


def test_tier_metrics_and_movement() -> None:
    outcome = np.array([0, 1, 2, 2])
    current = np.array([0, 2, 1, 2])
    metrics = tier_metrics(outcome, one_hot(current, 3))
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["within_one_accuracy"] == pytest.approx(1.0)
    probability = np.array([[0.2, 0.3, 0.5]] * 4)
    down, up = movement_probabilities(probability, current)
    np.testing.assert_allclose(down, [0.0, 0.5, 0.2, 0.5])
    np.testing.assert_allclose(up, [0.8, 0.0, 0.5, 0.0])


@pytest.mark.parametrize("method", ["softprob", "cumulative", "auto"])
def test_classifier_learns_ordered_tiers_and_round_trips(method: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3_000, 3)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.3 * rng.normal(size=3_000), [-1.0, 0.0, 1.0])
    labels = ("lapsed", "bronze", "silver", "gold")
    model, scores = fit_tier_classifier(
        x[:2_000], y[:2_000], x[2_000:], y[2_000:], ("a", "b", "c"), labels,
        method=method, num_boost_round=60, early_stopping_rounds=10, params={"nthread": 1},
    )  # fmt: skip
    assert set(scores) == ({"softprob", "cumulative"} if method == "auto" else {method})
    probability = model.predict_proba(x[2_000:])
    np.testing.assert_allclose(probability.sum(axis=1), 1.0, atol=1e-6)
    assert (probability >= 0).all()
    model_rps = ranked_probability_score(y[2_000:], probability)
    uniform_rps = ranked_probability_score(y[2_000:], np.full_like(probability, 0.25))
    assert model_rps < 0.5 * uniform_rps
    assert tier_metrics(y[2_000:], probability)["macro_f1"] > 0.7
    saved = model.save(tmp_path)
    loaded = TierClassifier.load(tmp_path, saved)
    np.testing.assert_allclose(loaded.predict_proba(x[2_000:]), probability, rtol=1e-6)

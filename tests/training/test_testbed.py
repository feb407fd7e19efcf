"""The generalisation test bed: RFM snapshots without leakage, and one tiny regime end to end."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from berth.testbed import (
    HORIZON_DAYS,
    METHODS,
    RFM_FEATURES,
    Shipments,
    bgnbd_scores,
    regimes,
    results_table,
    rfm_training_rows,
    run_regime,
    scoring_cutoff_day,
    snapshot_days,
)

ORIGIN = dt.date(2024, 1, 1)


def _shipments(rows: list[tuple[str, int, float]]) -> Shipments:
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "revenue"])
    frame["shipment_date"] = pd.Timestamp(ORIGIN) + pd.to_timedelta(frame["day"], unit="D")
    return Shipments.from_frame(frame, ORIGIN)


def test_rfm_features_count_only_shipments_up_to_the_day() -> None:
    ships = _shipments([("A", 0, 10.0), ("A", 50, 20.0), ("A", 100, 40.0), ("B", 95, 5.0), ("A", 101, 99.0)])
    matrix, eligible = ships.rfm(100)
    a = dict(zip(RFM_FEATURES, matrix[list(ships.customer_ids).index("A")], strict=True))
    assert a["recency_days"] == 0
    assert a["tenure_days"] == 100
    assert (a["shipments_30d"], a["shipments_90d"], a["shipments_365d"]) == (1, 2, 3)
    assert (a["revenue_30d"], a["revenue_90d"], a["revenue_365d"]) == (40.0, 60.0, 70.0)  # day 101 unseen
    assert eligible.all()
    churned = dict(zip(ships.customer_ids, ships.churned(96, 4), strict=True))
    assert churned == {"A": 0, "B": 1}  # A ships on day 100, B's last shipment was day 95


def test_snapshots_are_every_14_days_and_their_labels_end_by_the_cutoff() -> None:
    days = snapshot_days(first_day=0, cutoff_day=400)
    assert days[-1] == 400 - HORIZON_DAYS
    assert np.all(np.diff(days) == 14)
    assert days[0] >= 28
    ships = _shipments([("A", d, 1.0) for d in range(0, 500, 7)])
    x, y = rfm_training_rows(ships, 400)
    assert x.shape == (len(days), len(RFM_FEATURES))
    assert (y == 0).all()  # a weekly shipper never churns, whatever happens after the cutoff


def test_scoring_cutoff_leaves_the_horizon_inside_the_history() -> None:
    assert scoring_cutoff_day(730, 30) == 630
    assert scoring_cutoff_day(421, 30) == 330
    with pytest.raises(ValueError, match="no cutoff"):
        scoring_cutoff_day(100, 30)


def test_regimes_have_fresh_distinct_seeds_and_cutoffs_on_the_truth_grid() -> None:
    bed = regimes(n_customers=300)
    assert len({r.config.seed for r in bed}) == len(bed)
    assert {r.name for r in bed} >= {"reference", "single_cohort", "shipments_only", "market_shock"}
    for r in bed:
        day = (r.cutoff - r.config.start).days
        assert day % r.config.cutoff_step_days == 0
        assert day + HORIZON_DAYS <= r.config.days - 1
    cohort = next(r for r in bed if r.name == "single_cohort")
    assert (cohort.cutoff - cohort.config.start).days < 365


@pytest.mark.slow
def test_one_tiny_regime_runs_end_to_end_without_bgnbd() -> None:
    regime = next(r for r in regimes(n_customers=300) if r.name == "reference")
    result = run_regime(regime, methods=("berth", "recency", "rfm_xgboost"))
    assert set(result.metrics) == {"berth", "recency", "rfm_xgboost", "oracle"}
    for method, values in result.metrics.items():
        assert 0.5 < values["roc_auc"] <= 1.0, method
        assert 0.0 <= values["brier"] < 0.25, method
    assert result.metrics["oracle"]["roc_auc"] > 0.95
    table = results_table([result])
    assert table.loc[0, "best_peer"] in METHODS
    assert np.isfinite(float(table["berth_minus_best_peer_se"].iloc[0]))


@pytest.mark.slow
def test_bgnbd_peer_ranks_a_lapsed_customer_above_a_steady_one() -> None:
    rows = [("steady", d, 1.0) for d in range(0, 400, 5)] + [("lapsed", d, 1.0) for d in range(0, 200, 5)]
    rows += [(f"c{i}", d, 1.0) for i in range(30) for d in range(i, 400, 20 + i)]
    ships = _shipments(rows)
    codes = np.array([list(ships.customer_ids).index(c) for c in ("steady", "lapsed")])
    p = bgnbd_scores(ships, 399, codes)
    assert ((p >= 0) & (p <= 1)).all()
    assert p[1] > p[0] + 0.3

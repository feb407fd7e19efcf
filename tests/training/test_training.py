"""Training: time split, baselines, fallback, and quality against the simulator's oracle."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from berth.config import SplitConfig, TrainConfig
from berth.features import HistoryArrays
from berth.simulate import SimulationConfig, simulate_port
from berth.tables import PortData
from berth.training import split_cutoffs, train_churn_model

from .conftest import START, port_data


def test_split_is_by_time_with_embargo() -> None:
    config = TrainConfig(split=SplitConfig(validation_cutoffs=1, calibration_cutoffs=2, embargo=True))
    cutoffs = list(range(0, 600, 30))
    split = split_cutoffs(cutoffs, 90, config)
    assert split.validation == [570]
    assert max(split.calibration) + 90 <= min(split.validation)
    assert max(split.train) + 90 <= min(split.calibration)
    assert set(split.train + split.calibration + split.validation + split.dropped) == set(cutoffs)
    assert len(split.train) <= config.max_cutoffs


def test_known_until_hides_later_events_and_resolutions() -> None:
    ships = pd.DataFrame(
        {"customer_id": ["a", "a"], "shipment_date": pd.to_datetime(["2024-01-01", "2024-03-01"])}
    )
    inter = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "timestamp": pd.to_datetime(["2024-01-05", "2024-03-05"]),
            "type": ["complaint", "complaint"],
            "resolved_at": pd.to_datetime(["2024-02-20", "2024-03-06"]),
        }
    )
    known = HistoryArrays.from_port_data(PortData(ships, inter), known_until=date(2024, 2, 10))
    assert len(known.shipments) == 1
    assert len(known.interactions["complaint"]) == 1
    assert known.resolutions is not None
    assert len(known.resolutions) == 0


def test_trains_a_calibrated_model_that_beats_baselines(small_port, fast_config) -> None:  # type: ignore[no-untyped-def]
    trained = train_churn_model(port_data(small_port), fast_config)
    assert trained.bundle.model_kind == "xgboost"
    metrics = trained.metrics
    assert {"model", "baseline_recency", "baseline_logistic", "baseline_btyd"} <= set(metrics)
    for baseline in ("baseline_recency", "baseline_btyd"):
        assert metrics["model"]["roc_auc"] > metrics[baseline]["roc_auc"], baseline
    assert metrics["model"]["ece"] < 0.06
    assert metrics["model"]["roc_auc"] > 0.75
    assert "partial_churn_model" in metrics
    assert {"tier_model", "tier_baseline_same", "tier_baseline_logistic"} <= set(metrics)
    assert metrics["tier_model"]["rps"] < metrics["tier_baseline_same"]["rps"]
    assert metrics["tier_model"]["log_loss"] < metrics["tier_baseline_logistic"]["log_loss"]
    assert trained.bundle.tier_rule is not None
    assert trained.bundle.tier_rule.measure == "revenue"
    assert trained.bundle.tier_model is not None
    assert trained.row_counts["rows_train"] > 0
    assert trained.row_counts["rows_validation"] > 0


def test_shipments_only_trains_and_scores(small_port, fast_config) -> None:  # type: ignore[no-untyped-def]
    from berth.bundle import BundleScorer

    bare = PortData(shipments=small_port.shipments[["customer_id", "shipment_date"]].copy())
    trained = train_churn_model(bare, fast_config)
    names = trained.bundle.spec.feature_names
    assert "recency_days" in names
    assert "btyd_p_alive" in names
    assert not any(n.startswith(("volume", "delay", "complaints", "survey")) for n in names)
    assert trained.metrics["model"]["roc_auc"] > 0.7
    scores = BundleScorer(trained.bundle).score_frame(bare, trained.training_cutoff)
    assert len(scores) > 0
    assert scores["churn_probability"].between(0, 1).all()
    assert trained.bundle.tier_rule is not None
    assert trained.bundle.tier_rule.measure == "shipments"
    assert set(scores["tier_current"]) <= {"lapsed", "bronze", "silver", "gold", "platinum"}
    assert scores["tier_expected"].notna().all()
    assert scores["p_downgrade"].between(0, 1).all()
    assert scores["p_upgrade"].between(0, 1).all()


def test_short_history_falls_back_to_btyd(fast_config) -> None:  # type: ignore[no-untyped-def]
    port = simulate_port(SimulationConfig(n_customers=300, days=200, seed=3, start=START))
    trained = train_churn_model(port_data(port), fast_config)
    assert trained.bundle.model_kind == "btyd"
    assert trained.bundle.churn is None
    assert any("fell back to BG/NBD" in note for note in trained.notes)
    assert trained.bundle.btyd_params is not None
    # too short for trees, not for an evaluation: the fallback's metrics are logged, and the run
    # says how much history the horizon needs
    assert np.isfinite(trained.metrics["model"]["roc_auc"])
    assert trained.metrics["model"] == trained.metrics["baseline_btyd"]
    assert any("no training cutoff fits: 200 days of shipments" in note for note in trained.notes)


@pytest.mark.slow
def test_model_is_close_to_the_oracle_and_beats_every_baseline(fast_config) -> None:  # type: ignore[no-untyped-def]
    """Validation ROC AUC within 0.03 of the oracle (the simulator's true probabilities) on the same rows."""
    port = simulate_port(SimulationConfig(n_customers=4_000, days=730, seed=11, start=START))
    horizon = 90
    last_day = (port.shipments["shipment_date"].max() - pd.Timestamp(START)).days
    # put the validation cutoff (training cutoff − horizon) on the truth table's 30-day grid
    grid_index = (last_day - horizon) // 30
    training_cutoff = START + timedelta(days=grid_index * 30 + horizon)
    trained = train_churn_model(port_data(port), fast_config, cutoff=training_cutoff, horizon_days=horizon)
    frame = trained.validation_frame()
    frame = frame[frame["cutoff"] == frame["cutoff"].max()]  # the validation cutoff on the truth grid
    truth = port.truth[port.truth["horizon_days"] == horizon]
    merged = frame.merge(truth, on=["customer_id", "cutoff"], how="inner")
    assert len(merged) > 0.95 * len(frame)  # nearly every validation row has a truth row
    np.testing.assert_array_equal(merged["label"], merged["churned"])  # our labels = simulated outcomes
    oracle = roc_auc_score(merged["label"], merged["true_churn_probability"])
    model = roc_auc_score(merged["label"], merged["churn_probability"])
    print(f"oracle ROC AUC {oracle:.4f}, model {model:.4f}, metrics {trained.metrics}")
    assert model >= oracle - 0.03
    for name, values in trained.metrics.items():
        if name.startswith("baseline_"):
            assert trained.metrics["model"]["roc_auc"] > values["roc_auc"], name


def test_training_slices_are_views_but_validation_rows_are_their_own(small_port, fast_config) -> None:  # type: ignore[no-untyped-def]
    trained = train_churn_model(port_data(small_port), fast_config)
    assert trained.validation is not None
    assert trained.validation.values.base is None  # a copy: it does not pin the whole snapshot matrix
    assert trained.validation.values.dtype == np.float32

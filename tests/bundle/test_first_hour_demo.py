"""Issue 22's demo pieces: a demo customer who still ships, scores off the clip, figures that
agree (or say why not), partial-churn plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from berth.bundle import BundleScorer
from berth.config import TrainConfig
from berth.demo import demo_customer, main
from berth.evaluation import churn_metrics
from berth.features import HistoryArrays
from berth.registry import ValidationScores, champion_comparison, champion_decision
from berth.tables import SHIPMENT_DATE, PortData
from berth.training import TrainedModel, _plots

CLIP = 1.0 - 1e-5


def test_demo_customer_is_the_riskiest_one_still_shipping(tmp_path: Path) -> None:
    scores = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "churn_probability": [0.999999, 0.97, 0.62, 0.41],
            "activity_state": ["dormant", "half_asleep", "dozing", "active"],
        }
    )
    assert demo_customer(scores) == "C3"
    assert demo_customer(scores.assign(activity_state="dormant")) == "C1"  # no one qualifies: the riskiest
    assert demo_customer(scores.drop(columns="activity_state")) == "C1"
    scores.to_csv(tmp_path / "scores.csv", index=False)
    assert main([str(tmp_path / "scores.csv")]) == 0


def test_quickstart_picks_the_demo_customer_with_the_helper() -> None:
    script = (Path(__file__).parents[2] / "scripts" / "quickstart.sh").read_text()
    assert "python -m berth.demo" in script
    assert 'sed -n 2p "$DATA/scores.csv"' not in script  # the first row: the riskiest, silent for months


@pytest.fixture(scope="module")
def scored(trained: TrainedModel, sim_data: PortData) -> pd.DataFrame:
    as_of = pd.Timestamp(sim_data.shipments[SHIPMENT_DATE].max()).date()
    return BundleScorer(trained.bundle).score_frame(sim_data, as_of)


def test_demo_customer_on_a_simulated_book_still_ships(scored: pd.DataFrame) -> None:
    chosen = scored.set_index("customer_id").loc[demo_customer(scored)]
    assert chosen["activity_state"] in ("active", "dozing")
    riskiest = scored.iloc[0]
    assert riskiest["activity_state"] not in ("active", "dozing"), "the old pick: a lapsed customer"
    assert (
        chosen["churn_probability"]
        == scored[scored["activity_state"].isin(["active", "dozing"])]["churn_probability"].max()
    )


def test_scores_keep_their_ranks_in_the_tails(trained: TrainedModel, sim_data: PortData) -> None:
    """On a simulated book, few scores sit at the clip and the top tail keeps distinct values:
    the served churn probability, the calibrated trees and the partial-churn model alike."""
    bundle = trained.bundle
    assert bundle.churn is not None
    assert bundle.partial_churn is not None
    as_of = pd.Timestamp(sim_data.shipments[SHIPMENT_DATE].max()).date()
    history = HistoryArrays.from_port_data(sim_data)
    result = BundleScorer(bundle).score_history(history, as_of, with_drivers=False)
    assert result.features is not None
    values = result.features[result.eligible]
    served = result.churn_probability[result.eligible]
    assert np.mean(served >= CLIP) < 0.01
    top = np.sort(served)[-max(served.shape[0] // 20, 1) :]
    assert np.unique(top).shape[0] >= 0.9 * top.shape[0], "served churn: the top 5% is flat"
    for name, model in (("calibrated trees", bundle.churn), ("partial churn", bundle.partial_churn)):
        raw, p = model.raw_probability(values), model.trees_probability(values)
        assert np.mean(p >= CLIP) < 0.01, name
        # calibration merges no ranks: the top 5% has as many distinct values as the raw tree scores
        # (customers on the same leaves tie in both)
        top = np.argsort(raw, kind="stable")[-max(raw.shape[0] // 20, 1) :]
        assert np.unique(p[top]).shape[0] == np.unique(raw[top]).shape[0], f"{name}: the top 5% is flattened"


def test_the_champion_gate_quotes_the_run_figure_or_says_why_it_differs() -> None:
    old = ValidationScores(0.9817, None, 1_200)
    _, reason = champion_decision(ValidationScores(0.9832, None, 1_200), old, "1", reported=0.9835)
    assert "0.9832" in reason
    assert "0.9817" in reason
    assert "1,200 validation rows" in reason
    assert "validation table's 0.9835" in reason
    assert "BG/NBD" in reason
    _, reason = champion_decision(ValidationScores(0.98351, None, 1_200), old, "1", reported=0.98349)
    assert "validation table" not in reason  # the same figure at the printed precision: nothing to explain


def test_the_gate_and_the_run_score_the_same_rows(trained: TrainedModel) -> None:
    assert trained.history is not None
    assert trained.validation is not None
    served = champion_comparison(trained, trained.history, BundleScorer(trained.bundle))
    assert served is not None
    assert served.rows == len(trained.validation)
    # the run's figure is the served predictor on the snapshot rows: one computation
    p = trained.bundle.churn.predict_proba(trained.validation.values) if trained.bundle.churn else None
    assert p is not None
    assert churn_metrics(trained.validation.churned, p)["roc_auc"] == trained.metrics["model"]["roc_auc"]
    assert abs(served.roc_auc - trained.metrics["model"]["roc_auc"]) < 0.01


def test_partial_churn_plots_are_written(trained: TrainedModel, tmp_path: Path) -> None:
    assert trained.validation is not None
    assert trained.validation_partial_probability is not None
    assert churn_metrics(trained.validation.partial_churned, trained.validation_partial_probability)[
        "roc_auc"
    ] == pytest.approx(trained.metrics["partial_churn_model"]["roc_auc"])
    plots = _plots(trained, tmp_path, {}, TrainConfig())
    for name in ("partial_churn_roc", "partial_churn_calibration", "partial_churn_gains"):
        assert plots[name] == tmp_path / f"{name}.png"
        assert plots[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"roc", "calibration", "gains"} <= set(plots)

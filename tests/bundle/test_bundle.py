"""Bundles: exact round trip, integrity checks, no pickles, same scores for one customer or many."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from berth.bundle import BundleScorer, ModelBundle, risk_band
from berth.errors import BundleIntegrityError
from berth.features import HistoryArrays, compute_features, date_to_day, feature_group
from berth.tables import PortData
from berth.taxonomy import LABEL_COLUMNS
from berth.training import TrainedModel


def _saved(trained: TrainedModel, tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    trained.bundle.save(folder)
    return folder


def test_round_trip_scores_identically(trained: TrainedModel, sim_data: PortData, tmp_path: Path) -> None:
    folder = _saved(trained, tmp_path)
    loaded = ModelBundle.load(folder)
    assert loaded.spec == trained.bundle.spec
    assert loaded.btyd_params == trained.bundle.btyd_params
    as_of = trained.training_cutoff
    before = BundleScorer(trained.bundle).score_frame(sim_data, as_of)
    after = BundleScorer(loaded).score_frame(sim_data, as_of)
    # batch scores come through the drivers' attributions: XGBoost's (float32) before saving, the
    # loaded bundle's compiled tree walk after; they agree to float32 precision
    np.testing.assert_allclose(before["churn_probability"], after["churn_probability"], rtol=1e-6)
    assert before["driver_1"].tolist() == after["driver_1"].tolist()
    assert len(loaded.content_hash) == 64
    # one bundle = one consistent set of churn, tier, value and taxonomy models
    assert loaded.tier_rule == trained.bundle.tier_rule
    assert loaded.value_model == trained.bundle.value_model
    assert loaded.taxonomy is not None
    assert trained.bundle.taxonomy is not None
    assert loaded.taxonomy[1] == trained.bundle.taxonomy[1]
    for column in ("p_downgrade", "p_upgrade", "expected_shipments", "expected_revenue", "clv", "p_alive"):
        np.testing.assert_allclose(before[column], after[column], rtol=1e-6, err_msg=column)
    for column in ("tier_current", "tier_expected", *LABEL_COLUMNS):
        assert before[column].tolist() == after[column].tolist(), column
    assert before["clv"].notna().all()
    assert set(before["activity_state"]) <= {"active", "dozing", "half_asleep", "dormant"}


def test_input_without_revenue_gets_no_revenue_tiers_or_value(trained: TrainedModel) -> None:
    """A revenue tier rule cannot tier a customer whose revenue is unknown: null, never bronze."""
    assert trained.bundle.tier_rule is not None
    assert trained.bundle.tier_rule.measure == "revenue"
    days = ["2024-10-01", "2024-11-01", "2024-12-01", "2025-01-15"]
    (score,) = BundleScorer(trained.bundle).score(
        {"shipments": {"customer_id": ["X"] * 4, "shipment_date": days, "revenue": [None] * 4}},
        trained.training_cutoff,
    )
    assert score.tier_current is None
    assert score.tier_expected is None
    assert score.expected_shipments is not None
    assert score.expected_revenue is None or score.expected_revenue > 0


def test_tampered_file_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    folder = _saved(trained, tmp_path)
    path = folder / "risk_bands.json"
    path.write_text(path.read_text().replace("0.6", "0.9"))
    with pytest.raises(BundleIntegrityError, match="SHA-256"):
        ModelBundle.load(folder)


@pytest.mark.parametrize("name", ["model.pkl", "extra.json"])
def test_pickles_and_unlisted_files_are_refused(trained: TrainedModel, tmp_path: Path, name: str) -> None:
    folder = _saved(trained, tmp_path)
    (folder / name).write_bytes(pickle.dumps({"evil": True}))
    with pytest.raises(BundleIntegrityError, match=r"pickle|manifest"):
        ModelBundle.load(folder)


def test_missing_manifest_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    folder = _saved(trained, tmp_path)
    (folder / "manifest.json").unlink()
    with pytest.raises(BundleIntegrityError, match="not a Berth model bundle"):
        ModelBundle.load(folder)


def test_api_columns_and_batch_frames_give_the_same_scores(
    trained: TrainedModel, sim_data: PortData, tmp_path: Path
) -> None:
    """Training/serving parity: one customer's plain columns score as in the batch.

    A loaded bundle, as served: one customer goes through the array tree evaluator, the batch
    through XGBoost, so the probabilities agree to float32 precision rather than bit for bit.
    """
    scorer = BundleScorer(ModelBundle.load(_saved(trained, tmp_path)))
    assert scorer.bundle.churn is not None
    assert scorer.bundle.churn.trees is not None
    as_of = trained.training_cutoff
    batch = scorer.score_frame(sim_data, as_of).set_index("customer_id")
    for customer_id in batch.index[:5]:
        ships = sim_data.shipments[sim_data.shipments["customer_id"] == customer_id]
        inter = sim_data.interactions[sim_data.interactions["customer_id"] == customer_id]
        prof = sim_data.customers[sim_data.customers["customer_id"] == customer_id]

        def columns(frame):  # type: ignore[no-untyped-def]
            return {c: [None if v is None or v != v else v for v in frame[c].tolist()] for c in frame.columns}

        tables = {"shipments": columns(ships), "interactions": columns(inter), "customers": columns(prof)}
        (result,) = scorer.score(tables, as_of)
        assert result.customer_id == customer_id
        assert result.churn_probability == pytest.approx(
            batch.loc[customer_id, "churn_probability"], rel=1e-6, abs=1e-7
        )
        assert result.risk_band == batch.loc[customer_id, "risk_band"]
        row = batch.loc[customer_id]
        assert result.tier_current == row["tier_current"]
        assert result.tier_expected == row["tier_expected"]
        for name in ("p_downgrade", "expected_shipments", "expected_revenue", "clv", "p_alive"):
            assert getattr(result, name) == pytest.approx(row[name], rel=1e-5, abs=1e-6), name
        for name in LABEL_COLUMNS:
            assert getattr(result, name) == row[name], name
        assert 1 <= len(result.drivers) <= 3
        assert all(d.label_en and d.label_zh for d in result.drivers)


def test_drivers_sum_to_the_log_odds(trained: TrainedModel, sim_data: PortData) -> None:
    scorer = BundleScorer(trained.bundle)
    assert trained.bundle.churn is not None
    history = HistoryArrays.from_port_data(sim_data)
    matrix = compute_features(history, date_to_day(trained.training_cutoff), trained.bundle.spec)
    churn = trained.bundle.churn
    values = matrix.values[:20]
    contributions = churn.contributions(values)
    # the served attributions (the stack's, when it serves) give the served probability
    assert churn.blend is not None, "the stack serves on the simulator"
    np.testing.assert_allclose(
        churn.probability_from_contributions(contributions), churn.predict_proba(values), rtol=1e-5
    )
    # and the trees' own attributions still sum to the trees' margin
    tree = churn._tree_contributions(values)
    np.testing.assert_allclose(1 / (1 + np.exp(-tree.sum(axis=1))), churn.raw_probability(values), rtol=1e-4)
    assert len(scorer.drivers(contributions)) == 20


def test_drivers_are_the_largest_group_sums(trained: TrainedModel) -> None:
    """Each customer's drivers: the feature groups with the largest absolute summed contribution,
    largest first, zero groups left out, sums as np.add.at gives them (then rounded)."""
    scorer = BundleScorer(trained.bundle)
    names = trained.bundle.spec.feature_names
    groups = sorted({feature_group(n) for n in names})
    index = np.array([groups.index(feature_group(n)) for n in names])
    rng = np.random.default_rng(3)
    contributions = rng.normal(size=(50, len(names) + 1))
    contributions[rng.random(contributions.shape) < 0.4] = 0.0
    contributions[0, :-1] = 0.0  # nothing explains this customer
    contributions[1, :-1] = 1.0  # ties: the lower group first
    contributions[2, 0] = np.nan  # a group without a number: after every number
    expected = np.zeros((50, len(groups)))
    np.add.at(expected.T, index, contributions[:, :-1].T)
    for row, drivers in zip(expected, scorer.drivers(contributions), strict=True):
        top = np.argsort(-np.abs(row), kind="stable")[:3]
        assert [(d.name, d.contribution) for d in drivers] == [
            (groups[g], round(float(row[g]), 4)) for g in top if row[g] != 0.0
        ]
    assert scorer.drivers(contributions[:1]) == [()]
    with pytest.raises(ValueError, match="feature contributions"):
        scorer.drivers(contributions[:, 1:])


def test_risk_bands_follow_thresholds() -> None:
    bands = {"medium": 0.2, "high": 0.4, "critical": 0.7}
    assert [risk_band(p, bands) for p in (0.1, 0.2, 0.5, 0.9)] == ["low", "medium", "high", "critical"]

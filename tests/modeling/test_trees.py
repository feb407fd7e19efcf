"""The array tree evaluator agrees with XGBoost: margins, path attributions, missing values, thresholds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from berth.modeling.calibration import fit_calibrator
from berth.modeling.churn import ARRAY_EVALUATOR_MAX_ROWS, ChurnClassifier
from berth.modeling.trees import TreeEnsemble, UnsupportedTreesError


def _data(rng: np.random.Generator, n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, n_features))
    x[:, 0] = rng.integers(0, 5, n)  # ties: many rows exactly on a threshold
    x[rng.random(x.shape) < 0.2] = np.nan
    signal = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) + np.isnan(x[:, 2])
    return x, (signal + rng.normal(size=n) > 0.5).astype(float)


@pytest.mark.parametrize(
    ("objective", "max_depth", "seed"),
    [
        ("binary:logistic", 5, 0),
        ("binary:logistic", 2, 1),
        ("reg:squarederror", 7, 2),
        ("binary:logistic", 9, 3),
    ],
)
def test_margins_and_attributions_match_xgboost(objective: str, max_depth: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = _data(rng, 2_000, 8)
    booster = xgb.train(
        {"objective": objective, "max_depth": max_depth, "eta": 0.3, "nthread": 1, "seed": seed},
        xgb.DMatrix(x, label=y, missing=np.nan),
        num_boost_round=30,
    )
    trees = TreeEnsemble.from_booster(booster)
    test_x, _ = _data(rng, 500, 8)
    probe = np.vstack([test_x, trees.probe_rows(rng, 200), np.full((1, 8), np.nan)])
    matrix = xgb.DMatrix(probe, missing=np.nan)

    np.testing.assert_allclose(
        trees.margin(probe), booster.predict(matrix, output_margin=True), rtol=1e-5, atol=1e-5
    )
    contributions = trees.contributions(probe)
    np.testing.assert_allclose(
        contributions, booster.predict(matrix, pred_contribs=True, approx_contribs=True), atol=1e-5
    )
    np.testing.assert_allclose(contributions.sum(axis=1), trees.margin(probe), atol=1e-5)
    trees.check_against(booster, probe)


def test_a_wrong_tree_is_caught_by_the_check() -> None:
    rng = np.random.default_rng(4)
    x, y = _data(rng, 1_000, 4)
    booster = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(x, label=y), num_boost_round=5)
    trees = TreeEnsemble.from_booster(booster)
    flipped = trees.nodes.copy()
    flipped["default_left"] = ~flipped["default_left"]
    broken = replace(trees, nodes=flipped)
    with pytest.raises(UnsupportedTreesError, match="disagrees"):
        broken.check_against(booster, trees.probe_rows(rng))
    unknown = trees.nodes.copy()
    unknown["value"] = np.nan
    not_a_number = replace(trees, nodes=unknown)
    with pytest.raises(UnsupportedTreesError, match="disagrees"):
        not_a_number.check_against(booster, trees.probe_rows(rng))


def test_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(5)
    kind = pd.Categorical(rng.choice(["a", "b", "c"], 500))
    frame = pd.DataFrame({"kind": kind, "x": rng.normal(size=500)})
    label = (frame["kind"] == "b").astype(float)
    booster = xgb.train(
        {"max_depth": 2, "nthread": 1},
        xgb.DMatrix(frame, label=label, enable_categorical=True),
        num_boost_round=3,
    )
    with pytest.raises(UnsupportedTreesError, match="categorical"):
        TreeEnsemble.from_booster(booster)


def test_a_loaded_classifier_scores_small_and_large_batches_alike(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    x, y = _data(rng, 3_000, 6)
    params = {"objective": "binary:logistic", "max_depth": 4, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), 40)
    raw = 1 / (1 + np.exp(-booster.predict(xgb.DMatrix(x), output_margin=True)))
    names = tuple(f"f{i}" for i in range(6))
    fitted = ChurnClassifier(booster, fit_calibrator(raw, y, "isotonic"), names)
    calibrator = fitted.save(tmp_path / "churn.ubj")
    loaded = ChurnClassifier.load(tmp_path / "churn.ubj", calibrator, names)
    assert loaded.trees is not None

    rows = x[: ARRAY_EVALUATOR_MAX_ROWS * 3]
    in_one_go = loaded.predict_proba(rows)  # XGBoost
    one_by_one = np.concatenate([loaded.predict_proba(rows[i : i + 1]) for i in range(len(rows))])  # arrays
    # XGBoost adds leaf values in float32, the array walk in float64: margins differ by ~1e-6
    np.testing.assert_allclose(one_by_one, in_one_go, atol=1e-5)
    np.testing.assert_allclose(in_one_go, fitted.predict_proba(rows), atol=1e-6)
    small = loaded.contributions(rows[:8])
    np.testing.assert_allclose(small, loaded.contributions(rows)[:8], atol=1e-5)

"""Calibration keeps ranks in the tails: no flat top step at the clip, old bundles unchanged."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from berth.modeling.calibration import EPS, Calibrator, fit_calibrator


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tree-like raw scores: a long confident tail where every row churns."""
    rng = np.random.default_rng(seed)
    margin = np.r_[rng.normal(-3.0, 1.5, int(n * 0.8)), rng.normal(4.0, 2.0, n - int(n * 0.8))]
    truth = 1.0 / (1.0 + np.exp(-(0.8 * margin - 0.3)))
    return 1.0 / (1.0 + np.exp(-margin)), (rng.random(n) < truth).astype(np.int64)


def test_isotonic_keeps_distinct_ranks_in_the_top_tail() -> None:
    raw, y = _scores(4_000, 0)
    test_raw, test_y = _scores(4_000, 1)
    old = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    steps = Calibrator("isotonic", x=tuple(old.X_thresholds_), y=tuple(old.y_thresholds_))
    now = fit_calibrator(raw, y, "isotonic")
    before, after = steps.transform(test_raw), now.transform(test_raw)
    assert np.mean(before >= 1 - 1e-5) > 0.02, "the step calibrator puts its top block at the clip"
    assert np.mean(after >= 1 - 1e-5) < 0.01
    top = np.argsort(test_raw)[-200:]
    assert np.unique(after[top]).shape[0] == 200  # the top 5 % keeps every rank
    order = np.argsort(test_raw, kind="stable")
    assert np.all(np.diff(after[order]) >= 0)  # monotone in the raw score
    # ranking no worse (ties resolved) and calibration as good, within noise
    assert roc_auc_score(test_y, after) >= roc_auc_score(test_y, before) - 1e-9
    assert brier_score_loss(test_y, after) <= brier_score_loss(test_y, before) + 0.002


def test_calibrator_round_trips_and_old_bundles_keep_their_steps() -> None:
    raw, y = _scores(1_000, 2)
    fitted = fit_calibrator(raw, y, "isotonic")
    assert fitted.scale == "logit"
    assert Calibrator.from_dict(fitted.to_dict()) == fitted
    # a bundle written before: no "scale" key, thresholds on the probability scale
    legacy = {
        "method": "isotonic",
        "x": [0.1, 0.5, 0.9],
        "y": [0.0, 0.5, 1.0],
        "slope": 1.0,
        "intercept": 0.0,
    }
    loaded = Calibrator.from_dict(legacy)
    assert loaded.scale == "probability"
    np.testing.assert_allclose(loaded.transform(np.array([0.05, 0.3, 0.95])), [EPS, 0.25, 1 - EPS])
    assert "scale" not in loaded.to_dict()


def test_single_block_and_backward_scores_still_give_a_rising_curve() -> None:
    raw = np.linspace(0.01, 0.99, 50)
    y = (raw < 0.5).astype(np.int64)  # ranks backwards: PAVA pools everything into one block
    fitted = fit_calibrator(raw, y, "isotonic")
    p = fitted.transform(raw)
    assert np.all(np.isfinite(p))
    assert np.all(np.diff(p) >= 0)

"""The churn classifier: gradient-boosted trees (XGBoost) plus a calibrator fitted on a later slice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from berth._logging import get_logger
from berth.modeling.blend import BTYD_FEATURE, RECENCY_FEATURE, Blend
from berth.modeling.calibration import Calibrator, fit_calibrator
from berth.modeling.trees import TreeEnsemble, UnsupportedTreesError

log = get_logger(__name__)

DEFAULT_PARAMS: Mapping[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 5,
    "learning_rate": 0.08,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5.0,
    "reg_lambda": 1.0,
    "max_bin": 128,
    "nthread": 2,
}


# Up to this many rows the compiled tree walk gives margins faster than XGBoost (whose every call
# has a fixed cost); beyond, XGBoost's threaded C++ wins. Attributions always take the compiled
# walk: XGBoost's approx_contribs was slower at every batch size we timed, up to 1,000 rows.
ARRAY_EVALUATOR_MAX_ROWS = 256


@dataclass(frozen=True)
class ChurnClassifier:
    """A fitted booster and its calibrator (plus, once loaded for serving, its trees as arrays).

    With a ``blend`` the served probability is the stacked predictor of :mod:`berth.modeling.blend`
    (trees + BG/NBD + recency) instead of the calibrated trees.
    """

    booster: xgb.Booster
    calibrator: Calibrator
    feature_names: tuple[str, ...]
    trees: TreeEnsemble | None = None
    blend: Blend | None = None

    def margin(self, values: np.ndarray) -> np.ndarray:
        """Raw log-odds of the trees."""
        if self.trees is not None and values.shape[0] <= ARRAY_EVALUATOR_MAX_ROWS:
            return self.trees.margin(values)
        return np.asarray(
            self.booster.inplace_predict(values, validate_features=False, predict_type="margin"),
            dtype=np.float64,
        )

    def raw_probability(self, values: np.ndarray) -> np.ndarray:
        """Uncalibrated tree probabilities."""
        return _sigmoid(self.margin(values))

    def predict_proba(self, values: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class (the blend's, when there is one)."""
        if self.blend is not None:
            design = self.blend.inputs(self.margin(values), values, self.feature_names)
            return _clip(_sigmoid(self.blend.log_odds(design)))
        return self.trees_probability(values)

    def trees_probability(self, values: np.ndarray) -> np.ndarray:
        """The calibrated trees alone, blend or not."""
        return self.calibrator.transform(self.raw_probability(values))

    def probability_from_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """What :meth:`predict_proba` gives, from :meth:`contributions` (rows sum to the log-odds)."""
        log_odds = contributions.sum(axis=1)
        if self.blend is not None:
            return _clip(_sigmoid(log_odds))
        return self.calibrator.transform(_sigmoid(log_odds))

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Per-feature attributions to the served log-odds (last column the bias).

        Without a blend, the trees' path attributions (rows sum to the trees' margin). With one,
        those scaled by the blend's tree weight, plus the blend's BG/NBD and recency terms on
        their own feature columns: rows sum to the blended log-odds.
        """
        tree = self._tree_contributions(values)
        if self.blend is None:
            return tree
        blend = self.blend
        margin = tree.sum(axis=1)
        terms = blend.terms(blend.inputs(margin, values, self.feature_names))
        factor = blend.weights[0] / blend.scales[0]
        out = tree * factor
        out[:, -1] += blend.intercept - blend.weights[0] * blend.means[0] / blend.scales[0]
        for k, name in ((1, BTYD_FEATURE), (2, RECENCY_FEATURE)):
            column = self.feature_names.index(name) if name in self.feature_names else -1
            out[:, column] += terms[:, k]
        return out

    def _tree_contributions(self, values: np.ndarray) -> np.ndarray:
        """Per-feature path attributions to the log-odds (rows sum to the margin; last column the bias).

        Saabas attributions, XGBoost's ``approx_contribs``: O(depth) per tree, so a 1,000-customer
        request gets its drivers in milliseconds; exact TreeSHAP (:meth:`shap_values`) costs
        O(leaves · depth²) per tree and names the same top driver in most rows (measured in the
        serving benchmark).
        """
        if self.trees is not None:
            return self.trees.contributions(values)
        return self._predict_contribs(values, approximate=True)

    def shap_values(self, values: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP values (rows sum to the margin; last column the bias)."""
        return self._predict_contribs(values, approximate=False)

    def _predict_contribs(self, values: np.ndarray, *, approximate: bool) -> np.ndarray:
        # No feature names on the DMatrix: name validation costs more than the prediction itself.
        matrix = xgb.DMatrix(values, missing=np.nan, nthread=1)
        return np.asarray(
            self.booster.predict(
                matrix, pred_contribs=True, approx_contribs=approximate, validate_features=False
            ),
            dtype=np.float64,
        )

    def save(self, booster_path: Path) -> dict[str, Any]:
        """Write the booster (UBJ, never pickle); return the calibrator (and blend) as JSON-able data."""
        self.booster.save_model(str(booster_path))
        out = self.calibrator.to_dict()
        if self.blend is not None:
            out["blend"] = self.blend.to_dict()
        return out

    @classmethod
    def load(
        cls, booster_path: Path, calibrator: Mapping[str, Any], feature_names: tuple[str, ...]
    ) -> ChurnClassifier:
        """Read a booster saved by :meth:`save`, with its trees as arrays checked against XGBoost."""
        booster = xgb.Booster()
        booster.load_model(str(booster_path))
        booster.set_param({"nthread": 1})
        trees: TreeEnsemble | None = None
        try:
            trees = TreeEnsemble.from_booster(booster)
            trees.check_against(booster, trees.probe_rows(np.random.default_rng(0)))
        except Exception as exc:  # the evaluator is optional: never fail a load XGBoost can serve
            reason = str(exc) if isinstance(exc, UnsupportedTreesError) else repr(exc)
            log.warning("array evaluator unavailable; XGBoost scores every request", reason=reason)
            trees = None
        blend = calibrator.get("blend")
        return cls(
            booster=booster,
            calibrator=Calibrator.from_dict(calibrator),
            feature_names=feature_names,
            trees=trees,
            blend=Blend.from_dict(blend) if blend else None,
        )


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-margin)), dtype=np.float64)


def _clip(probability: np.ndarray) -> np.ndarray:
    return np.clip(probability, 1e-6, 1.0 - 1e-6)


def fit_churn_classifier(
    train_values: np.ndarray,
    train_outcome: np.ndarray,
    calibration_values: np.ndarray,
    calibration_outcome: np.ndarray,
    feature_names: tuple[str, ...],
    *,
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = 400,
    early_stopping_rounds: int = 40,
    calibration_method: str = "platt",
    seed: int = 0,
) -> ChurnClassifier:
    """Fit trees on the earlier slice, early-stop and calibrate on the later one."""
    merged = _params(params, seed)
    train = _training_matrix(train_values, train_outcome, feature_names, merged)
    names = list(feature_names)
    held_out = xgb.DMatrix(calibration_values, label=calibration_outcome, missing=np.nan, feature_names=names)
    booster = xgb.train(
        merged,
        train,
        num_boost_round=num_boost_round,
        evals=[(held_out, "calibration")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    best = booster.best_iteration + 1 if booster.best_iteration is not None else num_boost_round
    booster = booster[:best]
    raw = _sigmoid(np.asarray(booster.inplace_predict(calibration_values, predict_type="margin")))
    calibrator = fit_calibrator(raw, calibration_outcome, calibration_method)
    return ChurnClassifier(booster=booster, calibrator=calibrator, feature_names=feature_names)


def refit_trees(
    values: np.ndarray,
    outcome: np.ndarray,
    feature_names: tuple[str, ...],
    *,
    num_boost_round: int,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> xgb.Booster:
    """The same trees fitted again on more rows, for a number of rounds chosen before (no early stopping)."""
    merged = _params(params, seed)
    return xgb.train(
        merged, _training_matrix(values, outcome, feature_names, merged), num_boost_round=num_boost_round
    )


def _params(params: Mapping[str, Any] | None, seed: int) -> dict[str, Any]:
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    merged.setdefault("max_bin", 256)  # XGBoost's default, stated: the quantised matrix must agree
    return merged


def _training_matrix(
    values: np.ndarray, outcome: np.ndarray, feature_names: tuple[str, ...], merged: Mapping[str, Any]
) -> xgb.DMatrix:
    names = list(feature_names)
    if merged.get("tree_method", "hist") == "hist":
        # Quantised once (one byte per cell at ≤ 256 bins) instead of copied as (index, value)
        # pairs: what the hist method builds anyway, at a fraction of the memory. A held-out
        # slice stays a plain DMatrix: early stopping evaluates it every round, and that is
        # measurably slower on a quantised matrix.
        return xgb.QuantileDMatrix(
            values, label=outcome, missing=np.nan, feature_names=names, max_bin=int(merged["max_bin"])
        )
    return xgb.DMatrix(values, label=outcome, missing=np.nan, feature_names=names)

"""The churn classifier: gradient-boosted trees (XGBoost) plus a calibrator fitted on a later slice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from berth.modeling.calibration import Calibrator, fit_calibrator

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


@dataclass(frozen=True)
class ChurnClassifier:
    """A fitted booster and its calibrator."""

    booster: xgb.Booster
    calibrator: Calibrator
    feature_names: tuple[str, ...]

    def raw_probability(self, values: np.ndarray) -> np.ndarray:
        """Uncalibrated tree probabilities (``inplace_predict``: no DMatrix, cheap for one row)."""
        return np.asarray(self.booster.inplace_predict(values, validate_features=False), dtype=np.float64)

    def predict_proba(self, values: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class."""
        return self.calibrator.transform(self.raw_probability(values))

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the log-odds (SHAP values; last column is the bias)."""
        # No feature names on the DMatrix: name validation costs more than the prediction itself.
        matrix = xgb.DMatrix(values, missing=np.nan, nthread=1)
        return np.asarray(
            self.booster.predict(matrix, pred_contribs=True, validate_features=False), dtype=np.float64
        )

    def save(self, booster_path: Path) -> dict[str, Any]:
        """Write the booster (UBJ, never pickle); return the calibrator as JSON-able data."""
        self.booster.save_model(str(booster_path))
        return self.calibrator.to_dict()

    @classmethod
    def load(
        cls, booster_path: Path, calibrator: Mapping[str, Any], feature_names: tuple[str, ...]
    ) -> ChurnClassifier:
        """Read a booster saved by :meth:`save`."""
        booster = xgb.Booster()
        booster.load_model(str(booster_path))
        booster.set_param({"nthread": 1})
        return cls(booster=booster, calibrator=Calibrator.from_dict(calibrator), feature_names=feature_names)


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
    calibration_method: str = "isotonic",
    seed: int = 0,
) -> ChurnClassifier:
    """Fit trees on the earlier slice, early-stop and calibrate on the later one."""
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    names = list(feature_names)
    train = xgb.DMatrix(train_values, label=train_outcome, missing=np.nan, feature_names=names)
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
    raw = np.asarray(booster.inplace_predict(calibration_values), dtype=np.float64)
    calibrator = fit_calibrator(raw, calibration_outcome, calibration_method)
    return ChurnClassifier(booster=booster, calibrator=calibrator, feature_names=feature_names)

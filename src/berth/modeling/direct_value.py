"""A direct model of next-period revenue: gradient-boosted trees on the point-in-time features.

BTYD models forecast from a customer's own recency and frequency only; published results
under-forecast real purchase logs by 7–14% in aggregate. Following Google's crystalvalue, a
regression on the same features the churn model uses (plus, for the ``corrected`` variant, the
BTYD revenue forecast itself) learns what those miss. A Tweedie objective (log link, variance
power 1.5) suits revenue: many customers near zero, a heavy tail, and a mean that is matched in
aggregate at the optimum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

PARAMS: Mapping[str, Any] = {
    "objective": "reg:tweedie",
    "tweedie_variance_power": 1.5,
    "eval_metric": "tweedie-nloglik@1.5",
    "tree_method": "hist",
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5.0,
    "max_bin": 128,
    "nthread": 2,
}


@dataclass(frozen=True)
class DirectValueModel:
    """Boosted trees giving expected revenue over ``horizon_days`` from features at a cutoff."""

    booster: xgb.Booster
    variant: str  # "direct" (features only) or "corrected" (features + the BTYD revenue forecast)
    horizon_days: int

    def predict(self, features: np.ndarray, btyd_revenue: np.ndarray) -> np.ndarray:
        """Expected revenue per row."""
        design = _design(features, btyd_revenue, self.variant)
        return np.asarray(self.booster.inplace_predict(design, validate_features=False), dtype=np.float64)

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the booster as UBJ; return the JSON part."""
        self.booster.save_model(str(folder / "value_booster.ubj"))
        return {"variant": self.variant, "horizon_days": self.horizon_days}

    @classmethod
    def load(cls, folder: Path, raw: Mapping[str, Any]) -> DirectValueModel:
        """Inverse of :meth:`save`."""
        booster = xgb.Booster()
        booster.load_model(str(folder / "value_booster.ubj"))
        booster.set_param({"nthread": 1})
        return cls(booster=booster, variant=str(raw["variant"]), horizon_days=int(raw["horizon_days"]))


def _design(features: np.ndarray, btyd_revenue: np.ndarray, variant: str) -> np.ndarray:
    if variant == "direct":
        return np.asarray(features, dtype=np.float32)
    extra = np.log1p(np.maximum(np.nan_to_num(btyd_revenue, nan=np.nan), 0.0)).reshape(-1, 1)
    return np.hstack([np.asarray(features, dtype=np.float32), extra.astype(np.float32)])


def fit_direct_value(
    train: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    held_out: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    variant: str,
    horizon_days: int,
    num_boost_round: int = 400,
    early_stopping_rounds: int = 30,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> DirectValueModel:
    """Fit on (features, BTYD revenue forecast, actual revenue) blocks of earlier cutoffs; stop
    early on the latest cutoff's block (time-based, never a random split)."""
    x = np.vstack([_design(f, b, variant) for f, b, _ in train])
    y = np.concatenate([np.maximum(np.nan_to_num(t), 0.0) for _, _, t in train])
    vx = _design(held_out[0], held_out[1], variant)
    vy = np.maximum(np.nan_to_num(held_out[2]), 0.0)
    booster = xgb.train(
        {**PARAMS, **(params or {}), "seed": seed},
        xgb.DMatrix(x, label=y, missing=np.nan),
        num_boost_round=num_boost_round,
        evals=[(xgb.DMatrix(vx, label=vy, missing=np.nan), "held_out")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    best = booster.best_iteration + 1 if booster.best_iteration is not None else num_boost_round
    return DirectValueModel(booster=booster[:best], variant=variant, horizon_days=horizon_days)

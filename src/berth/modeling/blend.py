"""The stacked churn predictor: trees, BG/NBD and recency blended by a logistic regression.

The blend's inputs are the trees' raw log-odds, the logit of BG/NBD's P(no shipment in the
horizon) and log(1 + days since the last shipment). It is fitted on the calibration slice, whose
cutoffs lie a horizon after the last training cutoff (the embargo): the trees never saw those
labels, so the weights are learnt out of time. Where the trees generalise worse than their own
validation suggested, the blend leans on the two models that have nothing to overfit; the
logistic link also calibrates, so the blend replaces the isotonic calibrator when it serves.

Stored as plain numbers (JSON); applied with numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

INPUTS = ("tree_margin", "btyd_logit", "log_recency")
BTYD_FEATURE = "btyd_p_no_shipment_h"
RECENCY_FEATURE = "recency_days"


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1.0 - 1e-6)
    return np.asarray(np.log(q / (1.0 - q)))


@dataclass(frozen=True)
class Blend:
    """logit P(churn) = intercept + Σ weight · (input − mean) / scale over :data:`INPUTS`."""

    intercept: float
    weights: tuple[float, float, float]
    means: tuple[float, float, float]
    scales: tuple[float, float, float]

    def inputs(
        self, margin: np.ndarray, values: np.ndarray, feature_names: tuple[str, ...], *, fill: bool = True
    ) -> np.ndarray:
        """(rows, 3) design; a missing BG/NBD or recency value takes the fitted mean (no effect)
        unless ``fill`` is False."""
        design = np.column_stack(
            [
                np.asarray(margin, dtype=np.float64),
                _logit(_column(values, feature_names, BTYD_FEATURE)),
                np.log1p(np.maximum(_column(values, feature_names, RECENCY_FEATURE), 0.0)),
            ]
        )
        missing = ~np.isfinite(design)
        if fill and missing.any():
            design[missing] = np.broadcast_to(np.asarray(self.means), design.shape)[missing]
        return design

    def terms(self, design: np.ndarray) -> np.ndarray:
        """Each input's additive share of the blended log-odds (the intercept excluded)."""
        return (design - np.asarray(self.means)) / np.asarray(self.scales) * np.asarray(self.weights)

    def log_odds(self, design: np.ndarray) -> np.ndarray:
        """The blended log-odds of churn."""
        return np.asarray(self.intercept + self.terms(design).sum(axis=1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "inputs": list(INPUTS),
            "intercept": self.intercept,
            "weights": list(self.weights),
            "means": list(self.means),
            "scales": list(self.scales),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Blend:
        """Inverse of :meth:`to_dict`."""
        if tuple(raw.get("inputs", INPUTS)) != INPUTS:
            raise ValueError(f"blend inputs {raw.get('inputs')} are not {list(INPUTS)}")
        triple = lambda key: tuple(float(v) for v in raw[key])  # noqa: E731
        return cls(
            intercept=float(raw["intercept"]),
            weights=triple("weights"),  # type: ignore[arg-type]
            means=triple("means"),  # type: ignore[arg-type]
            scales=triple("scales"),  # type: ignore[arg-type]
        )


def _column(values: np.ndarray, feature_names: tuple[str, ...], name: str) -> np.ndarray:
    if name not in feature_names:
        return np.full(values.shape[0], np.nan)
    return np.asarray(values[:, feature_names.index(name)], dtype=np.float64)


def fit_blend(
    margin: np.ndarray, values: np.ndarray, outcome: np.ndarray, feature_names: tuple[str, ...]
) -> Blend | None:
    """Fit on out-of-time rows (the calibration slice); None when they hold a single class."""
    if np.unique(outcome).shape[0] < 2:
        return None
    provisional = Blend(0.0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    design = provisional.inputs(margin, values, feature_names, fill=False)
    finite = np.isfinite(design)
    # each input's mean over the rows that have it: what a missing value takes, fitted and served alike
    counts = finite.sum(axis=0)
    means = np.where(counts > 0, np.where(finite, design, 0.0).sum(axis=0) / np.maximum(counts, 1), 0.0)
    design = np.where(finite, design, means)
    scales = design.std(axis=0)
    scales = np.where(scales > 1e-9, scales, 1.0)
    model = LogisticRegression(C=1.0, max_iter=1_000).fit((design - means) / scales, outcome)
    return Blend(
        intercept=float(model.intercept_[0]),
        weights=tuple(float(w) for w in model.coef_[0]),  # type: ignore[arg-type]
        means=tuple(float(m) for m in means),  # type: ignore[arg-type]
        scales=tuple(float(s) for s in scales),  # type: ignore[arg-type]
    )

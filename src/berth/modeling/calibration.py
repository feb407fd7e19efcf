"""Probability calibration stored as plain numbers (JSON), applied with numpy at serving time.

Isotonic calibration is fitted by PAVA, but served as a strictly increasing curve: a plain
isotonic step function is flat over each block, and its top block (where every calibration row
churned) is exactly 1, so on a book of a few thousand customers a tenth of the scores sat at the
numerical clip (0.999999), tied, saying nothing about who is the most at risk. Here each block
becomes one knot at its centre on the logit scale, its churn rate shrunk towards a Platt curve
fitted on the same rows (so no knot is 0 or 1), the knots are joined linearly in logit, and
beyond the first and last knot the curve goes on with the Platt slope: the calibration of the
body is isotonic, the ranks in the tails are kept, and the clip is only a numerical guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

EPS = 1e-6  # numerical guard only: no fitted curve reaches it (benchmarks/bench_score_tails.py)
# Prior weight (in rows) of the Platt curve in each isotonic block's churn rate: keeps the rate of
# a block of all churners (or none) off 1 (or 0) without moving blocks of many rows.
SHRINK_ROWS = 2.0


@dataclass(frozen=True)
class Calibrator:
    """Maps raw scores (tree margins' probabilities) to calibrated probabilities.

    ``isotonic``: with ``scale == "logit"`` (every fit since the tails were fixed), knots on the
    logit scale joined linearly, extended beyond the end knots with slope ``slope``; with
    ``scale == "probability"`` (bundles written before), linear interpolation through the isotonic
    thresholds, flat beyond them. ``platt``: a logistic curve on the logit of the raw probability.
    ``identity``: unchanged.
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    scale: str = "probability"
    # The knots as arrays, converted once: every scoring request interpolates through them.
    _x: np.ndarray = field(init=False, repr=False, compare=False)
    _y: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_x", np.asarray(self.x, dtype=np.float64))
        object.__setattr__(self, "_y", np.asarray(self.y, dtype=np.float64))

    def transform(self, raw_probability: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, clipped into [1e-6, 1 − 1e-6] for numerical safety."""
        p = np.asarray(raw_probability, dtype=np.float64)
        if self.method == "isotonic" and self.scale == "logit":
            out = _sigmoid(self._logit_curve(_logit(p)))
        elif self.method == "isotonic":
            out = np.interp(p, self._x, self._y)
        elif self.method == "platt":
            out = _sigmoid(self.slope * _logit(p) + self.intercept)
        else:
            out = p
        return np.clip(out, EPS, 1.0 - EPS)

    def _logit_curve(self, z: np.ndarray) -> np.ndarray:
        x, y = self._x, self._y
        out = np.interp(z, x, y)
        out = np.where(z > x[-1], y[-1] + self.slope * (z - x[-1]), out)
        return np.asarray(np.where(z < x[0], y[0] + self.slope * (z - x[0]), out))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out: dict[str, Any] = {
            "method": self.method,
            "x": list(self.x),
            "y": list(self.y),
            "slope": self.slope,
            "intercept": self.intercept,
        }
        if self.scale != "probability":
            out["scale"] = self.scale
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`."""
        return cls(
            method=str(raw["method"]),
            x=tuple(float(v) for v in raw["x"]),
            y=tuple(float(v) for v in raw["y"]),
            slope=float(raw["slope"]),
            intercept=float(raw["intercept"]),
            scale=str(raw.get("scale", "probability")),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1.0 - EPS)
    return np.asarray(np.log(q / (1.0 - q)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _platt(z: np.ndarray, outcome: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e6).fit(z.reshape(-1, 1), outcome)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit_calibrator(raw_probability: np.ndarray, outcome: np.ndarray, method: str) -> Calibrator:
    """Fit a calibrator on a held-out time slice (never on the rows the trees were fitted on)."""
    if method == "identity" or np.unique(outcome).shape[0] < 2:
        return Calibrator(method="identity")
    z = _logit(np.asarray(raw_probability, dtype=np.float64))
    y = np.asarray(outcome, dtype=np.float64)
    if method == "platt":
        slope, intercept = _platt(z, y)
        return Calibrator(method="platt", slope=slope, intercept=intercept)
    if method == "isotonic":
        return _fit_isotonic(z, y)
    raise ValueError(f"unknown calibration method {method!r}; use isotonic, platt or identity")


def _fit_isotonic(z: np.ndarray, y: np.ndarray) -> Calibrator:
    """PAVA blocks → one knot per block at its centre (logit scale), rates shrunk towards Platt."""
    slope, intercept = _platt(z, y)
    slope = max(slope, 1e-3)  # the tails must rise: a raw score that ranks backwards is no calibration
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit_transform(z, y)
    order = np.argsort(z, kind="stable")
    zs, ys, fs = z[order], y[order], fitted[order]
    # a block: a run of equal fitted values (PAVA pools adjacent rows); ties in z share a block
    starts = np.flatnonzero(np.r_[True, np.diff(fs) != 0])
    counts = np.diff(np.r_[starts, zs.shape[0]])
    centres = np.add.reduceat(zs, starts) / counts
    positives = np.add.reduceat(ys, starts)
    prior = _sigmoid(slope * centres + intercept)
    weight = counts + SHRINK_ROWS
    rate = (positives + SHRINK_ROWS * prior) / weight
    # shrinking can pull a small block below its neighbour: pool such blocks again (PAVA on the
    # blocks), so the knots rise strictly; a pooled knot sits at its rows' mean logit
    pooled = IsotonicRegression().fit_transform(centres, rate, sample_weight=weight)
    group = np.flatnonzero(np.r_[True, np.diff(pooled) > 0])
    rows = np.add.reduceat(counts, group)
    centres = np.add.reduceat(centres * counts, group) / rows
    knots = _logit(pooled[group])
    return Calibrator(
        method="isotonic",
        x=tuple(map(float, centres)),
        y=tuple(map(float, knots)),
        slope=slope,
        intercept=intercept,
        scale="logit",
    )

"""Probability calibration stored as plain numbers (JSON), applied with numpy at serving time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class Calibrator:
    """Maps raw scores (tree margins' probabilities) to calibrated probabilities.

    ``isotonic``: piecewise-linear interpolation through the fitted isotonic thresholds.
    ``platt``: a logistic curve on the logit of the raw probability. ``identity``: unchanged.
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    # The knots as arrays, converted once: every scoring request interpolates through them.
    _x: np.ndarray = field(init=False, repr=False, compare=False)
    _y: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_x", np.asarray(self.x, dtype=np.float64))
        object.__setattr__(self, "_y", np.asarray(self.y, dtype=np.float64))

    def transform(self, raw_probability: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, clipped into [1e-6, 1 − 1e-6]."""
        p = np.asarray(raw_probability, dtype=np.float64)
        if self.method == "isotonic":
            out = np.interp(p, self._x, self._y)
        elif self.method == "platt":
            out = 1.0 / (1.0 + np.exp(-(self.slope * _logit(p) + self.intercept)))
        else:
            out = p
        return np.clip(out, 1e-6, 1.0 - 1e-6)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "method": self.method,
            "x": list(self.x),
            "y": list(self.y),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`."""
        return cls(
            method=str(raw["method"]),
            x=tuple(float(v) for v in raw["x"]),
            y=tuple(float(v) for v in raw["y"]),
            slope=float(raw["slope"]),
            intercept=float(raw["intercept"]),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.asarray(np.log(q / (1.0 - q)))


def fit_calibrator(raw_probability: np.ndarray, outcome: np.ndarray, method: str) -> Calibrator:
    """Fit a calibrator on a held-out time slice (never on the rows the trees were fitted on)."""
    if method == "identity" or np.unique(outcome).shape[0] < 2:
        return Calibrator(method="identity")
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw_probability, outcome)
        return Calibrator(
            method="isotonic", x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_))
        )
    if method == "platt":
        lr = LogisticRegression(C=1e6).fit(_logit(raw_probability).reshape(-1, 1), outcome)
        return Calibrator(method="platt", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}; use isotonic, platt or identity")

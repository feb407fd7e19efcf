"""Loyalty tiers: the tier rule, point-in-time tier labels and the next-period tier model.

A tier rule turns a value measure over a period (revenue, volume, shipment count or programme
points) into ordered tiers: ``lapsed`` (no shipment in the period) below the configured names,
lowest first (default bronze < silver < gold < platinum). ``tier_current`` at a cutoff is the rule
applied to the period (cutoff − period, cutoff]; the label is the rule applied to (cutoff,
cutoff + period]. The period is the model's horizon, so tier snapshots are the churn snapshots:
same cutoffs, same time split, same embargo.

Quantile rules are fixed once per training run (edges from the period before the first held-out
cutoff, so nothing after it shapes a training row); the bundle stores that rule's absolute edges,
the ones the model learned, so one customer is tiered alone at serving. A customer reaches a
quantile tier with a measure strictly above its edge (ties at a quantile stay below: with
shipment counts, many customers share the edge value) and an absolute tier at or above it (a
programme's published minimum).

The model is gradient-boosted trees over the churn features, either one multi-class booster
(``softprob``, temperature-calibrated) or cumulative binary boosters P(tier ≥ k) (``cumulative``,
Platt-calibrated, made monotone); ``auto`` fits both and keeps the one with the lower ranked
probability score on the calibration slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from scipy import optimize
from sklearn.metrics import f1_score

from berth.config import TierConfig
from berth.features import HistoryArrays, shipment_window_sums
from berth.modeling.churn import DEFAULT_PARAMS

LAPSED = "lapsed"  # also refused as a tier name by TierConfig
MEASURES = ("revenue", "volume", "shipments", "points")
_EPS = 1e-6


def resolve_measure(config: TierConfig, available: frozenset[str]) -> str:
    """The measure a run uses: the configured one, or the richest the data has."""
    if config.measure != "auto":
        needed = {"revenue": "revenue", "volume": "volume", "points": "volume"}.get(config.measure)
        if needed is not None and needed not in available:
            raise ValueError(f"tier measure {config.measure!r} needs a {needed!r} column in shipments")
        return config.measure
    for measure in ("revenue", "volume"):
        if measure in available:
            return measure
    return "shipments"


@dataclass(frozen=True)
class TierRule:
    """Absolute tier edges over a measure and period: what the bundle stores."""

    measure: str
    period_days: int
    names: tuple[str, ...]  # lowest first, without lapsed
    edges: tuple[float, ...]  # lower edge of names[1:]
    points: Mapping[str, float]
    strict: bool = False  # quantile edges: above the edge; absolute thresholds: at least the edge

    @property
    def labels(self) -> tuple[str, ...]:
        """Every tier, lapsed first: the class order of the model."""
        return (LAPSED, *self.names)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for the bundle."""
        return {
            "measure": self.measure,
            "period_days": self.period_days,
            "names": list(self.names),
            "edges": [float(e) for e in self.edges],
            "points": dict(self.points),
            "strict": self.strict,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TierRule:
        """Inverse of :meth:`to_dict`."""
        return cls(
            measure=str(raw["measure"]),
            period_days=int(raw["period_days"]),
            names=tuple(raw["names"]),
            edges=tuple(float(e) for e in raw["edges"]),
            points={k: float(v) for k, v in raw["points"].items()},
            strict=bool(raw.get("strict", False)),
        )

    def assign(self, measure: np.ndarray, shipped: np.ndarray) -> np.ndarray:
        """Tier codes (0 = lapsed, 1 = lowest named tier, ...) of measure values."""
        codes = 1 + np.searchsorted(np.asarray(self.edges), measure, side="left" if self.strict else "right")
        return np.where(shipped, codes, 0).astype(np.int8)


def period_measure(
    history: HistoryArrays, codes: np.ndarray, after_day: int, until_day: int, measure: str, points: Mapping
) -> tuple[np.ndarray, np.ndarray]:
    """(measure, shipped) of customers ``codes`` over the days in (after_day, until_day]."""
    ships = history.shipments
    count = (ships.bounds(codes, until_day) - ships.bounds(codes, after_day)).astype(np.float64)
    shipped = count > 0
    if measure == "shipments":
        return count, shipped
    if measure in ("revenue", "volume"):
        return shipment_window_sums(history, codes, after_day, until_day, measure), shipped
    if measure == "points":
        total = float(points.get("per_volume_unit", 1.0)) * shipment_window_sums(
            history, codes, after_day, until_day, "volume"
        )
        per_survey = float(points.get("per_survey_point", 0.0))
        surveys = history.interactions.get("survey")
        if per_survey and surveys is not None and surveys.has("score"):
            total += per_survey * _event_sums(surveys, codes, after_day, until_day, "score")
        return total, shipped
    raise ValueError(f"unknown tier measure {measure!r}; expected one of {MEASURES}")


def _event_sums(events: Any, codes: np.ndarray, after_day: int, until_day: int, column: str) -> np.ndarray:
    """Sum of an event column (NaN as 0) per customer over (after_day, until_day]."""
    start, end = events.bounds(codes, after_day), events.bounds(codes, until_day)
    values = np.nan_to_num(np.asarray(events.values[column], dtype=np.float64))
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return np.asarray(cumulative[end] - cumulative[start])


def fit_tier_rule(
    history: HistoryArrays, as_of_day: int, period_days: int, measure: str, config: TierConfig
) -> TierRule:
    """Absolute edges as of ``as_of_day``: configured thresholds, or quantiles of the measure over
    (as_of − period, as_of] among customers who shipped then (events after as_of are never read)."""
    points = config.points.model_dump()
    if config.method == "absolute":
        assert config.thresholds is not None
        edges = tuple(float(e) for e in config.thresholds)
    else:
        codes = np.arange(history.n_customers, dtype=np.int64)
        values, shipped = period_measure(history, codes, as_of_day - period_days, as_of_day, measure, points)
        active = values[shipped]
        if active.size == 0:
            raise ValueError("no customer shipped in the period before the cutoff: tiers cannot be set")
        edges = tuple(float(e) for e in np.quantile(active, config.quantiles))
    return TierRule(
        measure=measure,
        period_days=period_days,
        names=config.names,
        edges=edges,
        points=points,
        strict=config.method == "quantile",
    )


def tier_current(history: HistoryArrays, codes: np.ndarray, cutoff_day: int, rule: TierRule) -> np.ndarray:
    """The rule applied to the period up to the cutoff (reads only events on or before it)."""
    values, shipped = period_measure(
        history, codes, cutoff_day - rule.period_days, cutoff_day, rule.measure, rule.points
    )
    return rule.assign(values, shipped)


def tier_label(history: HistoryArrays, codes: np.ndarray, cutoff_day: int, rule: TierRule) -> np.ndarray:
    """The rule applied to the period after the cutoff: the tier model's target."""
    values, shipped = period_measure(
        history, codes, cutoff_day, cutoff_day + rule.period_days, rule.measure, rule.points
    )
    return rule.assign(values, shipped)


# ---------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierClassifier:
    """Boosters and calibration giving next-period tier probabilities (columns: ``labels``)."""

    method: str  # softprob | cumulative
    boosters: tuple[xgb.Booster, ...]
    calibration: Mapping[str, Any]  # softprob: {"temperature"}; cumulative: {"slopes", "intercepts"}
    labels: tuple[str, ...]

    def predict_proba(self, values: np.ndarray) -> np.ndarray:
        """(rows, tiers) calibrated probabilities; each row sums to 1."""
        margins = [
            np.asarray(b.inplace_predict(values, validate_features=False, predict_type="margin"))
            for b in self.boosters
        ]
        if self.method == "softprob":
            return _softmax(margins[0].reshape(values.shape[0], -1) / self.calibration["temperature"])
        slopes, intercepts = self.calibration["slopes"], self.calibration["intercepts"]
        at_least = np.column_stack(
            [_sigmoid(s * m + c) for s, c, m in zip(slopes, intercepts, margins, strict=True)]
        )
        return _cumulative_to_classes(at_least)

    def save(self, folder: Path, prefix: str = "tier") -> dict[str, Any]:
        """Write boosters as UBJ; return the JSON part."""
        for i, booster in enumerate(self.boosters):
            booster.save_model(str(folder / f"{prefix}_booster_{i}.ubj"))
        return {
            "method": self.method,
            "boosters": len(self.boosters),
            "calibration": dict(self.calibration),
            "labels": list(self.labels),
        }

    @classmethod
    def load(cls, folder: Path, raw: Mapping[str, Any], prefix: str = "tier") -> TierClassifier:
        """Inverse of :meth:`save`."""
        boosters = []
        for i in range(int(raw["boosters"])):
            booster = xgb.Booster()
            booster.load_model(str(folder / f"{prefix}_booster_{i}.ubj"))
            booster.set_param({"nthread": 1})
            boosters.append(booster)
        return cls(
            method=str(raw["method"]),
            boosters=tuple(boosters),
            calibration=dict(raw["calibration"]),
            labels=tuple(raw["labels"]),
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _softmax(margin: np.ndarray) -> np.ndarray:
    shifted = margin - margin.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _cumulative_to_classes(at_least: np.ndarray) -> np.ndarray:
    """P(tier ≥ k) for k = 1..K−1 → class probabilities, made monotone in k first."""
    monotone = np.minimum.accumulate(np.clip(at_least, 0.0, 1.0), axis=1)
    n = at_least.shape[0]
    upper = np.column_stack([np.ones(n), monotone])
    lower = np.column_stack([monotone, np.zeros(n)])
    return np.asarray(upper - lower)


def _train_booster(
    params: Mapping[str, Any],
    train_x: np.ndarray,
    train_y: np.ndarray,
    cal_x: np.ndarray,
    cal_y: np.ndarray,
    names: list[str],
    rounds: int,
    early_stopping: int,
) -> xgb.Booster:
    train = xgb.QuantileDMatrix(
        train_x, label=train_y, missing=np.nan, feature_names=names, max_bin=int(params["max_bin"])
    )
    held_out = xgb.DMatrix(cal_x, label=cal_y, missing=np.nan, feature_names=names)
    booster = xgb.train(
        dict(params),
        train,
        num_boost_round=rounds,
        evals=[(held_out, "calibration")],
        early_stopping_rounds=early_stopping,
        verbose_eval=False,
    )
    best = booster.best_iteration + 1 if booster.best_iteration is not None else rounds
    return booster[:best]


def _fit_softprob(
    train_x: np.ndarray,
    train_y: np.ndarray,
    cal_x: np.ndarray,
    cal_y: np.ndarray,
    names: list[str],
    labels: tuple[str, ...],
    params: Mapping[str, Any],
    rounds: int,
    early_stopping: int,
) -> TierClassifier:
    merged = {
        **params,
        "objective": "multi:softprob",
        "num_class": len(labels),
        "eval_metric": "mlogloss",
    }
    booster = _train_booster(merged, train_x, train_y, cal_x, cal_y, names, rounds, early_stopping)
    margin = np.asarray(booster.inplace_predict(cal_x, predict_type="margin")).reshape(cal_x.shape[0], -1)

    def loss(log_t: float) -> float:
        p = _softmax(margin / np.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[np.arange(cal_y.shape[0]), cal_y], _EPS, 1.0))))

    log_t = optimize.minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x
    return TierClassifier("softprob", (booster,), {"temperature": float(np.exp(log_t))}, labels)


def _platt(margin: np.ndarray, outcome: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a logistic fit of the outcome on the margin."""

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.clip(_sigmoid(theta[0] * margin + theta[1]), _EPS, 1 - _EPS)
        residual = p - outcome
        value = -np.mean(outcome * np.log(p) + (1 - outcome) * np.log(1 - p))
        return float(value), np.array([np.mean(residual * margin), np.mean(residual)])

    fit = optimize.minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(fit.x[0]), float(fit.x[1])


def _fit_cumulative(
    train_x: np.ndarray,
    train_y: np.ndarray,
    cal_x: np.ndarray,
    cal_y: np.ndarray,
    names: list[str],
    labels: tuple[str, ...],
    params: Mapping[str, Any],
    rounds: int,
    early_stopping: int,
) -> TierClassifier:
    merged = {**params, "objective": "binary:logistic", "eval_metric": "logloss"}
    boosters, slopes, intercepts = [], [], []
    for k in range(1, len(labels)):
        train_k, cal_k = (train_y >= k).astype(np.float32), (cal_y >= k).astype(np.float32)
        if train_k.min() == train_k.max():
            # No row on one side of this edge: a constant booster at the observed rate.
            merged_k = {**merged, "base_score": float(np.clip(train_k.mean(), 1e-3, 1 - 1e-3))}
            booster = _train_booster(merged_k, train_x, train_k, cal_x, cal_k, names, 1, 1)
        else:
            booster = _train_booster(merged, train_x, train_k, cal_x, cal_k, names, rounds, early_stopping)
        margin = np.asarray(booster.inplace_predict(cal_x, predict_type="margin"))
        slope, intercept = _platt(margin, cal_k) if cal_k.min() != cal_k.max() else (1.0, 0.0)
        boosters.append(booster)
        slopes.append(slope)
        intercepts.append(intercept)
    return TierClassifier("cumulative", tuple(boosters), {"slopes": slopes, "intercepts": intercepts}, labels)


def fit_tier_classifier(
    train_x: np.ndarray,
    train_y: np.ndarray,
    cal_x: np.ndarray,
    cal_y: np.ndarray,
    feature_names: Sequence[str],
    labels: tuple[str, ...],
    *,
    method: str = "auto",
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = 400,
    early_stopping_rounds: int = 40,
    seed: int = 0,
) -> tuple[TierClassifier, dict[str, float]]:
    """Fit the tier model(s) on the earlier slice; calibrate (and, for auto, choose) on the later one.

    Returns the model and the calibration-slice RPS of every method fitted.
    """
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    merged.pop("objective", None)
    merged.pop("eval_metric", None)
    merged.setdefault("max_bin", 256)
    names = list(feature_names)
    train_y = np.asarray(train_y, dtype=np.int64)
    cal_y = np.asarray(cal_y, dtype=np.int64)
    methods = ("softprob", "cumulative") if method == "auto" else (method,)
    fitted: dict[str, TierClassifier] = {}
    scores: dict[str, float] = {}
    for name in methods:
        fit = _fit_softprob if name == "softprob" else _fit_cumulative
        model = fit(
            train_x, train_y, cal_x, cal_y, names, labels, merged, num_boost_round, early_stopping_rounds
        )
        fitted[name] = model
        scores[name] = ranked_probability_score(cal_y, model.predict_proba(cal_x))
    best = min(scores, key=lambda k: scores[k])
    return fitted[best], scores


# ---------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------

TIER_METRIC_NAMES = ("macro_f1", "accuracy", "within_one_accuracy", "log_loss", "rps")


def ranked_probability_scores(outcome: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Per row, the squared distance between predicted and observed cumulative distributions over
    the ordered tiers, divided by (tiers − 1): 0 is perfect, 1 the worst."""
    k = probability.shape[1]
    observed = np.zeros_like(probability)
    observed[np.arange(outcome.shape[0]), outcome] = 1.0
    gap = np.cumsum(probability, axis=1)[:, :-1] - np.cumsum(observed, axis=1)[:, :-1]
    return np.asarray(np.sum(gap**2, axis=1) / (k - 1))


def ranked_probability_score(outcome: np.ndarray, probability: np.ndarray) -> float:
    """The mean of :func:`ranked_probability_scores` over rows."""
    return float(np.mean(ranked_probability_scores(outcome, probability)))


def tier_metrics(outcome: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Macro F1 and accuracy of the most probable tier, accuracy within one tier, multi-class log
    loss (probabilities clipped at 1e-6) and ranked probability score."""
    y = np.asarray(outcome, dtype=np.int64)
    if y.shape[0] == 0:
        return dict.fromkeys(TIER_METRIC_NAMES, float("nan"))
    predicted = probability.argmax(axis=1)
    clipped = np.clip(probability, _EPS, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return {
        "macro_f1": float(
            f1_score(y, predicted, labels=np.arange(probability.shape[1]), average="macro", zero_division=0)
        ),
        "accuracy": float(np.mean(predicted == y)),
        "within_one_accuracy": float(np.mean(np.abs(predicted - y) <= 1)),
        "log_loss": float(-np.mean(np.log(clipped[np.arange(y.shape[0]), y]))),
        "rps": ranked_probability_score(y, probability),
    }


def one_hot(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows of probability 1 on ``codes``: the 'tier stays the same' baseline."""
    out = np.zeros((codes.shape[0], n_classes))
    out[np.arange(codes.shape[0]), codes] = 1.0
    return out


def movement_probabilities(probability: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_downgrade, p_upgrade): the probability mass below and above each row's current tier."""
    cumulative = np.cumsum(probability, axis=1)
    rows = np.arange(probability.shape[0])
    below = np.where(current > 0, cumulative[rows, np.maximum(current - 1, 0)], 0.0)
    upgrade = 1.0 - cumulative[rows, current]
    return np.clip(below, 0.0, 1.0), np.clip(upgrade, 0.0, 1.0)

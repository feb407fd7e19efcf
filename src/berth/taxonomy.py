"""Customer taxonomy: activity state, loyalty form, ABC class, relationship level and upgrade stage.

Every rule is a pure, vectorised function of numbers (arrays in, arrays of labels out), so the
same code classifies a whole book at training and one customer at serving. Anything learned from
the book (typical shipping gaps per segment, ABC revenue cut points, scale and margin cut points)
is fitted once by :func:`fit_taxonomy_reference` and kept as plain JSON in the model bundle; the
thresholds are a :class:`TaxonomyConfig`. :func:`classify_customers` computes the inputs from a
:class:`~berth.features.HistoryArrays` using only events on or before the cutoff day.

Labels are stable English keys (``"half_asleep"``); :func:`berth.i18n.label` turns them into
English or Chinese text. docs/taxonomy.md explains each output to a retention manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import Field, model_validator

from berth._config_base import StrictModel

if TYPE_CHECKING:  # only types: importing berth.features would load the feature kernels
    from berth.features._history import EventTable, HistoryArrays

_LOW_32 = np.int64((1 << 32) - 1)

__all__ = [
    "ABC_CLASSES",
    "ACTIVITY_STATES",
    "LABEL_COLUMNS",
    "LABEL_VALUES",
    "LOYALTY_FORMS",
    "MARGIN_BANDS",
    "OUTPUT_COLUMNS",
    "RELATIONSHIP_LEVELS",
    "SCALE_BANDS",
    "TIER_NAMES",
    "UPGRADE_STAGES",
    "TaxonomyConfig",
    "TaxonomyReference",
    "abc_class",
    "activity_state",
    "attitude_score",
    "classify_customers",
    "fit_abc_cuts",
    "fit_taxonomy_reference",
    "loyalty_form",
    "margin_band",
    "relationship_level",
    "scale_band",
    "upgrade_stage",
    "usual_gap_days",
]

# The values of every output, in a fixed order (pandas categories keep it).
ACTIVITY_STATES: tuple[str, ...] = ("active", "dozing", "half_asleep", "dormant", "no_shipments")
LOYALTY_FORMS: tuple[str, ...] = ("true", "latent", "spurious", "none", "unknown_attitude")
ABC_CLASSES: tuple[str, ...] = ("A", "B", "C", "unknown")
RELATIONSHIP_LEVELS: tuple[str, ...] = (
    "basic",
    "reactive",
    "accountable",
    "proactive",
    "partnership",
    "unknown",
)
UPGRADE_STAGES: tuple[str, ...] = ("potential", "new", "repeat", "loyal")
SCALE_BANDS: tuple[str, ...] = ("small", "medium", "large")
MARGIN_BANDS: tuple[str, ...] = ("negative", "low", "medium", "high")
# Loyalty-programme tiers (the tier model's names; kept here so every customer label has one home).
TIER_NAMES: tuple[str, ...] = ("platinum", "gold", "silver", "bronze", "lapsed")

# Every label kind and its values: the catalogue msgids are "<kind>.<value>" (see berth.i18n).
LABEL_VALUES: Mapping[str, tuple[str, ...]] = {
    "activity_state": ACTIVITY_STATES,
    "loyalty_form": LOYALTY_FORMS,
    "abc_class": ABC_CLASSES,
    "relationship_level": RELATIONSHIP_LEVELS,
    "upgrade_stage": UPGRADE_STAGES,
    "scale_band": SCALE_BANDS,
    "margin_band": MARGIN_BANDS,
    "tier": TIER_NAMES,
}

Scale = Literal["small", "medium", "large"]
Margin = Literal["negative", "low", "medium", "high"]
Level = Literal["basic", "reactive", "accountable", "proactive", "partnership"]


def _default_matrix() -> dict[Scale, dict[Margin, Level]]:
    # Kotler's matrix (customer count many / moderate / few = scale small / medium / large) for
    # high / medium / low margins; the rail strategy matrix's negative-margin column.
    return {
        "small": {"high": "accountable", "medium": "reactive", "low": "basic", "negative": "basic"},
        "medium": {"high": "proactive", "medium": "accountable", "low": "reactive", "negative": "basic"},
        "large": {
            "high": "partnership",
            "medium": "partnership",
            "low": "accountable",
            "negative": "reactive",
        },
    }


class TaxonomyConfig(StrictModel):
    """Thresholds of the customer taxonomy (``taxonomy:`` in configs/train.yaml)."""

    # activity state
    gap_window_days: int = Field(
        default=730, ge=30, description="Usual gap: median gap between shipment days in this window."
    )
    min_gaps: int = Field(
        default=3, ge=1, description="Fewer own gaps than this: use the segment's typical gap."
    )
    min_usual_gap_days: float = Field(
        default=2.0, ge=1.0, description="Floor of the usual gap (daily shippers skip weekends)."
    )
    fallback_gap_days: float = Field(
        default=30.0, gt=0, description="Typical gap when the reference book has no regular shipper."
    )
    dozing_multiple: float = Field(default=1.5, gt=0, description="Dozing: days since last > this × gap.")
    half_asleep_multiple: float = Field(default=3.0, gt=0, description="Half-asleep: > this × usual gap.")
    dormant_multiple: float = Field(default=6.0, gt=0, description="Dormant: > this × usual gap ...")
    dormant_after_days: int = Field(default=365, ge=1, description="... or more than this many days.")
    # attitude and loyalty form
    attitude_window_days: int = Field(default=365, ge=1, description="Surveys, sentiment, complaints seen.")
    survey_weight: float = Field(default=0.4, ge=0, description="Weight of the mean survey score (0-10).")
    nps_weight: float = Field(default=0.3, ge=0, description="Weight of the customer's own NPS.")
    sentiment_weight: float = Field(default=0.3, ge=0, description="Weight of the mean sentiment (-1..1).")
    complaint_penalty: float = Field(default=0.05, ge=0, description="Attitude lost per complaint.")
    max_complaint_penalty: float = Field(default=0.3, ge=0, le=1, description="Cap of the complaint penalty.")
    unresolved_penalty: float = Field(
        default=0.2, ge=0, le=1, description="Attitude lost × share of complaints still open."
    )
    high_attitude: float = Field(default=0.6, ge=0, le=1, description="High attitude: at least this.")
    negative_attitude: float = Field(default=0.4, ge=0, le=1, description="Negative attitude: below this.")
    repeat_period_days: int = Field(default=91, ge=1, description="Repeat behaviour: length of one period.")
    repeat_periods: int = Field(default=4, ge=1, description="Repeat behaviour: periods before the cutoff.")
    high_repeat: float = Field(
        default=0.75, ge=0, le=1, description="High repeat: shipped in at least this share of periods."
    )
    # value: ABC, scale, margin
    value_window_days: int = Field(default=365, ge=1, description="Revenue, volume and margin window.")
    abc_a_share: float = Field(default=0.80, gt=0, lt=1, description="A: top customers with this share.")
    abc_b_share: float = Field(default=0.95, gt=0, le=1, description="B: up to this cumulative share.")
    scale_large_share: float = Field(
        default=0.10, gt=0, lt=1, description="Large: this top share of accounts."
    )
    scale_medium_share: float = Field(default=0.30, gt=0, lt=1, description="Medium: the next share.")
    margin_quantiles: tuple[float, float] = Field(
        default=(1 / 3, 2 / 3), description="Low / medium / high margin: quantiles of positive margins."
    )
    margin_cuts: tuple[float, float] | None = Field(
        default=None, description="Fixed margin-rate cut points (low→medium, medium→high) instead."
    )
    relationship_matrix: dict[Scale, dict[Margin, Level]] = Field(default_factory=_default_matrix)
    # upgrade stage
    new_customer_days: int = Field(default=180, ge=0, description="New: first shipment within this.")
    loyal_min_tenure_days: int = Field(default=730, ge=0, description="Loyal: at least this tenure.")

    @model_validator(mode="after")
    def _ordered(self) -> TaxonomyConfig:
        if not self.dozing_multiple < self.half_asleep_multiple < self.dormant_multiple:
            raise ValueError("need dozing_multiple < half_asleep_multiple < dormant_multiple")
        if not self.abc_a_share < self.abc_b_share:
            raise ValueError("need abc_a_share < abc_b_share")
        if not self.scale_large_share + self.scale_medium_share <= 1:
            raise ValueError("need scale_large_share + scale_medium_share <= 1")
        if not 0 <= self.margin_quantiles[0] <= self.margin_quantiles[1] <= 1:
            raise ValueError("margin_quantiles must be ordered within [0, 1]")
        if self.margin_cuts is not None and not self.margin_cuts[0] <= self.margin_cuts[1]:
            raise ValueError("margin_cuts must be ordered")
        if not self.negative_attitude <= self.high_attitude:
            raise ValueError("need negative_attitude <= high_attitude")
        for scale in SCALE_BANDS:
            missing = set(MARGIN_BANDS) - set(self.relationship_matrix.get(scale, {}))  # type: ignore[call-overload]
            if missing:
                raise ValueError(f"relationship_matrix.{scale} lacks {sorted(missing)}")
        return self


def _config(config: TaxonomyConfig | None) -> TaxonomyConfig:
    return config if config is not None else TaxonomyConfig()


def _float(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _labels(values: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    """Codes (positions in ``values``; -1 for none) as an object array of labels (None for -1)."""
    return np.asarray((*values, None), dtype=object)[codes]


# ---------------------------------------------------------------------------------------------
# The rules (pure, vectorised). Each public rule returns labels; its ``_..._codes`` twin returns
# positions in the value tuple, which classify_customers turns into pandas categories cheaply.


def usual_gap_days(
    own_gap: ArrayLike,
    n_gaps: ArrayLike,
    segment_gap: ArrayLike,
    global_gap: float,
    config: TaxonomyConfig | None = None,
) -> np.ndarray:
    """Usual gap: own median gap with ``min_gaps`` gaps, else the segment's, else the global one."""
    cfg = _config(config)
    own, count, seg = _float(own_gap), _float(n_gaps), _float(segment_gap)
    fallback = np.where(np.isfinite(seg), seg, global_gap)
    gap = np.where((count >= cfg.min_gaps) & np.isfinite(own), own, fallback)
    return np.maximum(gap, cfg.min_usual_gap_days)


def _activity_codes(days_since_last: ArrayLike, usual_gap: ArrayLike, cfg: TaxonomyConfig) -> np.ndarray:
    days, gap = _float(days_since_last), np.maximum(_float(usual_gap), cfg.min_usual_gap_days)
    codes = np.zeros(np.broadcast_shapes(days.shape, gap.shape), dtype=np.int8)
    codes[days > cfg.dozing_multiple * gap] = 1
    codes[days > cfg.half_asleep_multiple * gap] = 2
    codes[(days > cfg.dormant_multiple * gap) | (days > cfg.dormant_after_days)] = 3
    codes[np.isnan(days)] = 4
    return codes


def activity_state(
    days_since_last: ArrayLike, usual_gap: ArrayLike, config: TaxonomyConfig | None = None
) -> np.ndarray:
    """Active / dozing / half-asleep / dormant against the usual gap; NaN days: no_shipments."""
    return _labels(ACTIVITY_STATES, _activity_codes(days_since_last, usual_gap, _config(config)))


def attitude_score(
    survey_mean: ArrayLike,
    nps: ArrayLike,
    sentiment_mean: ArrayLike,
    complaints: ArrayLike,
    unresolved_share: ArrayLike,
    config: TaxonomyConfig | None = None,
) -> np.ndarray:
    """Attitude in [0, 1] from surveys (0-10), own NPS (-1..1), sentiment (-1..1) and complaints.

    The weighted mean of the measures a customer has, less ``complaint_penalty`` per complaint
    (capped) and ``unresolved_penalty`` × the share of complaints still open; NaN when the
    customer has neither a survey answer nor a sentiment value (complaints alone say that
    something went wrong, not how the customer feels about the relationship).
    """
    cfg = _config(config)
    parts = (
        (_float(survey_mean) / 10.0, cfg.survey_weight),
        ((_float(nps) + 1.0) / 2.0, cfg.nps_weight),
        ((_float(sentiment_mean) + 1.0) / 2.0, cfg.sentiment_weight),
    )
    shape = np.broadcast_shapes(*(p.shape for p, _ in parts))
    total, weight = np.zeros(shape), np.zeros(shape)
    for value, w in parts:
        known = np.isfinite(value)
        total += np.where(known, np.clip(value, 0.0, 1.0) * w, 0.0)
        weight += np.where(known, w, 0.0)
    base = np.full(shape, np.nan)
    np.divide(total, weight, out=base, where=weight > 0)
    count = np.nan_to_num(_float(complaints), nan=0.0)
    open_share = np.clip(np.nan_to_num(_float(unresolved_share), nan=0.0), 0.0, 1.0)
    penalty = np.minimum(cfg.complaint_penalty * count, cfg.max_complaint_penalty)
    return np.clip(base - penalty - cfg.unresolved_penalty * open_share, 0.0, 1.0)


def _loyalty_codes(attitude: ArrayLike, repeat_behaviour: ArrayLike, cfg: TaxonomyConfig) -> np.ndarray:
    att, rep = _float(attitude), _float(repeat_behaviour)
    high_att = att >= cfg.high_attitude
    high_rep = np.nan_to_num(rep, nan=0.0) >= cfg.high_repeat
    codes = np.where(high_att, np.where(high_rep, 0, 1), np.where(high_rep, 2, 3)).astype(np.int8)
    codes[np.isnan(att)] = 4
    return codes


def loyalty_form(
    attitude: ArrayLike, repeat_behaviour: ArrayLike, config: TaxonomyConfig | None = None
) -> np.ndarray:
    """True / latent / spurious / none loyalty from attitude × repeat share; NaN attitude: unknown."""
    return _labels(LOYALTY_FORMS, _loyalty_codes(attitude, repeat_behaviour, _config(config)))


def fit_abc_cuts(value: ArrayLike, a_share: float = 0.8, b_share: float = 0.95) -> tuple[float, float]:
    """Least value of an A and of a B customer, from customers sorted by value.

    A customer is A when the customers above it hold less than ``a_share`` of the total (so the
    one that crosses the share is A), B likewise up to ``b_share``. No positive value: infinite
    cut points (everyone C).
    """
    v = _float(value)
    v = np.sort(v[np.isfinite(v) & (v > 0)])[::-1]
    total = float(v.sum())
    if total <= 0:
        return (float("inf"), float("inf"))
    before = (np.cumsum(v) - v) / total  # share held by the customers above each one
    return (float(v[before < a_share][-1]), float(v[before < b_share][-1]))


def _abc_codes(value: ArrayLike, cuts: tuple[float, float]) -> np.ndarray:
    v = _float(value)
    codes = np.full(v.shape, 2, dtype=np.int8)
    codes[(v >= cuts[1]) & (v > 0)] = 1
    codes[(v >= cuts[0]) & (v > 0)] = 0
    codes[np.isnan(v)] = 3
    return codes


def abc_class(value: ArrayLike, cuts: tuple[float, float]) -> np.ndarray:
    """A / B / C by the fitted cut points (value ≥ A cut: A; ≥ B cut: B); NaN value: unknown."""
    return _labels(ABC_CLASSES, _abc_codes(value, cuts))


def _scale_codes(value: ArrayLike, cuts: tuple[float, float]) -> np.ndarray:
    v = np.nan_to_num(_float(value), nan=0.0)
    codes = np.zeros(v.shape, dtype=np.int8)
    codes[(v >= cuts[0]) & (v > 0)] = 1
    codes[(v >= cuts[1]) & (v > 0)] = 2
    return codes


def scale_band(value: ArrayLike, cuts: tuple[float, float]) -> np.ndarray:
    """Small / medium / large account by the fitted (medium, large) cut points; NaN counts as small."""
    return _labels(SCALE_BANDS, _scale_codes(value, cuts))


def _margin_codes(margin_rate: ArrayLike, cuts: tuple[float, float]) -> np.ndarray:
    m = _float(margin_rate)
    codes = np.ones(m.shape, dtype=np.int8)
    codes[m >= cuts[0]] = 2
    codes[m >= cuts[1]] = 3
    codes[m < 0] = 0
    codes[np.isnan(m)] = -1
    return codes


def margin_band(margin_rate: ArrayLike, cuts: tuple[float, float]) -> np.ndarray:
    """Negative (< 0) / low / medium / high margin by the (medium, high) cut points; NaN: None."""
    return _labels(MARGIN_BANDS, _margin_codes(margin_rate, cuts))


def _relationship_codes(
    margin_rate: ArrayLike,
    scale: ArrayLike,
    margin_cuts: tuple[float, float],
    scale_cuts: tuple[float, float],
    cfg: TaxonomyConfig,
) -> np.ndarray:
    lookup = np.array(
        [
            [RELATIONSHIP_LEVELS.index(cfg.relationship_matrix[s][m]) for m in MARGIN_BANDS]  # type: ignore[index]
            for s in SCALE_BANDS
        ],
        dtype=np.int8,
    )
    margins = _margin_codes(margin_rate, margin_cuts)
    codes = lookup[_scale_codes(scale, scale_cuts), np.maximum(margins, 0)]
    codes[margins < 0] = RELATIONSHIP_LEVELS.index("unknown")
    return codes


def relationship_level(
    margin_rate: ArrayLike,
    scale: ArrayLike,
    *,
    margin_cuts: tuple[float, float],
    scale_cuts: tuple[float, float],
    config: TaxonomyConfig | None = None,
) -> np.ndarray:
    """Kotler level from margin band × account scale (large = few customers); NaN margin: unknown."""
    codes = _relationship_codes(margin_rate, scale, margin_cuts, scale_cuts, _config(config))
    return _labels(RELATIONSHIP_LEVELS, codes)


def _upgrade_codes(
    tenure_days: ArrayLike,
    occasions: ArrayLike,
    repeat_behaviour: ArrayLike,
    attitude: ArrayLike,
    cfg: TaxonomyConfig,
) -> np.ndarray:
    tenure, occ = _float(tenure_days), np.nan_to_num(_float(occasions), nan=0.0)
    rep, att = np.nan_to_num(_float(repeat_behaviour), nan=0.0), _float(attitude)
    codes = np.full(tenure.shape, 2, dtype=np.int8)
    not_negative = ~(att < cfg.negative_attitude)  # an unknown attitude is not held against anyone
    codes[(tenure >= cfg.loyal_min_tenure_days) & (rep >= cfg.high_repeat) & not_negative] = 3
    codes[(tenure < cfg.new_customer_days) | (occ <= 1)] = 1
    codes[np.isnan(tenure) | (occ < 1)] = 0
    return codes


def upgrade_stage(
    tenure_days: ArrayLike,
    occasions: ArrayLike,
    repeat_behaviour: ArrayLike,
    attitude: ArrayLike,
    config: TaxonomyConfig | None = None,
) -> np.ndarray:
    """Potential / new / repeat / loyal on the customer upgrade path (rules in docs/taxonomy.md).

    ``tenure_days``: days from the first shipment (or an earlier "customer since") to the cutoff,
    NaN when none yet; ``occasions``: distinct shipment days (only 0, 1 and more matter).
    """
    codes = _upgrade_codes(tenure_days, occasions, repeat_behaviour, attitude, _config(config))
    return _labels(UPGRADE_STAGES, codes)


# ---------------------------------------------------------------------------------------------
# The reference fitted on a book, and the classification of customers from a history


@dataclass(frozen=True)
class TaxonomyReference:
    """What the taxonomy learns from a book at a cutoff; plain JSON in the model bundle."""

    cutoff_day: int
    value_basis: str  # "revenue", "volume" or "shipments": what ABC and scale are measured in
    abc_cuts: tuple[float, float]
    scale_cuts: tuple[float, float]  # (medium, large) least values
    margin_cuts: tuple[float, float] | None  # (medium, high) least margin rates; None: no margins
    global_gap_days: float
    segment_gap_days: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (infinite cut points as None)."""
        return {
            "version": 1,
            "cutoff_day": self.cutoff_day,
            "value_basis": self.value_basis,
            "abc_cuts": [_finite_or_none(v) for v in self.abc_cuts],
            "scale_cuts": [_finite_or_none(v) for v in self.scale_cuts],
            "margin_cuts": None if self.margin_cuts is None else list(self.margin_cuts),
            "global_gap_days": self.global_gap_days,
            "segment_gap_days": dict(self.segment_gap_days),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TaxonomyReference:
        """Inverse of :meth:`to_dict`."""
        margin = raw["margin_cuts"]
        return cls(
            cutoff_day=int(raw["cutoff_day"]),
            value_basis=str(raw["value_basis"]),
            abc_cuts=_pair(raw["abc_cuts"]),
            scale_cuts=_pair(raw["scale_cuts"]),
            margin_cuts=None if margin is None else _pair(margin),
            global_gap_days=float(raw["global_gap_days"]),
            segment_gap_days={str(k): float(v) for k, v in raw["segment_gap_days"].items()},
        )


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _pair(raw: Any) -> tuple[float, float]:
    a, b = (float("inf") if v is None else float(v) for v in raw)
    return (a, b)


@dataclass(frozen=True)
class _Inputs:
    """Per-customer numbers at a cutoff, computed from a history."""

    days_since_last: np.ndarray
    own_gap: np.ndarray
    n_gaps: np.ndarray
    tenure_days: np.ndarray
    occasions: np.ndarray  # distinct shipment days: 0, 1 or 2 (2 = "more than one")
    repeat_share: np.ndarray
    shipments: np.ndarray
    revenue: np.ndarray
    volume: np.ndarray
    margin_rate: np.ndarray
    attitude: np.ndarray
    segment: np.ndarray


@dataclass(frozen=True)
class _Bounds:
    """Index ranges of each customer's events up to a day: all of them, or those in a window."""

    start: np.ndarray
    ends: Mapping[int, np.ndarray]  # days before the day → index one past the last event then

    @classmethod
    def of(cls, table: EventTable, codes: np.ndarray, day: int, windows: tuple[int, ...] = ()) -> _Bounds:
        """Bounds of customers ``codes`` (−1: no events) at ``day`` for the given windows (one search)."""
        valid = codes >= 0
        safe = np.where(valid, codes, 0)
        start = table.starts(safe)
        found = table.window_bounds(safe, day, (0, *windows))
        return cls(start, {k: np.where(valid, np.maximum(v, start), start) for k, v in found.items()})

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) of every event on or before the day."""
        return self.start, self.ends[0]

    def window(self, days: int) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) of the events in the ``days`` days up to and including the day."""
        return self.ends[days], self.ends[0]


def _gather(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row number and event index of every event in the slices [lo, hi)."""
    lengths = hi - lo
    rows = np.repeat(np.arange(lo.shape[0]), lengths)
    offsets = np.cumsum(lengths) - lengths
    index = np.arange(rows.shape[0]) + np.repeat(lo - offsets, lengths)
    return rows, index


def _group_sum(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows, weights=values, minlength=n)


def _median_gaps(table: EventTable, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median gap between distinct shipment days in the slices [lo, hi), and the number of gaps."""
    n = lo.shape[0]
    rows, index = _gather(lo, hi)
    days = table.day_at(index)
    distinct = np.ones(rows.shape[0], dtype=bool)
    distinct[1:] = (rows[1:] != rows[:-1]) | (days[1:] != days[:-1])
    rows, days = rows[distinct], days[distinct]
    same = rows[1:] == rows[:-1]
    gap_rows, gaps = rows[1:][same], np.diff(days)[same]
    gaps = np.sort((gap_rows << 32) | gaps) & _LOW_32  # by customer, then gap (gaps < 2**32)
    count = np.bincount(gap_rows, minlength=n)
    first = np.cumsum(count) - count
    median = np.full(n, np.nan)
    has = count > 0
    lo_i, hi_i = first[has] + (count[has] - 1) // 2, first[has] + count[has] // 2
    median[has] = (gaps[lo_i] + gaps[hi_i]) / 2.0
    return median, count.astype(np.float64)


def _attitude(history: HistoryArrays, codes: np.ndarray, day: int, cfg: TaxonomyConfig) -> np.ndarray:
    n = codes.shape[0]
    nan = np.full(n, np.nan)
    window = cfg.attitude_window_days
    survey_mean, nps, sentiment_mean = nan, nan, nan
    complaints, open_share = np.zeros(n), np.zeros(n)
    surveys = history.interactions.get("survey")
    if surveys is not None and surveys.has("score"):
        rows, index = _gather(*_Bounds.of(surveys, codes, day, (window,)).window(window))
        score = surveys.values["score"][index]
        answered = _group_sum(rows, np.isfinite(score).astype(np.float64), n)
        score = np.nan_to_num(score, nan=-1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            survey_mean = _group_sum(rows, np.maximum(score, 0.0), n) / answered
            promoters = _group_sum(rows, (score >= 9).astype(np.float64), n)
            detractors = _group_sum(rows, ((score >= 0) & (score <= 6)).astype(np.float64), n)
            nps = (promoters - detractors) / answered
    sentiment = history.interactions.get("sentiment")
    if sentiment is not None:
        rows, index = _gather(*_Bounds.of(sentiment, codes, day, (window,)).window(window))
        with np.errstate(invalid="ignore", divide="ignore"):
            sentiment_mean = _group_sum(rows, sentiment.values["sentiment"][index], n) / np.bincount(
                rows, minlength=n
            )
    complaint_table = history.interactions.get("complaint")
    if complaint_table is not None:
        bounds = _Bounds.of(complaint_table, codes, day, (window,))
        lo, hi = bounds.window(window)
        complaints = (hi - lo).astype(np.float64)
        if history.resolutions is not None:
            all_lo, all_hi = bounds.all()
            r_lo, r_hi = _Bounds.of(history.resolutions, codes, day).all()
            opened = (all_hi - all_lo).astype(np.float64)
            still_open = np.maximum(opened - (r_hi - r_lo), 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                open_share = np.where(opened > 0, still_open / np.maximum(opened, 1.0), 0.0)
    return attitude_score(survey_mean, nps, sentiment_mean, complaints, open_share, cfg)


def _inputs(history: HistoryArrays, codes: np.ndarray, day: int, cfg: TaxonomyConfig) -> _Inputs:
    ships = history.shipments
    n = codes.shape[0]
    valid = codes >= 0
    period, periods = cfg.repeat_period_days, cfg.repeat_periods
    repeat_offsets = tuple(k * period for k in range(1, periods + 1))
    bounds = _Bounds.of(ships, codes, day, (cfg.gap_window_days, cfg.value_window_days, *repeat_offsets))
    all_lo, all_hi = bounds.all()
    shipped = all_hi > all_lo
    first = last = np.zeros(n, dtype=np.int64)
    if shipped.any():
        first = np.where(shipped, ships.day_at(np.where(shipped, all_lo, 0)), 0)
        last = np.where(shipped, ships.day_at(np.where(shipped, all_hi - 1, 0)), 0)
    days_since = np.where(shipped, day - last, np.nan)
    since = history.profile.get("since_day")
    start = first.astype(np.float64)
    if since is not None:  # the profile's "customer since" counts when it is earlier (and known then)
        known_since = np.full(n, np.nan)
        known_since[valid] = since[codes[valid]]
        start = np.where(known_since <= day, np.fmin(start, known_since), start)
    tenure = np.where(shipped, day - start, np.nan)
    occasions = np.where(shipped, np.where(first == last, 1.0, 2.0), 0.0)
    own_gap, n_gaps = _median_gaps(ships, *bounds.window(cfg.gap_window_days))
    ends = bounds.ends
    active_periods = sum(
        (ends[k * period] > ends[(k + 1) * period]).astype(np.float64) for k in range(periods)
    )
    repeat = np.where(valid, active_periods / periods, 0.0)
    lo, hi = bounds.window(cfg.value_window_days)
    rows, index = _gather(lo, hi)
    count = (hi - lo).astype(np.float64)
    revenue = volume = margin = np.full(n, np.nan)
    if ships.has("revenue"):
        rev = ships.values["revenue"][index]
        revenue = _group_sum(rows, np.nan_to_num(rev, nan=0.0), n)
        if ships.has("cost"):
            cost = ships.values["cost"][index]
            both = np.isfinite(rev) & np.isfinite(cost)
            rev_both = _group_sum(rows, np.where(both, rev, 0.0), n)
            cost_both = _group_sum(rows, np.where(both, cost, 0.0), n)
            with np.errstate(invalid="ignore", divide="ignore"):
                margin = np.where(rev_both > 0, (rev_both - cost_both) / rev_both, np.nan)
    if ships.has("volume"):
        volume = _group_sum(rows, np.nan_to_num(ships.values["volume"][index], nan=0.0), n)
    segments = history.profile_categories.get("segment")
    segment = np.full(n, None, dtype=object)
    if segments is not None:
        segment[valid] = segments[codes[valid]]
    return _Inputs(
        days_since_last=days_since,
        own_gap=own_gap,
        n_gaps=n_gaps,
        tenure_days=tenure,
        occasions=occasions,
        repeat_share=repeat,
        shipments=count,
        revenue=revenue,
        volume=volume,
        margin_rate=margin,
        attitude=_attitude(history, codes, day, cfg),
        segment=segment,
    )


def _value(inputs: _Inputs, basis: str) -> np.ndarray:
    return {"revenue": inputs.revenue, "volume": inputs.volume, "shipments": inputs.shipments}[basis]


def _value_basis(history: HistoryArrays) -> str:
    for name in ("revenue", "volume"):
        if history.shipments.has(name):
            return name
    return "shipments"


def fit_taxonomy_reference(
    history: HistoryArrays, cutoff_day: int, config: TaxonomyConfig | None = None
) -> TaxonomyReference:
    """Fit segment gaps and value, scale and margin cut points on every customer at ``cutoff_day``."""
    cfg = _config(config)
    codes = np.arange(history.n_customers, dtype=np.int64)
    inputs = _inputs(history, codes, cutoff_day, cfg)
    regular = (inputs.n_gaps >= cfg.min_gaps) & np.isfinite(inputs.own_gap)
    global_gap = float(np.median(inputs.own_gap[regular])) if regular.any() else cfg.fallback_gap_days
    segment_gaps: dict[str, float] = {}
    if regular.any():
        frame = pd.DataFrame({"segment": inputs.segment[regular], "gap": inputs.own_gap[regular]})
        medians = frame.dropna(subset=["segment"]).groupby("segment", sort=True)["gap"].median()
        segment_gaps = {str(k): float(v) for k, v in medians.items()}
    basis = _value_basis(history)
    value = _value(inputs, basis)
    positive = value[np.isfinite(value) & (value > 0)]
    if positive.size:
        top = 1.0 - cfg.scale_large_share
        scale_cuts = (
            float(np.quantile(positive, top - cfg.scale_medium_share)),
            float(np.quantile(positive, top)),
        )
    else:
        scale_cuts = (float("inf"), float("inf"))
    margin_cuts: tuple[float, float] | None = None
    if history.shipments.has("revenue") and history.shipments.has("cost"):
        if cfg.margin_cuts is not None:
            margin_cuts = cfg.margin_cuts
        else:
            rates = inputs.margin_rate[np.isfinite(inputs.margin_rate) & (inputs.margin_rate >= 0)]
            q_low, q_high = cfg.margin_quantiles
            margin_cuts = (
                (float(np.quantile(rates, q_low)), float(np.quantile(rates, q_high)))
                if rates.size
                else (0.0, 0.0)
            )
    return TaxonomyReference(
        cutoff_day=int(cutoff_day),
        value_basis=basis,
        abc_cuts=fit_abc_cuts(value, cfg.abc_a_share, cfg.abc_b_share),
        scale_cuts=scale_cuts,
        margin_cuts=margin_cuts,
        global_gap_days=global_gap,
        segment_gap_days=segment_gaps,
    )


# The label columns of classify_customers: what every score carries.
LABEL_COLUMNS: tuple[str, ...] = (
    "activity_state",
    "loyalty_form",
    "abc_class",
    "relationship_level",
    "upgrade_stage",
)
# The columns of classify_customers, in order: the five labels, then the numbers behind them.
OUTPUT_COLUMNS: tuple[str, ...] = (
    *LABEL_COLUMNS,
    "days_since_last_shipment",
    "usual_gap_days",
    "attitude",
    "revenue_12m",
    "margin_rate",
    "repeat_share",
    "tenure_days",
    "shipments_12m",
)


def classify_customers(
    history: HistoryArrays,
    codes: ArrayLike,
    cutoff_day: int,
    reference: TaxonomyReference,
    config: TaxonomyConfig | None = None,
) -> pd.DataFrame:
    """One row per customer code (index: customer id; code −1: a potential customer) at the cutoff."""
    cfg = _config(config)
    code_arr = np.asarray(codes, dtype=np.int64)
    inputs = _inputs(history, code_arr, int(cutoff_day), cfg)
    segment_gap = _segment_gaps(inputs.segment, reference.segment_gap_days)
    gap = usual_gap_days(inputs.own_gap, inputs.n_gaps, segment_gap, reference.global_gap_days, cfg)
    has_basis = reference.value_basis == "shipments" or history.shipments.has(reference.value_basis)
    value = _value(inputs, reference.value_basis) if has_basis else np.full(code_arr.shape, np.nan)
    margin = inputs.margin_rate if reference.margin_cuts is not None else np.full(code_arr.shape, np.nan)
    margin_cuts = reference.margin_cuts if reference.margin_cuts is not None else (0.0, 0.0)
    codes_by_column = {
        "activity_state": (_activity_codes(inputs.days_since_last, gap, cfg), ACTIVITY_STATES),
        "loyalty_form": (_loyalty_codes(inputs.attitude, inputs.repeat_share, cfg), LOYALTY_FORMS),
        "abc_class": (_abc_codes(value, reference.abc_cuts), ABC_CLASSES),
        "relationship_level": (
            _relationship_codes(margin, value, margin_cuts, reference.scale_cuts, cfg),
            RELATIONSHIP_LEVELS,
        ),
        "upgrade_stage": (
            _upgrade_codes(inputs.tenure_days, inputs.occasions, inputs.repeat_share, inputs.attitude, cfg),
            UPGRADE_STAGES,
        ),
    }
    out = {
        name: pd.Categorical.from_codes(label_codes, dtype=pd.CategoricalDtype(list(values)))
        for name, (label_codes, values) in codes_by_column.items()
    }
    numbers = {
        "days_since_last_shipment": inputs.days_since_last,
        "usual_gap_days": gap,
        "attitude": inputs.attitude,
        "revenue_12m": inputs.revenue,
        "margin_rate": margin,
        "repeat_share": inputs.repeat_share,
        "tenure_days": inputs.tenure_days,
        "shipments_12m": inputs.shipments,
    }
    ids = np.full(code_arr.shape, None, dtype=object)
    known = code_arr >= 0
    ids[known] = history.customer_ids[code_arr[known]]
    index = pd.Index(ids, dtype=object, name="customer_id")
    return pd.DataFrame({**out, **numbers}, index=index)


def _segment_gaps(segment: np.ndarray, gaps: Mapping[str, float]) -> np.ndarray:
    """The reference's typical gap of each customer's segment (NaN: no segment or not seen)."""
    if not gaps:
        return np.full(segment.shape, np.nan)
    codes, uniques = pd.factorize(segment)  # None is -1
    values = np.array([gaps.get(str(u), np.nan) for u in uniques] + [np.nan], dtype=np.float64)
    return values[codes]  # -1 reads the trailing NaN

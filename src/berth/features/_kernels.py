"""Compiled per-customer loops behind the event features (numba, shared by training and serving).

Each customer's events up to the cutoff are walked once, newest first: window counts and sums are
accumulated directly over the events of the window, so a customer's features read nothing of any
other customer (no cross-customer rounding) and one customer costs microseconds, not the hundreds
of small array operations a vectorised formulation needs. Windows are ages in days: an event of
day ``d`` is ``c - d`` days old at cutoff day ``c``, and lies in window ``[lo, hi)`` when
``lo <= c - d < hi``. Only events on or before the cutoff are ever read: the search for the end of
a customer's events (``_end``) is where the cutoff is applied.

Inputs are the sorted search keys of :class:`berth.features._history.EventTable` and its value
columns; outputs are one row per feature (in the order of the ``*_OUTPUTS`` names), one column per
customer. An absent value column is passed as an empty array.
"""

from __future__ import annotations

import numpy as np

from berth._compile import jit

_DAY_OFFSET = 1 << 31  # as in _history: keeps day + offset positive inside the low 32 bits
_LOW_32 = (1 << 32) - 1

# Age windows [lo, hi) in days that shipment sums are taken over (rows of the accumulators).
_W0_30, _W0_90, _W0_180, _W0_365, _W30_60, _W90_180, _W180_360 = range(7)
_WINDOW_LO = np.array([0, 0, 0, 0, 30, 90, 180], dtype=np.int64)
_WINDOW_HI = np.array([30, 90, 180, 365, 60, 180, 360], dtype=np.int64)
# Quantities summed per window (columns of the accumulators).
(_COUNT, _VOLUME, _REVENUE, _COST, _VOLUME_PRICED, _REVENUE_PRICED) = range(6)
(_DELAY_KNOWN, _DELAY_SUM, _ON_TIME, _DAMAGED_KNOWN, _DAMAGED_SUM) = range(6, 11)
_N_SUMS = 11

SHIPMENT_OUTPUTS = (
    "recency_days",
    "first_shipment_age_days",
    "n_shipments_30",
    "n_shipments_90",
    "n_shipments_180",
    "n_shipments_365",
    "shipments_trend_30",
    "shipments_trend_90",
    "shipments_trend_180",
    "active_days_365",
    "gap_mean_days",
    "gap_mean_days_365",
    "gap_cv_365",
    "gap_ratio",
    "_btyd_frequency",
    "_btyd_recency",
    "_btyd_T",
    "volume_90",
    "volume_365",
    "volume_trend_30",
    "volume_trend_90",
    "volume_trend_180",
    "volume_per_shipment_365",
    "revenue_90",
    "revenue_365",
    "revenue_trend_90",
    "revenue_trend_180",
    "revenue_per_unit_180",
    "price_trend_90",
    "margin_share_365",
    "on_time_share_90",
    "delay_mean_hours_90",
    "on_time_share_365",
    "delay_mean_hours_365",
    "delay_trend_hours",
    "damage_rate_365",
    "top_cargo_share_365",
    "lanes_365",
)

INTERACTION_OUTPUTS = (
    "complaints_90",
    "complaints_365",
    "days_since_last_complaint",
    "unresolved_complaints",
    "resolution_days_mean_365",
    "claims_365",
    "survey_score_last",
    "survey_score_change",
    "days_since_last_survey",
    "survey_score_mean_365",
    "sentiment_mean_365",
    "contacts_90",
    "meetings_365",
    "redemptions_365",
)

_N_SHIPMENT_OUTPUTS = len(SHIPMENT_OUTPUTS)
_N_INTERACTION_OUTPUTS = len(INTERACTION_OUTPUTS)
# Cached on disk where possible (berth._compile); nogil: API worker threads score in
# parallel; numpy's error model: x / 0 gives inf or NaN (then made NaN), as the array code did.
_jit = jit(nogil=True, error_model="numpy", boundscheck=False)
_inline = jit(nogil=True, error_model="numpy", boundscheck=False, inline="always")


@_inline
def _ratio(num: float, den: float) -> float:
    """num / den, NaN where that is not finite (a zero or missing denominator)."""
    out = num / den if den != 0.0 else np.nan
    return out if np.isfinite(out) else np.nan


@_inline
def _not_negative(value: float) -> float:
    """max(value, 0), NaN kept (as ``np.maximum``)."""
    return value if value > 0.0 or value != value else 0.0


@_inline
def _log_ratio(recent: float, previous: float) -> float:
    """Symmetric, smoothed trend: log((recent + 1) / (previous + 1)), negatives as 0."""
    return np.log1p(_not_negative(recent)) - np.log1p(_not_negative(previous))


@_inline
def _zero_if_nan(value: float) -> float:
    return value if value == value else 0.0


@_inline
def _day(key: int) -> int:
    """The day of a search key."""
    return (key & _LOW_32) - _DAY_OFFSET


@_inline
def _start(key: np.ndarray, code: int) -> int:
    """Index of the customer's first event."""
    return int(np.searchsorted(key, code << 32, side="left"))


@_inline
def _end(key: np.ndarray, code: int, cutoff_day: int) -> int:
    """One past the customer's last event on or before the cutoff day."""
    return int(np.searchsorted(key, (code << 32) | (cutoff_day + _DAY_OFFSET), side="right"))


@_jit
def shipment_features(
    key: np.ndarray,
    codes: np.ndarray,
    cutoff_day: int,
    on_time_threshold_hours: float,
    volume: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
    delay_hours: np.ndarray,
    damaged: np.ndarray,
    cargo_type: np.ndarray,
    lane: np.ndarray,
    n_cargo_types: int,
    n_lanes: int,
) -> np.ndarray:
    """The :data:`SHIPMENT_OUTPUTS` rows for customers ``codes`` at ``cutoff_day``."""
    c = cutoff_day
    out = np.full((_N_SHIPMENT_OUTPUTS, codes.shape[0]), np.nan)
    has_volume, has_revenue, has_cost = volume.shape[0] > 0, revenue.shape[0] > 0, cost.shape[0] > 0
    has_delay, has_damaged = delay_hours.shape[0] > 0, damaged.shape[0] > 0
    has_cargo, has_lane = cargo_type.shape[0] > 0, lane.shape[0] > 0
    sums = np.zeros((7, _N_SUMS))
    cargo_counts = np.zeros(max(n_cargo_types, 1), dtype=np.int64)
    lane_counts = np.zeros(max(n_lanes, 1), dtype=np.int64)
    for row in range(codes.shape[0]):
        code = codes[row]
        start = _start(key, code)
        hi = _end(key, code, c)
        if hi <= start:
            continue
        sums[:] = 0.0
        first_day, last_day = _day(key[start]), _day(key[hi - 1])
        distinct_all = 0
        distinct_365 = 0
        gap_n, gap_sum, gap_sq = 0, 0.0, 0.0
        cargo_total, cargo_top, lanes_seen = 0, 0, 0
        window_lo = hi  # first event of the 365-day window
        for i in range(hi - 1, start - 1, -1):
            day = _day(key[i])
            new_day = i == start or _day(key[i - 1]) != day
            if new_day:
                distinct_all += 1
            age = c - day
            if age >= 365:
                continue
            window_lo = i
            if new_day:
                distinct_365 += 1
            if new_day and i > start:  # the gap back to the customer's previous shipping day
                gap = day - _day(key[i - 1])
                gap_n += 1
                gap_sum += gap
                gap_sq += float(gap) * float(gap)
            v = volume[i] if has_volume else np.nan
            r = revenue[i] if has_revenue else np.nan
            k = cost[i] if has_cost else np.nan
            d = delay_hours[i] if has_delay else np.nan
            g = damaged[i] if has_damaged else np.nan
            for w in range(7):
                if _WINDOW_LO[w] <= age < _WINDOW_HI[w]:
                    sums[w, _COUNT] += 1.0
                    sums[w, _VOLUME] += _zero_if_nan(v)
                    sums[w, _REVENUE] += _zero_if_nan(r)
                    sums[w, _COST] += _zero_if_nan(k)
                    if np.isfinite(r):
                        sums[w, _VOLUME_PRICED] += _zero_if_nan(v)
                    if np.isfinite(v):
                        sums[w, _REVENUE_PRICED] += _zero_if_nan(r)
                    if np.isfinite(d):
                        sums[w, _DELAY_KNOWN] += 1.0
                    sums[w, _DELAY_SUM] += _zero_if_nan(d)
                    if d <= on_time_threshold_hours:
                        sums[w, _ON_TIME] += 1.0
                    if np.isfinite(g):
                        sums[w, _DAMAGED_KNOWN] += 1.0
                    sums[w, _DAMAGED_SUM] += _zero_if_nan(g)
            if has_cargo and cargo_type[i] == cargo_type[i]:
                level = int(cargo_type[i])
                cargo_counts[level] += 1
                cargo_total += 1
                cargo_top = max(cargo_top, cargo_counts[level])
            if has_lane and lane[i] == lane[i]:
                level = int(lane[i])
                if lane_counts[level] == 0:
                    lanes_seen += 1
                lane_counts[level] += 1
        for i in range(window_lo, hi):  # clear the level counts for the next customer
            if has_cargo and cargo_type[i] == cargo_type[i]:
                cargo_counts[int(cargo_type[i])] = 0
            if has_lane and lane[i] == lane[i]:
                lane_counts[int(lane[i])] = 0

        o = out[:, row]
        o[0] = c - last_day
        o[1] = c - first_day
        o[2] = sums[_W0_30, _COUNT]
        o[3] = sums[_W0_90, _COUNT]
        o[4] = sums[_W0_180, _COUNT]
        o[5] = sums[_W0_365, _COUNT]
        o[6] = _log_ratio(sums[_W0_30, _COUNT], sums[_W30_60, _COUNT])
        o[7] = _log_ratio(sums[_W0_90, _COUNT], sums[_W90_180, _COUNT])
        o[8] = _log_ratio(sums[_W0_180, _COUNT], sums[_W180_360, _COUNT])
        o[9] = distinct_365
        mean_gap_all = _ratio(float(last_day - first_day), distinct_all - 1.0)
        mean_gap = _ratio(gap_sum, float(gap_n))
        var_gap = _not_negative(_ratio(gap_sq, float(gap_n)) - mean_gap * mean_gap)
        o[10] = mean_gap_all
        o[11] = mean_gap
        o[12] = _ratio(np.sqrt(var_gap), mean_gap)
        o[13] = _ratio(o[0], mean_gap_all)
        o[14] = distinct_all - 1.0
        o[15] = last_day - first_day
        o[16] = c - first_day
        o[17] = sums[_W0_90, _VOLUME]
        o[18] = sums[_W0_365, _VOLUME]
        o[19] = _log_ratio(sums[_W0_30, _VOLUME], sums[_W30_60, _VOLUME])
        o[20] = _log_ratio(sums[_W0_90, _VOLUME], sums[_W90_180, _VOLUME])
        o[21] = _log_ratio(sums[_W0_180, _VOLUME], sums[_W180_360, _VOLUME])
        o[22] = _ratio(o[18], o[5])
        o[23] = sums[_W0_90, _REVENUE]
        o[24] = sums[_W0_365, _REVENUE]
        o[25] = _log_ratio(sums[_W0_90, _REVENUE], sums[_W90_180, _REVENUE])
        o[26] = _log_ratio(sums[_W0_180, _REVENUE], sums[_W180_360, _REVENUE])
        o[27] = _ratio(sums[_W0_180, _REVENUE_PRICED], sums[_W0_180, _VOLUME_PRICED])
        price_recent = _ratio(sums[_W0_90, _REVENUE_PRICED], sums[_W0_90, _VOLUME_PRICED])
        price_before = _ratio(sums[_W90_180, _REVENUE_PRICED], sums[_W90_180, _VOLUME_PRICED])
        price_change = _ratio(price_recent, price_before)
        o[28] = np.log(price_change) if price_change > 0.0 else np.nan
        o[29] = _ratio(o[24] - sums[_W0_365, _COST], o[24])
        o[30] = _ratio(sums[_W0_90, _ON_TIME], sums[_W0_90, _DELAY_KNOWN])
        o[31] = _ratio(sums[_W0_90, _DELAY_SUM], sums[_W0_90, _DELAY_KNOWN])
        o[32] = _ratio(sums[_W0_365, _ON_TIME], sums[_W0_365, _DELAY_KNOWN])
        o[33] = _ratio(sums[_W0_365, _DELAY_SUM], sums[_W0_365, _DELAY_KNOWN])
        o[34] = o[31] - o[33]
        o[35] = _ratio(sums[_W0_365, _DAMAGED_SUM], sums[_W0_365, _DAMAGED_KNOWN])
        if cargo_total > 0:
            o[36] = cargo_top / cargo_total
        if lanes_seen > 0:
            o[37] = lanes_seen
    return out


@_inline
def _count_younger(key: np.ndarray, start: int, hi: int, cutoff_day: int, days: int) -> int:
    """Events in [start, hi) less than ``days`` old (walking back from the newest)."""
    i = hi - 1
    while i >= start and cutoff_day - _day(key[i]) < days:
        i -= 1
    return hi - 1 - i


@_inline
def _mean_younger(
    key: np.ndarray, values: np.ndarray, start: int, hi: int, cutoff_day: int, days: int
) -> float:
    """Mean of ``values`` over the events in [start, hi) less than ``days`` old."""
    total, n = 0.0, 0
    i = hi - 1
    while i >= start and cutoff_day - _day(key[i]) < days:
        total += values[i]
        n += 1
        i -= 1
    return _ratio(total, float(n))


@_jit
def interaction_features(
    codes: np.ndarray,
    cutoff_day: int,
    complaints: np.ndarray,
    resolutions: np.ndarray,
    resolution_days: np.ndarray,
    claims: np.ndarray,
    surveys: np.ndarray,
    survey_scores: np.ndarray,
    sentiments: np.ndarray,
    sentiment_values: np.ndarray,
    contacts: np.ndarray,
    meetings: np.ndarray,
    redemptions: np.ndarray,
) -> np.ndarray:
    """The :data:`INTERACTION_OUTPUTS` rows for customers ``codes`` at ``cutoff_day`` (each argument
    pair is a table's search keys and a value column; an absent table is an empty key array)."""
    c = cutoff_day
    out = np.full((_N_INTERACTION_OUTPUTS, codes.shape[0]), np.nan)
    for row in range(codes.shape[0]):
        code = codes[row]
        o = out[:, row]
        start, hi = _start(complaints, code), _end(complaints, code, c)
        o[0] = _count_younger(complaints, start, hi, c, 90)
        o[1] = _count_younger(complaints, start, hi, c, 365)
        if hi > start:
            o[2] = c - _day(complaints[hi - 1])
        r_start, r_hi = _start(resolutions, code), _end(resolutions, code, c)
        o[3] = (hi - start) - (r_hi - r_start)
        o[4] = _mean_younger(resolutions, resolution_days, r_start, r_hi, c, 365)
        start, hi = _start(claims, code), _end(claims, code, c)
        o[5] = _count_younger(claims, start, hi, c, 365)
        start, hi = _start(surveys, code), _end(surveys, code, c)
        if hi > start and survey_scores.shape[0] > 0:
            o[6] = survey_scores[hi - 1]
            if hi - 1 > start:
                o[7] = survey_scores[hi - 1] - survey_scores[hi - 2]
            o[8] = c - _day(surveys[hi - 1])
        if survey_scores.shape[0] > 0:
            o[9] = _mean_younger(surveys, survey_scores, start, hi, c, 365)
        start, hi = _start(sentiments, code), _end(sentiments, code, c)
        o[10] = _mean_younger(sentiments, sentiment_values, start, hi, c, 365)
        start, hi = _start(contacts, code), _end(contacts, code, c)
        o[11] = _count_younger(contacts, start, hi, c, 90)
        start, hi = _start(meetings, code), _end(meetings, code, c)
        o[12] = _count_younger(meetings, start, hi, c, 365)
        start, hi = _start(redemptions, code), _end(redemptions, code, c)
        o[13] = _count_younger(redemptions, start, hi, c, 365)
    return out


@_jit
def window_sums(
    key: np.ndarray, values: np.ndarray, codes: np.ndarray, after_day: int, until_day: int
) -> np.ndarray:
    """Sum of ``values`` (NaN as 0) over each customer's events with a day in (after_day, until_day]:
    the labels' volumes after and before a cutoff, each summed over the customer's own events."""
    out = np.zeros(codes.shape[0])
    for row in range(codes.shape[0]):
        code = codes[row]
        total = 0.0
        for i in range(_end(key, code, after_day), _end(key, code, until_day)):
            total += _zero_if_nan(values[i])
        out[row] = total
    return out


def warm_up() -> None:
    """Compile the kernels, or load them from numba's on-disk cache, for the argument types the
    feature builders pass: a loaded model calls this so no request pays for it."""
    keys = np.empty(0, dtype=np.int64)
    numbers = np.empty(0, dtype=np.float64)
    small = np.empty(0, dtype=np.float32)
    shipment_features(keys, keys, 0, 24.0, numbers, numbers, numbers, numbers, small, small, small, 0, 0)
    interaction_features(keys, 0, keys, keys, numbers, keys, keys, numbers, keys, numbers, keys, keys, keys)

"""Point-in-time features: (history, cutoff) → one row per eligible customer.

Every quantity reads only events on or before the cutoff day: the event features come from
compiled per-customer loops (:mod:`berth.features._kernels`), which find the end of each
customer's events at the cutoff and read nothing past it, so adding or changing data after the
cutoff cannot change a feature. A customer's features read only its own events: one customer costs
microseconds (the HTTP API), and a book of ten million events one pass per cutoff (training).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from berth.features import _kernels
from berth.features._history import EventTable, HistoryArrays, _codes_among
from berth.features._spec import FeatureSpec
from berth.modeling import btyd

_FEW_ROWS = 8  # up to this many rows, the feature matrix is assembled in one call
_NAN = np.nan
_BTYD_FIT_SAMPLE = 20_000


@dataclass(frozen=True)
class FeatureMatrix:
    """Features of the eligible customers at one cutoff, columns in ``spec.feature_names`` order."""

    codes: np.ndarray  # customer codes into HistoryArrays.customer_ids
    values: np.ndarray  # float64, shape (len(codes), len(feature_names))
    feature_names: tuple[str, ...]
    cutoff_day: int
    btyd_params: btyd.BGNBDParams | None


def eligible_codes(history: HistoryArrays, cutoff_day: int, lookback_days: int) -> np.ndarray:
    """Customers with at least one shipment in (cutoff − lookback, cutoff]."""
    ships = history.shipments
    codes = np.arange(history.n_customers, dtype=np.int64)
    hi = ships.bounds(codes, cutoff_day)
    lo = ships.bounds(codes, cutoff_day - lookback_days)
    return codes[hi > lo]


# Inputs a kernel output needs besides the events themselves: without them it is not a feature.
_SHIPMENT_INPUTS: Mapping[str, tuple[str, ...]] = {
    **{name: ("volume",) for name in _kernels.SHIPMENT_OUTPUTS if name.startswith("volume_")},
    **dict.fromkeys(("revenue_90", "revenue_365", "revenue_trend_90", "revenue_trend_180"), ("revenue",)),
    **dict.fromkeys(("revenue_per_unit_180", "price_trend_90"), ("revenue", "volume")),
    "margin_share_365": ("revenue", "cost"),
    **{
        name: ("delay_hours",)
        for name in _kernels.SHIPMENT_OUTPUTS
        if name.startswith(("on_time_", "delay_"))
    },
    "damage_rate_365": ("damaged",),
    "top_cargo_share_365": ("cargo_type",),
    "lanes_365": ("lane",),
}
_RESOLUTION_OUTPUTS = frozenset({"unresolved_complaints", "resolution_days_mean_365"})
_SURVEY_OUTPUTS = frozenset(
    {"survey_score_last", "survey_score_change", "days_since_last_survey", "survey_score_mean_365"}
)
_NO_EVENTS = np.empty(0, dtype=np.int64)


def _column(values: Mapping[str, np.ndarray], name: str, dtype: type[np.generic]) -> np.ndarray:
    """A value column as the kernels take it (an empty array when absent)."""
    column = values.get(name)
    return np.empty(0, dtype=dtype) if column is None else _compiled_layout(column, dtype)


def _events(keys_or_codes: np.ndarray) -> np.ndarray:
    """Search keys or customer codes as the kernels take them."""
    return _compiled_layout(keys_or_codes, np.int64)


def _compiled_layout(array: np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    """``array`` as ``dtype``, contiguous and writable: the one layout the kernels are compiled for
    (:func:`berth.features._kernels.warm_up`), so no call compiles another. Copied only if not."""
    flags = array.flags
    if array.dtype == dtype and flags.c_contiguous and flags.writeable:
        return array
    return np.require(array, dtype, ("C", "W"))


def _n_levels(codes: np.ndarray) -> int:
    """One more than the largest category code (0 when there is none)."""
    known = codes[np.isfinite(codes)]
    return int(known.max()) + 1 if known.shape[0] else 0


def _shipment_features(
    ships: EventTable, k: np.ndarray, c: int, spec: FeatureSpec, out: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    values = ships.values
    cargo_type = _column(values, "cargo_type", np.float32)
    lane = _column(values, "lane", np.float32)
    rows = _kernels.shipment_features(
        _events(ships.key),
        _events(k),
        int(c),
        float(spec.on_time_threshold_hours),
        _column(values, "volume", np.float64),
        _column(values, "revenue", np.float64),
        _column(values, "cost", np.float64),
        _column(values, "delay_hours", np.float64),
        _column(values, "damaged", np.float32),
        cargo_type,
        lane,
        _n_levels(cargo_type),
        _n_levels(lane),
    )
    for name, row in zip(_kernels.SHIPMENT_OUTPUTS, rows, strict=True):
        if all(needed in values for needed in _SHIPMENT_INPUTS.get(name, ())):
            out[name] = row
    return out


def _interaction_features(
    history: HistoryArrays, k: np.ndarray, c: int, out: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    tables = history.interactions
    if not tables:
        return out
    resolutions = history.resolutions
    surveys = tables["survey"]
    sentiment = tables.get("sentiment")
    rows = _kernels.interaction_features(
        _events(k),
        int(c),
        _events(tables["complaint"].key),
        _events(resolutions.key) if resolutions is not None else _NO_EVENTS,
        _column(resolutions.values if resolutions is not None else {}, "resolution_days", np.float64),
        _events(tables["claim"].key),
        _events(surveys.key),
        _column(surveys.values, "score", np.float64),
        _events(sentiment.key) if sentiment is not None else _NO_EVENTS,
        _column(sentiment.values if sentiment is not None else {}, "sentiment", np.float64),
        _events(tables["contact"].key),
        _events(tables["meeting"].key),
        _events(tables["redemption"].key),
    )
    for name, row in zip(_kernels.INTERACTION_OUTPUTS, rows, strict=True):
        if name in _RESOLUTION_OUTPUTS and resolutions is None:
            continue
        if name in _SURVEY_OUTPUTS and not surveys.has("score"):
            continue
        if name == "sentiment_mean_365" and sentiment is None:
            continue
        out[name] = row
    return out


def shipment_window_sums(
    history: HistoryArrays, codes: np.ndarray, after_day: int, until_day: int, column: str
) -> np.ndarray:
    """Per customer ``codes``, the sum of a shipment value column (missing as 0) over the days in
    (after_day, until_day], taken over the customer's own shipments (the labels' volumes)."""
    ships = history.shipments
    if column not in ships.values:
        raise KeyError(f"the shipments have no {column!r} column")
    values = _column(ships.values, column, np.float64)
    return _kernels.window_sums(_events(ships.key), values, _events(codes), int(after_day), int(until_day))


def _profile_features(
    history: HistoryArrays, k: np.ndarray, c: int, spec: FeatureSpec, out: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    profile = history.profile
    if "since_day" in profile:
        out["customer_age_days"] = c - profile["since_day"][k]
    for name in ("contract", "loyalty_member", "has_account_manager"):
        if name in profile and name not in spec.categorical_levels:
            out[name] = profile[name][k]
    for column, levels in spec.categorical_levels.items():
        values = history.profile_categories.get(column)
        if values is None:
            continue
        chosen = _codes_among(list(levels), values[k])  # -1: another level, or none
        one_hot = np.zeros((len(levels), k.shape[0]))
        known = np.flatnonzero(chosen >= 0)
        one_hot[chosen[known], known] = 1.0
        for level, row in zip(levels, one_hot, strict=True):
            out[f"{column}={level}"] = row
    return out


def _btyd_features(
    out: dict[str, np.ndarray], horizon_days: int, params: btyd.BGNBDParams | None
) -> btyd.BGNBDParams | None:
    frequency, recency, age = out.pop("_btyd_frequency"), out.pop("_btyd_recency"), out.pop("_btyd_T")
    if params is None:
        usable = np.flatnonzero(age > 0)
        if usable.shape[0] < 20:
            return None
        if usable.shape[0] > _BTYD_FIT_SAMPLE:
            # Four population parameters are pinned down well by a fixed-seed sample; fitting on
            # every customer at every cutoff would dominate training time for no gain.
            usable = np.sort(np.random.default_rng(0).choice(usable, _BTYD_FIT_SAMPLE, replace=False))
        params = btyd.fit_bgnbd(frequency[usable], recency[usable], age[usable])
    safe_age = np.maximum(age, 1.0)
    with np.errstate(all="ignore"):  # extreme fitted parameters give NaN, which the trees treat as missing
        _btyd_outputs(out, params, horizon_days, frequency, recency, safe_age)
    return params


def _btyd_outputs(
    out: dict[str, np.ndarray],
    params: btyd.BGNBDParams,
    horizon_days: int,
    frequency: np.ndarray,
    recency: np.ndarray,
    safe_age: np.ndarray,
) -> None:
    alive, expected, none = btyd.horizon_predictions(params, horizon_days, frequency, recency, safe_age)
    out["btyd_p_alive"] = alive
    out["btyd_expected_shipments_h"] = expected
    out["btyd_p_no_shipment_h"] = none


def compute_raw_features(
    history: HistoryArrays,
    codes: np.ndarray,
    cutoff_day: int,
    spec: FeatureSpec,
    btyd_params: btyd.BGNBDParams | None = None,
) -> tuple[dict[str, np.ndarray], btyd.BGNBDParams | None]:
    """Every feature computable from the inputs present, by name, for customers ``codes``.

    ``btyd_params`` None fits BG/NBD on these customers at the cutoff (training); serving passes the
    parameters stored in the bundle. Callers must only pass customers with a shipment on or before
    the cutoff.
    """
    out: dict[str, np.ndarray] = {}
    _shipment_features(history.shipments, codes, cutoff_day, spec, out)
    _interaction_features(history, codes, cutoff_day, out)
    _profile_features(history, codes, cutoff_day, spec, out)
    params = _btyd_features(out, spec.horizon_days, btyd_params)
    return out, params


def category_levels(
    history: HistoryArrays, max_levels: int, min_share: float = 0.01
) -> dict[str, tuple[str, ...]]:
    """Most frequent levels of each categorical profile column (the one-hot vocabulary)."""
    levels: dict[str, tuple[str, ...]] = {}
    for column, values in history.profile_categories.items():
        if column in history.profile:
            continue  # a yes/no column of this book: used as a 0/1 number, not one-hot
        present = values[values != None]  # noqa: E711 - elementwise comparison on an object array
        if present.shape[0] == 0:
            continue
        names, counts = np.unique(present.astype(str), return_counts=True)
        order = np.argsort(-counts, kind="stable")
        keep = [str(names[i]) for i in order[:max_levels] if counts[i] >= min_share * present.shape[0]]
        if len(keep) >= 2:
            levels[column] = tuple(sorted(keep))
    return levels


def plan_features(history: HistoryArrays, cutoff_day: int, spec: FeatureSpec) -> FeatureSpec:
    """Fix the categorical vocabulary and the ordered feature list from the training history."""
    spec = replace(spec, categorical_levels=category_levels(history, spec.max_category_levels))
    codes = eligible_codes(history, cutoff_day, spec.lookback_days)
    # Only the names are needed here: fixed placeholder BG/NBD parameters, no fit.
    placeholder = btyd.BGNBDParams(r=1.0, alpha=1.0, a=1.0, b=1.0)
    raw, _ = compute_raw_features(history, codes[:50], cutoff_day, spec, placeholder)
    return replace(spec, feature_names=tuple(raw), available_inputs=tuple(sorted(history.available)))


def compute_features(
    history: HistoryArrays,
    cutoff_day: int,
    spec: FeatureSpec,
    *,
    codes: np.ndarray | None = None,
    btyd_params: btyd.BGNBDParams | None = None,
    out: np.ndarray | None = None,
) -> FeatureMatrix:
    """Feature matrix at ``cutoff_day`` in the spec's column order (eligible customers by default).

    ``out``: a (customers × features) float array to fill instead of a new float64 one (training
    stacks every cutoff into one float32 matrix).
    """
    if codes is None:
        codes = eligible_codes(history, cutoff_day, spec.lookback_days)
    raw, params = compute_raw_features(history, codes, cutoff_day, spec, btyd_params)
    values = _assemble(raw, spec.feature_names, codes.shape[0], out)
    return FeatureMatrix(
        codes=codes,
        values=values,
        feature_names=spec.feature_names,
        cutoff_day=cutoff_day,
        btyd_params=params,
    )


def _assemble(
    raw: Mapping[str, np.ndarray], names: tuple[str, ...], n_rows: int, out: np.ndarray | None = None
) -> np.ndarray:
    if out is None and 0 < n_rows <= _FEW_ROWS and names:
        # A request's few rows: one concatenation instead of an assignment per feature.
        missing = np.full(n_rows, _NAN)
        stacked = np.concatenate([raw.get(name, missing) for name in names], dtype=np.float64)
        return np.ascontiguousarray(stacked.reshape(len(names), n_rows).T)
    if out is None:
        out = np.empty((n_rows, len(names)))
    if out.shape != (n_rows, len(names)):
        raise ValueError(f"out has shape {out.shape}; expected {(n_rows, len(names))}")
    values = out
    values.fill(_NAN)
    for j, name in enumerate(names):
        column = raw.get(name)
        if column is not None:
            values[:, j] = column
    return values

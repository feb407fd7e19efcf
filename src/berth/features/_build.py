"""Point-in-time features: (history, cutoff) → one row per eligible customer.

Every quantity reads only events on or before the cutoff day: ``EventTable.bounds`` and
``EventTable.window_bounds``, at the cutoff or earlier, are the only places the cutoff is applied,
so adding or changing data after the cutoff cannot change a feature. No per-customer Python: each
feature is a handful of vectorised array operations, which keeps one customer's call cheap (the
HTTP API) and ten million events fast (training).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from berth.features._history import EventTable, HistoryArrays, _leading_zero_cumsum
from berth.features._spec import TREND_WINDOWS, FeatureSpec
from berth.modeling import btyd

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


_CONCENTRATION_BLOCK = 1 << 18


def _nan_as_zero(values: np.ndarray) -> np.ndarray:
    """Missing values as 0 (inputs are finite or NaN; ``np.nan_to_num`` costs 10x more per call)."""
    return np.where(np.isnan(values), 0.0, values)


def _flags_or_zero_filled(values: np.ndarray) -> np.ndarray:
    """0/1 values (missing as 0) as booleans, so their sums are exact integer counts; others as is."""
    flags = values == 1.0
    if bool(((values == 0.0) | flags | np.isnan(values)).all()):
        return flags
    return _nan_as_zero(values)


def _known_counts(table: EventTable, column: str) -> np.ndarray | None:
    """Cumulative count of the known (non-missing) values of ``column``; None when every value is
    known, for then the count over [lo, hi) is hi - lo (no array spent on it)."""
    every = table.derived(
        f"all_known:{column}", lambda tb: np.array(bool(np.isfinite(tb.values[column]).all()))
    )
    if bool(every):
        return None
    return table.cumulative(f"known:{column}", lambda tb: np.isfinite(tb.values[column]))


def _count_in(counts: np.ndarray | None, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Known values in [lo, hi) from :func:`_known_counts`."""
    return hi - lo if counts is None else counts[hi] - counts[lo]


def _priced_sum(ships: EventTable, column: str, other: str, plain: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``column`` over shipments whose ``other`` is known (for price per unit).

    When ``other`` is known for every shipment it is the plain cumulative sum: shared, not copied.
    """

    def compute(table: EventTable) -> np.ndarray:
        known = np.isfinite(table.values[other])
        if bool(known.all()):
            return plain
        return _leading_zero_cumsum(np.where(known, _nan_as_zero(table.values[column]), 0.0))

    return ships.derived(f"cumsum:{column}_priced", compute)


def _zero_filled(column: str) -> Callable[[EventTable], np.ndarray]:
    """A derivation: the value column with missing values as 0 (for sums)."""

    def compute(table: EventTable) -> np.ndarray:
        return _nan_as_zero(table.values[column])

    return compute


def _new_day(table: EventTable) -> np.ndarray:
    """True on the first event of each (customer, day)."""
    new_day = np.ones(len(table), dtype=bool)
    key = table.key  # one value per (customer, day): a new day wherever it changes
    new_day[1:] = key[1:] != key[:-1]
    return new_day


def _gaps(table: EventTable) -> np.ndarray:
    """Days since the customer's previous shipping day, on the first event of each new day; else 0.

    Not cached on the table: only its three cumulative sums (cached) read it.
    """
    gap = np.zeros(len(table), dtype=np.int32)  # whole days
    if len(table) > 1:
        code, day = table.code, table.day
        same = (code[1:] == code[:-1]) & (day[1:] != day[:-1])
        gap[1:] = np.where(same, day[1:] - day[:-1], 0)
    return gap


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out)] = _NAN
    return out


def _log(values: np.ndarray) -> np.ndarray:
    """Natural log, NaN where the argument is not positive (no -inf, no warning)."""
    out = np.full(values.shape[0], _NAN)
    positive = values > 0
    out[positive] = np.log(values[positive])
    return out


def _log_ratio(recent: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Symmetric, smoothed trend: log((recent + 1) / (previous + 1))."""
    return np.log1p(np.maximum(recent, 0.0)) - np.log1p(np.maximum(previous, 0.0))


def _last_value(table: EventTable, name: str, start: np.ndarray, hi: np.ndarray, back: int = 1) -> np.ndarray:
    idx = hi - back
    ok = idx >= start
    out = np.full(start.shape[0], _NAN)
    if ok.any():
        out[ok] = table.values[name][idx[ok]]
    return out


def _last_day(table: EventTable, start: np.ndarray, hi: np.ndarray) -> np.ndarray:
    ok = hi > start
    out = np.full(start.shape[0], _NAN)
    out[ok] = table.day_at(hi[ok] - 1)
    return out


def _concat_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of every [lo_i, hi_i) range concatenated, and the row i each index came from."""
    lengths = np.maximum(hi - lo, 0)
    total = int(lengths.sum())
    rows = np.repeat(np.arange(lo.shape[0]), lengths)
    if total == 0:
        return np.empty(0, dtype=np.int64), rows
    offsets = np.cumsum(lengths) - lengths
    idx = np.arange(total) - np.repeat(offsets, lengths) + np.repeat(lo, lengths)
    return idx, rows


def eligible_codes(history: HistoryArrays, cutoff_day: int, lookback_days: int) -> np.ndarray:
    """Customers with at least one shipment in (cutoff − lookback, cutoff]."""
    ships = history.shipments
    codes = np.arange(history.n_customers, dtype=np.int64)
    hi = ships.bounds(codes, cutoff_day)
    lo = ships.bounds(codes, cutoff_day - lookback_days)
    return codes[hi > lo]


def _shipment_features(
    ships: EventTable, k: np.ndarray, c: int, spec: FeatureSpec, out: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    start = ships.starts(k)
    # Every window edge the shipment features use, in one binary search: bound[w] is the end of
    # the events on or before day c - w.
    bound = ships.window_bounds(k, c, (0, 30, 90, 180, 365, *(2 * w for w in TREND_WINDOWS)))
    hi = bound[0]
    first_day = ships.day_at(start).astype(np.float64)
    last_day = ships.day_at(hi - 1).astype(np.float64)
    out["recency_days"] = c - last_day
    out["first_shipment_age_days"] = c - first_day
    for w in (30, 90, 180, 365):
        out[f"n_shipments_{w}"] = (hi - bound[w]).astype(np.float64)
    for w in TREND_WINDOWS:
        previous = bound[w] - bound[2 * w]
        out[f"shipments_trend_{w}"] = _log_ratio(
            (hi - bound[w]).astype(np.float64), previous.astype(np.float64)
        )

    # Cadence on distinct shipping days: a customer's own usual gap is the yardstick.
    nd = ships.cumulative("new_day", _new_day)
    distinct_all = nd[hi] - nd[start]
    out["active_days_365"] = nd[hi] - nd[bound[365]]
    mean_gap_all = _ratio(last_day - first_day, distinct_all - 1.0)
    gaps: list[np.ndarray] = []  # computed at most once here, and not kept: only its sums are cached

    def gap(table: EventTable) -> np.ndarray:
        if not gaps:
            gaps.append(_gaps(table))
        return gaps[0]

    g_sum = ships.cumulative("gap", gap)
    g_sq = ships.cumulative("gap_sq", lambda tb: gap(tb).astype(np.float64) ** 2)
    g_n = ships.cumulative("gap_n", lambda tb: gap(tb) > 0)
    gaps.clear()
    lo = bound[365]
    n_gaps = g_n[hi] - g_n[lo]
    mean_gap = _ratio(g_sum[hi] - g_sum[lo], n_gaps)
    var_gap = np.maximum(_ratio(g_sq[hi] - g_sq[lo], n_gaps) - mean_gap**2, 0.0)
    out["gap_mean_days"] = mean_gap_all
    out["gap_mean_days_365"] = mean_gap
    out["gap_cv_365"] = _ratio(np.sqrt(var_gap), mean_gap)
    out["gap_ratio"] = _ratio(out["recency_days"], mean_gap_all)

    frequency = distinct_all - 1.0
    out["_btyd_frequency"] = frequency
    out["_btyd_recency"] = last_day - first_day
    out["_btyd_T"] = c - first_day

    values = ships.values
    sums: dict[str, np.ndarray] = {}
    for name in ("volume", "revenue", "cost"):
        if name in values:
            sums[name] = ships.cumulative(name, _zero_filled(name))
    if "volume" in sums:
        cs = sums["volume"]
        for w in (90, 365):
            out[f"volume_{w}"] = cs[hi] - cs[bound[w]]
        for w in TREND_WINDOWS:
            previous = cs[bound[w]] - cs[bound[2 * w]]
            out[f"volume_trend_{w}"] = _log_ratio(cs[hi] - cs[bound[w]], previous)
        out["volume_per_shipment_365"] = _ratio(out["volume_365"], out["n_shipments_365"])
    if "revenue" in sums:
        cr = sums["revenue"]
        for w in (90, 365):
            out[f"revenue_{w}"] = cr[hi] - cr[bound[w]]
        for w in (90, 180):
            previous = cr[bound[w]] - cr[bound[2 * w]]
            out[f"revenue_trend_{w}"] = _log_ratio(cr[hi] - cr[bound[w]], previous)
        if "volume" in sums:
            # price per unit only over shipments with both revenue and volume known
            cv = _priced_sum(ships, "volume", "revenue", sums["volume"])
            cr_priced = _priced_sum(ships, "revenue", "volume", sums["revenue"])
            b90, b180 = bound[90], bound[180]
            rpu_recent = _ratio(cr_priced[hi] - cr_priced[b90], cv[hi] - cv[b90])
            rpu_before = _ratio(cr_priced[b90] - cr_priced[b180], cv[b90] - cv[b180])
            out["revenue_per_unit_180"] = _ratio(cr_priced[hi] - cr_priced[b180], cv[hi] - cv[b180])
            out["price_trend_90"] = _log(_ratio(rpu_recent, rpu_before))
        if "cost" in sums:
            cc = sums["cost"]
            rev = cr[hi] - cr[bound[365]]
            out["margin_share_365"] = _ratio(rev - (cc[hi] - cc[bound[365]]), rev)
    if "delay_hours" in values:
        threshold = spec.on_time_threshold_hours
        cn = _known_counts(ships, "delay_hours")
        cd = ships.cumulative("delay", lambda tb: _nan_as_zero(tb.values["delay_hours"]))
        co = ships.cumulative(f"on_time_{threshold}", lambda tb: tb.values["delay_hours"] <= threshold)
        for w in (90, 365):
            count = _count_in(cn, bound[w], hi)
            out[f"on_time_share_{w}"] = _ratio(co[hi] - co[bound[w]], count)
            out[f"delay_mean_hours_{w}"] = _ratio(cd[hi] - cd[bound[w]], count)
        out["delay_trend_hours"] = out["delay_mean_hours_90"] - out["delay_mean_hours_365"]
    if "damaged" in values:
        cn = _known_counts(ships, "damaged")
        cdmg = ships.cumulative("damaged", lambda tb: _flags_or_zero_filled(tb.values["damaged"]))
        out["damage_rate_365"] = _ratio(cdmg[hi] - cdmg[bound[365]], _count_in(cn, bound[365], hi))
    for name, feature in (("cargo_type", "top_cargo_share_365"), ("lane", "lanes_365")):
        if name in values:
            out[feature] = _concentration(values[name], bound[365], hi, top_share=(name == "cargo_type"))
    return out


def _concentration(categories: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, top_share: bool) -> np.ndarray:
    """Share of the top category (or the number of distinct categories) per customer in [lo, hi).

    Customers are taken in blocks of about :data:`_CONCENTRATION_BLOCK` events: every event of
    the window is materialised with its row, which over a whole book would cost hundreds of MB.
    """
    out = np.full(lo.shape[0], _NAN)
    ends = np.cumsum(np.maximum(hi - lo, 0))
    first = 0
    while first < lo.shape[0]:
        done = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, done + _CONCENTRATION_BLOCK, side="right")), first + 1)
        _concentration_block(categories, lo[first:last], hi[first:last], out[first:last], top_share)
        first = last
    return out


def _concentration_block(
    categories: np.ndarray, lo: np.ndarray, hi: np.ndarray, out: np.ndarray, top_share: bool
) -> None:
    idx, rows = _concat_ranges(lo, hi)
    if idx.shape[0] == 0:
        return
    cats = categories[idx]
    known = np.isfinite(cats)
    rows, cats = rows[known], cats[known].astype(np.int64)
    if rows.shape[0] == 0:
        return
    n_levels = int(cats.max()) + 1
    pairs, counts = np.unique(rows.astype(np.int64) * n_levels + cats, return_counts=True)
    pair_rows = pairs // n_levels
    group_starts = np.flatnonzero(np.r_[True, pair_rows[1:] != pair_rows[:-1]])
    row_ids = pair_rows[group_starts]
    if top_share:
        top = np.maximum.reduceat(counts, group_starts)
        totals = np.add.reduceat(counts, group_starts)
        out[row_ids] = top / totals
    else:
        out[row_ids] = np.diff(np.r_[group_starts, pairs.shape[0]])


def _interaction_features(
    history: HistoryArrays, k: np.ndarray, c: int, out: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    tables = history.interactions
    if not tables:
        return out
    complaints = tables["complaint"]
    start = complaints.starts(k)
    edges = complaints.window_bounds(k, c, (0, 90, 365))
    hi = edges[0]
    out["complaints_90"] = (hi - edges[90]).astype(np.float64)
    out["complaints_365"] = (hi - edges[365]).astype(np.float64)
    out["days_since_last_complaint"] = c - _last_day(complaints, start, hi)
    resolutions = history.resolutions
    if resolutions is not None:
        r_start = resolutions.starts(k)
        r_edges = resolutions.window_bounds(k, c, (0, 365))
        r_hi, r_lo = r_edges[0], r_edges[365]
        out["unresolved_complaints"] = ((hi - start) - (r_hi - r_start)).astype(np.float64)
        cs = resolutions.cumulative("resolution_days", lambda tb: tb.values["resolution_days"])
        out["resolution_days_mean_365"] = _ratio(cs[r_hi] - cs[r_lo], (r_hi - r_lo).astype(np.float64))
    claims = tables["claim"].window_bounds(k, c, (0, 365))
    out["claims_365"] = (claims[0] - claims[365]).astype(np.float64)
    surveys = tables["survey"]
    if surveys.has("score"):
        s_start = surveys.starts(k)
        s_edges = surveys.window_bounds(k, c, (0, 365))
        s_hi, s_lo = s_edges[0], s_edges[365]
        last = _last_value(surveys, "score", s_start, s_hi)
        out["survey_score_last"] = last
        out["survey_score_change"] = last - _last_value(surveys, "score", s_start, s_hi, back=2)
        out["days_since_last_survey"] = c - _last_day(surveys, s_start, s_hi)
        cs = surveys.cumulative("score", lambda tb: tb.values["score"])
        out["survey_score_mean_365"] = _ratio(cs[s_hi] - cs[s_lo], (s_hi - s_lo).astype(np.float64))
    if "sentiment" in tables:
        sentiment = tables["sentiment"]
        se_edges = sentiment.window_bounds(k, c, (0, 365))
        se_hi, se_lo = se_edges[0], se_edges[365]
        cs = sentiment.cumulative("sentiment", lambda tb: tb.values["sentiment"])
        out["sentiment_mean_365"] = _ratio(cs[se_hi] - cs[se_lo], (se_hi - se_lo).astype(np.float64))
    for kind, window, name in (
        ("contact", 90, "contacts_90"),
        ("meeting", 365, "meetings_365"),
        ("redemption", 365, "redemptions_365"),
    ):
        edges = tables[kind].window_bounds(k, c, (0, window))
        out[name] = (edges[0] - edges[window]).astype(np.float64)
    return out


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
        mine = values[k]
        for level in levels:
            out[f"{column}={level}"] = (mine == level).astype(np.float64)
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
    out["btyd_p_alive"] = btyd.prob_alive(params, frequency, recency, safe_age)
    out["btyd_expected_shipments_h"] = btyd.expected_transactions(
        params, horizon_days, frequency, recency, safe_age
    )
    out["btyd_p_no_shipment_h"] = btyd.prob_no_transactions(
        params, horizon_days, frequency, recency, safe_age
    )


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
    if out is None:
        values = np.full((n_rows, len(names)), _NAN)
    else:
        if out.shape != (n_rows, len(names)):
            raise ValueError(f"out has shape {out.shape}; expected {(n_rows, len(names))}")
        values = out
        values.fill(_NAN)
    for j, name in enumerate(names):
        column = raw.get(name)
        if column is not None:
            values[:, j] = column
    return values

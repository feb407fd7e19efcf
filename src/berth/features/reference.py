"""A deliberately plain pandas version of the point-in-time features: a test oracle and a baseline.

:func:`reference_features` computes the features of :mod:`berth.features._build` the obvious way:
drop every event after the cutoff, mask each window by date and ``groupby`` customer. It shares no
code with the fast engine (no sorted keys, no cumulative sums, no searchsorted), so agreement
between the two is evidence that both follow the definitions below. It is not used in production.

Definitions (``c`` is the cutoff's day number; days are whole days since 1970-01-01):

- an event counts when its day is ``<= c``; the window of ``W`` days is the days in ``(c − W, c]``
  and the window before it is ``(c − 2W, c − W]``;
- eligible customers have a shipment in ``(c − lookback, c]``;
- trends are ``log1p(recent) − log1p(previous)``;
- gaps are between a customer's *distinct* shipping days; a gap belongs to the window of its later
  day (so the first gap inside a window reaches back to the shipping day before it);
- missing numbers count as zero in sums and are left out of means and shares;
- a complaint is unresolved at ``c`` when it has no ``resolved_at`` or its resolution day is after
  ``c``; resolution time (days, never negative, timestamps floored to the second) is averaged over
  complaints resolved in the window;
- a survey counts only with a score; the last survey is the latest by timestamp;
- a feature exists when its input column is present with at least one usable value anywhere in the
  table (not just before the cutoff), mirroring what the engine plans from the training data.

BG/NBD features (``btyd_*``) are not covered.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from berth import tables as t
from berth.features._spec import FeatureSpec
from berth.tables import PortData

__all__ = ["reference_features"]

CID = t.CUSTOMER_ID
_EPOCH = pd.Timestamp("1970-01-01")
_SECONDS_PER_DAY = 86_400.0
_CONTACT_KINDS = ("call", "email", "inquiry")
_FLAG_WORDS = {
    "true": 1.0,
    "1": 1.0,
    "1.0": 1.0,
    "yes": 1.0,
    "y": 1.0,
    "false": 0.0,
    "0": 0.0,
    "0.0": 0.0,
    "no": 0.0,
    "n": 0.0,
}
_PROFILE_FLAG_WORDS = {**_FLAG_WORDS, "t": 1.0, "f": 0.0}
_SENTIMENT_WORDS = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}

Features = dict[str, pd.Series]


# --------------------------------------------------------------------------------------- helpers


def _day_number(values: pd.Series) -> pd.Series:
    """Whole days since 1970-01-01 (the day the timestamp falls on); NaN for missing."""
    stamps = pd.to_datetime(values, format="ISO8601")
    return (stamps.dt.floor("D") - _EPOCH).dt.days.astype("float64")


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series | None:
    """The column as float64, or None when absent (a present, all-missing column still counts)."""
    if column not in frame.columns:
        return None
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _flags(frame: pd.DataFrame, column: str) -> pd.Series | None:
    """A 0/1 column (numbers as they are, words like yes/no mapped), or None when unusable."""
    if column not in frame.columns:
        return None
    col = frame[column]
    if col.dtype == bool or pd.api.types.is_numeric_dtype(col.dtype):
        values = col.astype("float64")
    else:
        values = col.astype("str").str.strip().str.lower().map(_FLAG_WORDS).astype("float64")
    return values


def _sentiment(frame: pd.DataFrame) -> pd.Series | None:
    """Sentiment as a number: numbers as they are, or words positive / neutral / negative."""
    if "sentiment" not in frame.columns:
        return None
    col = frame["sentiment"]
    numeric = pd.to_numeric(col, errors="coerce").astype("float64")
    if numeric.notna().any():
        values = numeric
    else:
        values = col.astype("str").str.strip().str.lower().map(_SENTIMENT_WORDS).astype("float64")
    return values


def _window(frame: pd.DataFrame, c: int, days: int, ago: int = 0) -> pd.DataFrame:
    """Rows whose day lies in (c − ago − days, c − ago]."""
    end = c - ago
    return frame[(frame["day"] > end - days) & (frame["day"] <= end)]


def _count(frame: pd.DataFrame, customers: pd.Index) -> pd.Series:
    return frame.groupby(CID).size().reindex(customers, fill_value=0).astype("float64")


def _total(frame: pd.DataFrame, column: str, customers: pd.Index) -> pd.Series:
    """Sum per customer, missing values as zero, zero for customers without rows."""
    return frame.groupby(CID)[column].sum().reindex(customers, fill_value=0.0).astype("float64")


def _mean(frame: pd.DataFrame, column: str, customers: pd.Index) -> pd.Series:
    """Mean of the known values per customer; NaN without any."""
    return frame.groupby(CID)[column].mean().reindex(customers).astype("float64")


def _last_day(frame: pd.DataFrame, customers: pd.Index) -> pd.Series:
    return frame.groupby(CID)["day"].max().reindex(customers).astype("float64")


def _divide(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Ratio with NaN where it is undefined (x/0, 0/0)."""
    out = numerator / denominator
    return out.where(np.isfinite(out))


def _trend(recent: pd.Series, previous: pd.Series) -> pd.Series:
    return np.log1p(recent.clip(lower=0.0)) - np.log1p(previous.clip(lower=0.0))


# ------------------------------------------------------------------------------------ shipments


def _shipment_features(ships: pd.DataFrame, c: int, spec: FeatureSpec, customers: pd.Index) -> Features:
    """Rhythm, volume, revenue, service and concentration features from shipments on or before c."""
    out: Features = {}
    first_day = ships.groupby(CID)["day"].min().reindex(customers).astype("float64")
    last_day = _last_day(ships, customers)
    out["recency_days"] = c - last_day
    out["first_shipment_age_days"] = c - first_day
    for w in (30, 90, 180, 365):
        out[f"n_shipments_{w}"] = _count(_window(ships, c, w), customers)
    for w in (30, 90, 180):
        out[f"shipments_trend_{w}"] = _trend(
            _count(_window(ships, c, w), customers), _count(_window(ships, c, w, ago=w), customers)
        )

    # Gaps between distinct shipping days, each gap on its later day.
    days = ships[[CID, "day"]].drop_duplicates().sort_values([CID, "day"])
    days = days.assign(gap=days.groupby(CID)["day"].diff())
    n_days = _count(days, customers)
    out["active_days_365"] = _count(_window(days, c, 365), customers)
    recent_gaps = _window(days, c, 365).dropna(subset=["gap"])
    gap_mean_all = _divide(last_day - first_day, n_days - 1.0)
    gap_mean_365 = _mean(recent_gaps, "gap", customers)
    gap_sd_365 = recent_gaps.groupby(CID)["gap"].std(ddof=0).reindex(customers).astype("float64")
    out["gap_mean_days"] = gap_mean_all
    out["gap_mean_days_365"] = gap_mean_365
    out["gap_cv_365"] = _divide(gap_sd_365, gap_mean_365)
    out["gap_ratio"] = _divide(out["recency_days"], gap_mean_all)

    has_volume = "volume" in ships.columns
    has_revenue = "revenue" in ships.columns
    if has_volume:
        for w in (90, 365):
            out[f"volume_{w}"] = _total(_window(ships, c, w), "volume", customers)
        for w in (30, 90, 180):
            out[f"volume_trend_{w}"] = _trend(
                _total(_window(ships, c, w), "volume", customers),
                _total(_window(ships, c, w, ago=w), "volume", customers),
            )
        out["volume_per_shipment_365"] = _divide(out["volume_365"], out["n_shipments_365"])
    if has_revenue:
        for w in (90, 365):
            out[f"revenue_{w}"] = _total(_window(ships, c, w), "revenue", customers)
        for w in (90, 180):
            out[f"revenue_trend_{w}"] = _trend(
                _total(_window(ships, c, w), "revenue", customers),
                _total(_window(ships, c, w, ago=w), "revenue", customers),
            )
        if has_volume:

            def price(frame: pd.DataFrame) -> pd.Series:
                """Revenue per unit over the shipments whose revenue and volume are both known."""
                priced = frame[frame["revenue"].notna() & frame["volume"].notna()]
                return _divide(_total(priced, "revenue", customers), _total(priced, "volume", customers))

            out["revenue_per_unit_180"] = price(_window(ships, c, 180))
            price_change = _divide(price(_window(ships, c, 90)), price(_window(ships, c, 90, ago=90)))
            # log of a price ratio: undefined (NaN) unless both prices are known and positive
            out["price_trend_90"] = np.log(price_change.where(price_change > 0))
        if "cost" in ships.columns:
            year = _window(ships, c, 365)
            revenue = _total(year, "revenue", customers)
            out["margin_share_365"] = _divide(revenue - _total(year, "cost", customers), revenue)

    if "delay_hours" in ships.columns:
        delays = ships.dropna(subset=["delay_hours"])
        on_time = delays[delays["delay_hours"] <= spec.on_time_threshold_hours]
        for w in (90, 365):
            out[f"on_time_share_{w}"] = _divide(
                _count(_window(on_time, c, w), customers), _count(_window(delays, c, w), customers)
            )
            out[f"delay_mean_hours_{w}"] = _mean(_window(delays, c, w), "delay_hours", customers)
        out["delay_trend_hours"] = out["delay_mean_hours_90"] - out["delay_mean_hours_365"]
    if "damaged" in ships.columns:
        out["damage_rate_365"] = _mean(_window(ships, c, 365), "damaged", customers)

    year = _window(ships, c, 365)
    if "cargo_type" in ships.columns:
        known = year.dropna(subset=["cargo_type"])
        per_level = known.groupby([CID, "cargo_type"]).size()
        top = per_level.groupby(level=CID).max() / per_level.groupby(level=CID).sum()
        out["top_cargo_share_365"] = top.reindex(customers).astype("float64")
    if "lane" in ships.columns:
        known = year.dropna(subset=["lane"])
        out["lanes_365"] = known.groupby(CID)["lane"].nunique().reindex(customers).astype("float64")
    return out


def _shipments(data: PortData, c: int) -> pd.DataFrame:
    """Shipments on or before c with a day column and usable value columns only."""
    raw = data.shipments
    ships = pd.DataFrame({CID: raw[CID], "day": _day_number(raw[t.SHIPMENT_DATE])})
    for name in ("volume", "revenue", "cost", "delay_hours"):
        values = _numbers(raw, name)
        if values is not None:
            ships[name] = values
    damaged = _flags(raw, "damaged")
    if damaged is not None:
        ships["damaged"] = damaged
    for name in ("cargo_type", "lane"):
        if name in raw.columns:
            ships[name] = raw[name]
    return ships[ships["day"] <= c]


# --------------------------------------------------------------------------------- interactions


def _interaction_features(data: PortData, c: int, customers: pd.Index) -> Features:
    """Complaints, claims, surveys, sentiment and contacts on or before c."""
    raw = data.interactions
    if raw is None:
        return {}
    out: Features = {}
    kind = raw[t.INTERACTION_TYPE].astype("str").str.strip().str.lower()
    inter = pd.DataFrame(
        {
            CID: raw[CID],
            "kind": kind,
            "opened": pd.to_datetime(raw[t.TIMESTAMP], format="ISO8601"),
            "day": _day_number(raw[t.TIMESTAMP]),
        }
    )
    score = _numbers(raw, "score")
    sentiment = _sentiment(raw)
    if "resolved_at" in raw.columns:
        inter["resolved"] = pd.to_datetime(raw["resolved_at"], format="ISO8601")
        inter["resolved_day"] = _day_number(raw["resolved_at"])
    if score is not None:
        inter["score"] = score
    if sentiment is not None:
        inter["sentiment"] = sentiment
    inter = inter[inter["day"] <= c]

    complaints = inter[inter["kind"] == "complaint"]
    out["complaints_90"] = _count(_window(complaints, c, 90), customers)
    out["complaints_365"] = _count(_window(complaints, c, 365), customers)
    out["days_since_last_complaint"] = c - _last_day(complaints, customers)
    if "resolved_day" in inter.columns:
        still_open = complaints["resolved_day"].isna() | (complaints["resolved_day"] > c)
        out["unresolved_complaints"] = _count(complaints[still_open], customers)
        resolved = complaints.dropna(subset=["resolved_day"])
        # durations in whole seconds: both timestamps are floored to the second first
        took = (resolved["resolved"].dt.floor("s") - resolved["opened"].dt.floor("s")).dt.total_seconds()
        took = took / _SECONDS_PER_DAY
        resolved = resolved.assign(took=took.clip(lower=0.0), day=resolved["resolved_day"])
        out["resolution_days_mean_365"] = _mean(_window(resolved, c, 365), "took", customers)
    out["claims_365"] = _count(_window(inter[inter["kind"] == "claim"], c, 365), customers)

    if score is not None:
        surveys = inter[(inter["kind"] == "survey") & inter["score"].notna()]
        surveys = surveys.sort_values("opened", kind="stable")
        newest_first = surveys.groupby(CID).cumcount(ascending=False)
        last = surveys[newest_first == 0].set_index(CID)["score"].reindex(customers)
        before_last = surveys[newest_first == 1].set_index(CID)["score"].reindex(customers)
        out["survey_score_last"] = last.astype("float64")
        out["survey_score_change"] = (last - before_last).astype("float64")
        out["days_since_last_survey"] = c - _last_day(surveys, customers)
        out["survey_score_mean_365"] = _mean(_window(surveys, c, 365), "score", customers)
    if sentiment is not None:
        out["sentiment_mean_365"] = _mean(_window(inter, c, 365), "sentiment", customers)
    for kinds, days, name in (
        (_CONTACT_KINDS, 90, "contacts_90"),
        (("meeting",), 365, "meetings_365"),
        (("loyalty_redemption",), 365, "redemptions_365"),
    ):
        out[name] = _count(_window(inter[inter["kind"].isin(kinds)], c, days), customers)
    return out


# ------------------------------------------------------------------------------------- profile


def _is_flag_column(values: pd.Series) -> bool:
    """Whether every known value is a yes/no word or a bool (else the column is categorical)."""
    words = values.dropna().astype("str").str.strip().str.lower()
    return bool(words.isin(list(_PROFILE_FLAG_WORDS)).all())


def _profile_flag(values: pd.Series) -> pd.Series:
    """1/0 for yes/no values, NaN for missing ones."""
    words = values.astype("str").str.strip().str.lower().where(values.notna())
    return words.map(_PROFILE_FLAG_WORDS).astype("float64")


def _profile_features(
    data: PortData, c: int, spec: FeatureSpec, customers: pd.Index, shipping: pd.Index
) -> Features:
    """Tenure, contract, loyalty, account manager and one-hot categories from the customers table."""
    raw = data.customers
    if raw is None:
        return {}
    out: Features = {}
    table = raw.drop_duplicates(CID, keep="last").set_index(CID)
    mine = table.reindex(customers)  # customers missing from the table get NaN
    categorical = ["segment", "credit_rating", "region"]

    if "since" in table.columns:
        out["customer_age_days"] = c - _day_number(mine["since"])
    for name in ("contract", "loyalty_member"):
        if name not in table.columns:
            continue
        if _is_flag_column(raw[name]):
            out[name] = _profile_flag(mine[name])
        else:
            categorical.append(name)
    if "account_manager" in table.columns:
        manager = table["account_manager"]
        has = manager.notna() & (manager.astype("str").str.strip() != "")
        out["has_account_manager"] = has.astype("float64").reindex(customers)
    for column, levels in spec.categorical_levels.items():
        if column not in categorical or column not in table.columns:
            continue
        text = mine[column].astype("str").str.strip().str.lower().where(mine[column].notna())
        for level in levels:
            out[f"{column}={level}"] = (text == level).astype("float64")
    return out


# ---------------------------------------------------------------------------------------- entry


def reference_features(data: PortData, cutoff: date, spec: FeatureSpec) -> pd.DataFrame:
    """Features of every eligible customer at ``cutoff``: ``customer_id`` then feature columns.

    One row per customer with a shipment in (cutoff − lookback, cutoff], sorted by ``customer_id``;
    every feature of :mod:`berth.features._build` whose inputs are present except ``btyd_*``.
    """
    c = int((pd.Timestamp(cutoff) - _EPOCH).days)
    ships = _shipments(data, c)
    shipping = pd.Index(data.shipments[CID].unique())
    recent = ships[ships["day"] > c - spec.lookback_days]
    customers = pd.Index(sorted(recent[CID].unique()), name=CID, dtype="str")
    ships = ships[ships[CID].isin(customers)]

    features: Features = {}
    features.update(_shipment_features(ships, c, spec, customers))
    features.update(_interaction_features(data, c, customers))
    features.update(_profile_features(data, c, spec, customers, shipping))
    frame = pd.DataFrame(features, index=customers)
    return frame.reset_index()

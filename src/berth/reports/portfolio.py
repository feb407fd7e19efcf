"""The portfolio report's tables: concentration, satisfaction, NPS, repeat purchase, churn and
retention, activity states, tiers and tier migration, and CLV, for the whole book and by segment.

Pure: (PortData, as_of, config) in, :class:`PortfolioReport` (plain DataFrames) out; nothing is
read or written here. Only events on or before ``as_of`` are used. The period is the
``period_days`` up to and including ``as_of``; the previous period is the same length before it.
docs/reports.md defines every number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import Field, model_validator

from berth import tables as t
from berth._config_base import StrictModel
from berth.config import TrainConfig
from berth.features import HistoryArrays
from berth.features._history import date_to_day
from berth.tables import PortData

__all__ = [
    "ALL_SEGMENTS",
    "BASES",
    "STATE_KINDS",
    "TABLE_NAMES",
    "UNKNOWN_SEGMENT",
    "PortfolioConfig",
    "PortfolioReport",
    "concentration_measures",
    "gini",
    "lorenz_curve",
    "portfolio_report",
]

ALL_SEGMENTS = "all"  # the whole book, the first row of every table
UNKNOWN_SEGMENT = "unknown"  # customers the customers table gives no segment
BASES: tuple[str, ...] = ("volume", "revenue", "shipments")  # concentration measures, in order
STATE_KINDS: tuple[str, ...] = (
    "activity_state",
    "loyalty_form",
    "abc_class",
    "relationship_level",
    "upgrade_stage",
)
# Every table, in the order of the report (one CSV each).
TABLE_NAMES: tuple[str, ...] = (
    "summary",
    "concentration",
    "lorenz",
    "states",
    "tiers",
    "tier_migration",
    "clv",
    "clv_distribution",
)
_STATE_COLUMNS = ["segment", "kind", "value", "customers", "share"]
_TIER_COLUMNS = [
    "segment",
    "tier",
    "customers_previous",
    "customers_current",
    "share_previous",
    "share_current",
]
_MIGRATION_COLUMNS = ["segment", "previous_tier", "current_tier", "customers"]
_CLV_COLUMNS = [
    "segment",
    "customers",
    "total",
    "mean",
    "p10",
    "p25",
    "median",
    "p75",
    "p90",
    "top_20pct_share",
]
_CLV_BAND_COLUMNS = ["segment", "lower", "upper", "customers"]
# Why a section has no numbers (the HTML page says so in the chosen language).
NO_SHIPMENTS = "no_shipments"  # nothing shipped in the period
NO_PREVIOUS = "no_previous_shipments"
NO_SURVEYS = "no_surveys"
NO_REVENUE = "no_revenue"
NOT_FITTED = "not_fitted"


class PortfolioConfig(StrictModel):
    """Settings of the portfolio report (``berth report portfolio`` options)."""

    period_days: int = Field(default=365, ge=7, description="The period: this many days up to as_of.")
    satisfied_score: float = Field(
        default=8.0, ge=0, le=10, description="Satisfied: latest survey score in the period at least this."
    )
    promoter_score: float = Field(default=9.0, ge=0, le=10, description="NPS promoter: score at least this.")
    detractor_score: float = Field(default=6.0, ge=0, le=10, description="NPS detractor: at most this.")
    top_shares: tuple[float, ...] = Field(
        default=(0.01, 0.05, 0.10, 0.20), description="Share of the top 1/5/10/20% of customers."
    )
    top_counts: tuple[int, ...] = Field(default=(1, 5, 10), description="CRk: share of the top k customers.")
    lorenz_points: int = Field(default=101, ge=3, description="Points kept of each Lorenz curve.")

    @model_validator(mode="after")
    def _valid(self) -> PortfolioConfig:
        if not self.detractor_score < self.promoter_score:
            raise ValueError("need detractor_score < promoter_score")
        if not all(0 < s <= 1 for s in self.top_shares):
            raise ValueError("top_shares must lie in (0, 1]")
        if not all(k >= 1 for k in self.top_counts):
            raise ValueError("top_counts must be at least 1")
        return self


@dataclass(frozen=True)
class PortfolioReport:
    """The report's tables (one per CSV) and what the page needs to explain them."""

    as_of: date
    period_start: date  # first day of the period (as_of − period_days, as_of]
    previous_start: date  # first day of the previous period
    config: PortfolioConfig
    segments: tuple[str, ...]  # "all" first
    tables: Mapping[str, pd.DataFrame]
    notes: Mapping[str, str] = field(default_factory=dict)  # section → why it has no numbers
    facts: Mapping[str, Any] = field(default_factory=dict)  # tier measure, value model, bases, ...


# ---------------------------------------------------------------------------------------------
# Concentration (pure functions of one customer value per customer)
# ---------------------------------------------------------------------------------------------


def _positive_sorted(values: ArrayLike) -> np.ndarray:
    """Values ascending, NaN and negatives as 0."""
    arr = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    return np.sort(np.maximum(arr, 0.0))


def lorenz_curve(values: ArrayLike, points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(customer share, value share), smallest customers first, from (0, 0) to (1, 1)."""
    v = _positive_sorted(values)
    n, total = v.shape[0], float(v.sum())
    if n == 0 or total <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    x = np.arange(n + 1) / n
    y = np.concatenate([[0.0], np.cumsum(v) / total])
    if points is not None and n + 1 > points:
        grid = np.linspace(0.0, 1.0, points)
        return grid, np.interp(grid, x, y)  # exact: the curve is linear between customers
    return x, y


def gini(values: ArrayLike) -> float:
    """Gini coefficient: 1 − 2 × the area under the Lorenz curve (0 equal, (n−1)/n one holds all)."""
    v = _positive_sorted(values)
    n, total = v.shape[0], float(v.sum())
    if n == 0 or total <= 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * v) / (n * total) - (n + 1) / n)


def _top_count(share: float, n: int) -> int:
    return max(1, math.ceil(share * n - 1e-9))


def concentration_measures(
    values: ArrayLike,
    top_shares: Sequence[float] = (0.01, 0.05, 0.10, 0.20),
    top_counts: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Top-share, CRk, HHI (0–1 and ×10,000), equivalent customers and Gini of customer values."""
    v = _positive_sorted(values)[::-1]
    n, total = v.shape[0], float(v.sum())
    out: dict[str, float] = {"customers": float(n), "total": total}
    valid = n > 0 and total > 0
    shares = v / total if valid else v
    cumulative = np.cumsum(shares)
    for share in top_shares:
        out[_top_share_column(share)] = float(cumulative[_top_count(share, n) - 1]) if valid else float("nan")
    for k in top_counts:
        out[f"cr{k}"] = float(cumulative[min(k, n) - 1]) if valid else float("nan")
    hhi = float(np.sum(shares**2)) if valid else float("nan")
    out["hhi"] = hhi
    out["hhi_points"] = hhi * 10_000
    out["equivalent_customers"] = 1.0 / hhi if valid else float("nan")
    out["gini"] = gini(v)
    return out


def _top_share_column(share: float) -> str:
    return f"top_{share * 100:g}pct_share"


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Book:
    """Per-customer numbers (position = customer code of the history)."""

    segment: np.ndarray  # object: segment name per customer
    shipped_now: np.ndarray  # bool: shipped in the period
    shipped_before: np.ndarray  # bool: shipped in the previous period
    days_now: np.ndarray  # distinct shipment days in the period
    totals: dict[str, np.ndarray]  # basis → sum over the period


def _segments(history: HistoryArrays) -> tuple[np.ndarray, tuple[str, ...]]:
    raw = history.profile_categories.get("segment")
    n = history.n_customers
    if raw is None:
        return np.full(n, ALL_SEGMENTS, dtype=object), (ALL_SEGMENTS,)
    segment = np.array([UNKNOWN_SEGMENT if s is None else str(s) for s in raw], dtype=object)
    names = sorted(set(segment.tolist()) - {UNKNOWN_SEGMENT})
    if (segment == UNKNOWN_SEGMENT).any():
        names.append(UNKNOWN_SEGMENT)
    return segment, (ALL_SEGMENTS, *names)


def _masks(book: _Book, segments: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    n = book.segment.shape[0]
    return [(s, np.ones(n, dtype=bool) if s == ALL_SEGMENTS else book.segment == s) for s in segments]


def _book(history: HistoryArrays, as_of_day: int, period: int) -> _Book:
    n = history.n_customers
    ships = history.shipments
    code, day = ships.code, ships.day
    now = (day > as_of_day - period) & (day <= as_of_day)
    before = (day > as_of_day - 2 * period) & (day <= as_of_day - period)
    count_now = np.bincount(code[now], minlength=n)
    count_before = np.bincount(code[before], minlength=n)
    key_now = ships.key[now]  # sorted by (code, day): a new day is a new key
    first = np.r_[True, key_now[1:] != key_now[:-1]] if key_now.shape[0] else np.zeros(0, dtype=bool)
    days_now = np.bincount(code[now][first], minlength=n)
    totals: dict[str, np.ndarray] = {"shipments": count_now.astype(np.float64)}
    for basis in ("volume", "revenue"):
        if ships.has(basis):
            values = np.nan_to_num(np.asarray(ships.values[basis], dtype=np.float64)[now])
            totals[basis] = np.bincount(code[now], weights=values, minlength=n)
    segment, _ = _segments(history)
    return _Book(segment, count_now > 0, count_before > 0, days_now, totals)


def _rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def _retention_rows(book: _Book, masks: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    rows = []
    for segment, mask in masks:
        active = int((book.shipped_now & mask).sum())
        previous = int((book.shipped_before & mask).sum())
        churned = int((book.shipped_before & ~book.shipped_now & mask).sum())
        repeat = int(((book.days_now >= 2) & mask).sum())
        churn = _rate(churned, previous)
        rows.append(
            {
                "segment": segment,
                "customers": int(mask.sum()),
                "active_customers": active,
                "previous_customers": previous,
                "churned_customers": churned,
                "retained_customers": previous - churned,
                "new_or_returning_customers": int((book.shipped_now & ~book.shipped_before & mask).sum()),
                "churn_rate": churn,
                "retention_rate": 1.0 - churn,
                "repeat_customers": repeat,
                "repeat_rate": _rate(repeat, active),
                **{basis: float(values[mask].sum()) for basis, values in book.totals.items()},
            }
        )
    return rows


def _latest_scores(data: PortData, history: HistoryArrays, as_of_day: int, period: int) -> np.ndarray:
    """Latest survey score of each customer in the period (NaN: not surveyed then)."""
    n = history.n_customers
    out = np.full(n, np.nan)
    inter = data.interactions
    if inter is None or "score" not in inter.columns or not len(inter):
        return out
    kind = inter[t.INTERACTION_TYPE].astype(str).str.strip().str.lower()
    score = pd.to_numeric(inter["score"], errors="coerce")
    stamp = pd.to_datetime(inter[t.TIMESTAMP])
    day = stamp.to_numpy().astype("datetime64[D]").astype(np.int64)
    keep = (kind == "survey").to_numpy() & score.notna().to_numpy()
    keep &= (day > as_of_day - period) & (day <= as_of_day) & ~np.isnat(stamp.to_numpy())
    if not keep.any():
        return out
    code = pd.Index(history.customer_ids).get_indexer(inter[t.CUSTOMER_ID][keep])
    surveys = pd.DataFrame({"code": code, "stamp": stamp[keep].to_numpy(), "score": score[keep].to_numpy()})
    surveys = surveys[surveys["code"] >= 0].sort_values(["code", "stamp"], kind="stable")
    latest = surveys.groupby("code", sort=False)["score"].last()
    out[latest.index.to_numpy()] = latest.to_numpy()
    return out


def _satisfaction_rows(
    scores: np.ndarray, masks: list[tuple[str, np.ndarray]], cfg: PortfolioConfig
) -> list[dict[str, Any]]:
    rows = []
    for segment, mask in masks:
        s = scores[mask & np.isfinite(scores)]
        surveyed = int(s.shape[0])
        promoters = int((s >= cfg.promoter_score).sum())
        detractors = int((s <= cfg.detractor_score).sum())
        satisfied = int((s >= cfg.satisfied_score).sum())
        rows.append(
            {
                "segment": segment,
                "surveyed_customers": surveyed,
                "satisfied_customers": satisfied,
                "satisfaction_rate": _rate(satisfied, surveyed),
                "promoters": promoters,
                "passives": surveyed - promoters - detractors,
                "detractors": detractors,
                "nps": 100.0 * _rate(promoters - detractors, surveyed),
            }
        )
    return rows


def _concentration(
    book: _Book, masks: list[tuple[str, np.ndarray]], bases: Sequence[str], cfg: PortfolioConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, curves = [], []
    for segment, mask in masks:
        active = mask & book.shipped_now
        for basis in bases:
            values = book.totals[basis][active]
            if values.shape[0] == 0 or float(values.sum()) <= 0:
                continue
            rows.append(
                {
                    "segment": segment,
                    "basis": basis,
                    **concentration_measures(values, cfg.top_shares, cfg.top_counts),
                }
            )
            x, y = lorenz_curve(values, cfg.lorenz_points)
            curves.append(
                pd.DataFrame({"segment": segment, "basis": basis, "customer_share": x, "value_share": y})
            )
    columns = [
        "segment",
        "basis",
        "customers",
        "total",
        *(_top_share_column(s) for s in cfg.top_shares),
        *(f"cr{k}" for k in cfg.top_counts),
        "hhi",
        "hhi_points",
        "equivalent_customers",
        "gini",
    ]
    lorenz_columns = ["segment", "basis", "customer_share", "value_share"]
    table = pd.DataFrame(rows, columns=columns)
    lorenz = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=lorenz_columns)
    return table, lorenz


def _distribution(
    labels: np.ndarray, masks: list[tuple[str, np.ndarray]], order: Sequence[str], kind: str
) -> list[dict[str, Any]]:
    rows = []
    for segment, mask in masks:
        total = int(mask.sum())
        counts = pd.Series(labels[mask]).value_counts()
        for value in order:
            count = int(counts.get(value, 0))
            rows.append(
                {
                    "segment": segment,
                    "kind": kind,
                    "value": value,
                    "customers": count,
                    "share": _rate(count, total),
                }
            )
    return rows


def _states(
    history: HistoryArrays, as_of_day: int, config: TrainConfig, masks: list[tuple[str, np.ndarray]]
) -> pd.DataFrame:
    from berth.taxonomy import LABEL_VALUES, classify_customers, fit_taxonomy_reference

    codes = np.arange(history.n_customers, dtype=np.int64)
    reference = fit_taxonomy_reference(history, as_of_day, config.taxonomy)
    frame = classify_customers(history, codes, as_of_day, reference, config.taxonomy)
    rows: list[dict[str, Any]] = []
    for kind in STATE_KINDS:
        labels = frame[kind].astype(object).to_numpy()
        present = set(pd.unique(labels[pd.notna(labels)]))
        order = [v for v in LABEL_VALUES[kind] if v in present or v in _ALWAYS_SHOWN.get(kind, ())]
        rows.extend(_distribution(labels, masks, order, kind))
    return pd.DataFrame(rows, columns=_STATE_COLUMNS)


# Values listed even at zero customers (so a manager sees "0 dormant", not a missing row).
_ALWAYS_SHOWN: Mapping[str, tuple[str, ...]] = {
    "activity_state": ("active", "dozing", "half_asleep", "dormant"),
}


def _tiers(
    history: HistoryArrays,
    book: _Book,
    as_of_day: int,
    period: int,
    config: TrainConfig,
    masks: list[tuple[str, np.ndarray]],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple[int, int, int]], str]:
    from berth.modeling.tiers import fit_tier_rule, resolve_measure, tier_current

    measure = resolve_measure(config.tiers, history.available)
    rule = fit_tier_rule(history, as_of_day, period, measure, config.tiers)
    codes = np.arange(history.n_customers, dtype=np.int64)
    current = tier_current(history, codes, as_of_day, rule).astype(np.int64)  # 0 lapsed, 1 lowest, ...
    previous = tier_current(history, codes, as_of_day - period, rule).astype(np.int64)
    seen = book.shipped_now | book.shipped_before  # customers in either period
    k = len(rule.labels)
    order = list(range(k - 1, -1, -1))  # highest tier first, lapsed last
    rows, moves = [], []
    counts: dict[str, tuple[int, int, int]] = {}
    for segment, mask in masks:
        m = mask & seen
        n = int(m.sum())
        now = np.bincount(current[m], minlength=k)
        before = np.bincount(previous[m], minlength=k)
        pairs = np.bincount(previous[m] * k + current[m], minlength=k * k).reshape(k, k)
        for i in order:
            rows.append(
                {
                    "segment": segment,
                    "tier": rule.labels[i],
                    "customers_previous": int(before[i]),
                    "customers_current": int(now[i]),
                    "share_previous": _rate(int(before[i]), n),
                    "share_current": _rate(int(now[i]), n),
                }
            )
            for j in order:
                moves.append(
                    {
                        "segment": segment,
                        "previous_tier": rule.labels[i],
                        "current_tier": rule.labels[j],
                        "customers": int(pairs[i, j]),
                    }
                )
        up = int(np.triu(pairs, 1).sum())  # current code above previous: a move up
        down = int(np.tril(pairs, -1).sum())
        counts[segment] = (up, down, n - up - down)
    return (
        pd.DataFrame(rows, columns=_TIER_COLUMNS),
        pd.DataFrame(moves, columns=_MIGRATION_COLUMNS),
        counts,
        measure,
    )


def _clv_values(history: HistoryArrays, as_of_day: int, config: TrainConfig) -> np.ndarray:
    from berth.customer_value import fit_value_model, predict_value

    model = fit_value_model(history, as_of_day, config.value, occasion_model="bgnbd")
    codes = np.arange(history.n_customers, dtype=np.int64)
    return np.asarray(predict_value(model, history, codes, as_of_day).clv, dtype=np.float64)


def _clv_bands(values: np.ndarray) -> list[tuple[float, float]]:
    """Decade bands (1–10, 10–100, ...) covering the positive values; (−inf, 0] first when needed."""
    bands: list[tuple[float, float]] = []
    if (values <= 0).any():
        bands.append((-math.inf, 0.0))
    positive = values[values > 0]
    if positive.size:
        high = math.ceil(math.log10(float(positive.max())) + 1e-12)
        low = max(math.floor(math.log10(float(positive.min()))), high - 6)
        high = max(high, low + 1)
        edges = [10.0**k for k in range(low, high + 1)]
        edges[0] = 0.0  # the lowest band takes every smaller positive value
        bands.extend(pairwise(edges))
    return bands


def _clv_tables(clv: np.ndarray, masks: list[tuple[str, np.ndarray]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    known = np.isfinite(clv)
    bands = _clv_bands(clv[known])
    rows, hist = [], []
    for segment, mask in masks:
        v = clv[mask & known]
        if v.shape[0] == 0:
            continue
        ordered = np.sort(v)[::-1]
        top = ordered[: _top_count(0.2, ordered.shape[0])].sum()
        total = float(v.sum())
        q = np.quantile(v, [0.10, 0.25, 0.5, 0.75, 0.90])
        rows.append(
            {
                "segment": segment,
                "customers": int(v.shape[0]),
                "total": total,
                "mean": float(v.mean()),
                "p10": float(q[0]),
                "p25": float(q[1]),
                "median": float(q[2]),
                "p75": float(q[3]),
                "p90": float(q[4]),
                "top_20pct_share": float(top / total) if total > 0 else float("nan"),
            }
        )
        for lower, upper in bands:
            inside = (v > lower) & (v <= upper)
            hist.append({"segment": segment, "lower": lower, "upper": upper, "customers": int(inside.sum())})
    return pd.DataFrame(rows, columns=_CLV_COLUMNS), pd.DataFrame(hist, columns=_CLV_BAND_COLUMNS)


def _summary(
    retention: list[dict[str, Any]],
    satisfaction: list[dict[str, Any]],
    tier_moves: Mapping[str, tuple[int, int, int]],
    clv: pd.DataFrame,
) -> pd.DataFrame:
    frame = pd.DataFrame(retention).merge(pd.DataFrame(satisfaction), on="segment", how="left", sort=False)
    moves = pd.DataFrame(
        [(s, *m) for s, m in tier_moves.items()],
        columns=["segment", "tier_upgraded", "tier_downgraded", "tier_unchanged"],
    )
    frame = frame.merge(moves, on="segment", how="left", sort=False)
    values = clv[["segment", "total", "mean"]].rename(columns={"total": "clv_total", "mean": "clv_mean"})
    return frame.merge(values, on="segment", how="left", sort=False)


def portfolio_report(
    data: PortData,
    as_of: date,
    config: TrainConfig | None = None,
    report: PortfolioConfig | None = None,
) -> PortfolioReport:
    """Every table of the portfolio report as of ``as_of`` (reads nothing after it)."""
    settings = config if config is not None else TrainConfig()
    cfg = report if report is not None else PortfolioConfig()
    period = cfg.period_days
    as_of_day = date_to_day(as_of)
    history = HistoryArrays.from_port_data(data, known_until=as_of)
    book = _book(history, as_of_day, period)
    segment_names = _segments(history)[1]
    masks = _masks(book, segment_names)
    notes: dict[str, str] = {}
    facts: dict[str, Any] = {"customers": history.n_customers}

    retention = _retention_rows(book, masks)
    if not book.shipped_now.any():
        notes.update(dict.fromkeys(("concentration", "tiers"), NO_SHIPMENTS))
    if not history.n_customers:  # nobody has shipped yet: no states, no value either
        notes.update(dict.fromkeys(("activity", "clv"), NO_SHIPMENTS))
    if not book.shipped_before.any():
        notes["churn"] = NO_PREVIOUS
    scores = _latest_scores(data, history, as_of_day, period)
    if not np.isfinite(scores).any():
        notes["satisfaction"] = NO_SURVEYS
    satisfaction = _satisfaction_rows(scores, masks, cfg)

    bases = [b for b in BASES if b in book.totals and (b != "shipments" or "volume" not in book.totals)]
    facts["bases"] = tuple(bases)
    concentration, lorenz = _concentration(book, masks, bases, cfg)

    states = pd.DataFrame(columns=_STATE_COLUMNS)
    if history.n_customers:
        states = _states(history, as_of_day, settings, masks)

    tiers = pd.DataFrame(columns=_TIER_COLUMNS)
    migration = pd.DataFrame(columns=_MIGRATION_COLUMNS)
    tier_moves: dict[str, tuple[int, int, int]] = {}
    if book.shipped_now.any():
        try:
            tiers, migration, tier_moves, facts["tier_measure"] = _tiers(
                history, book, as_of_day, period, settings, masks
            )
        except ValueError:
            notes["tiers"] = NOT_FITTED

    clv_stats = pd.DataFrame(columns=_CLV_COLUMNS)
    clv_hist = pd.DataFrame(columns=_CLV_BAND_COLUMNS)
    if not history.shipments.has("revenue"):
        notes["clv"] = NO_REVENUE
    elif "clv" not in notes:
        try:
            clv = _clv_values(history, as_of_day, settings)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            clv = np.full(history.n_customers, np.nan)
        clv_stats, clv_hist = _clv_tables(clv, masks)
        if clv_stats.empty:
            notes["clv"] = NOT_FITTED

    summary = _summary(retention, satisfaction, tier_moves, clv_stats)
    tables = {
        "summary": summary,
        "concentration": concentration,
        "lorenz": lorenz,
        "states": states,
        "tiers": tiers,
        "tier_migration": migration,
        "clv": clv_stats,
        "clv_distribution": clv_hist,
    }
    return PortfolioReport(
        as_of=as_of,
        period_start=as_of - timedelta(days=period - 1),
        previous_start=as_of - timedelta(days=2 * period - 1),
        config=cfg,
        segments=segment_names,
        tables=tables,
        notes=notes,
        facts=facts,
    )

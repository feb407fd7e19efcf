"""Drivers in words: one sentence per driver group, citing the customer's own figures.

The churn model's attributions are summed into the groups of :data:`berth.features.GROUP_LABELS`
(service quality, complaints, attitude, ...); each group reads the features it is made of at the
cutoff and says what they are, e.g. "on-time share 96% over the last year, 81% over the last 90
days". Sentences are gettext messages (``driver.<group>``) in the same catalogues as the taxonomy
labels, with named ``str.format`` fields; a figure the customer has no data for picks the
group's ``.none`` message instead of inventing one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from berth.i18n import N_, translate

Figures = Mapping[str, float]

SENTENCES: tuple[str, ...] = (
    N_("driver.none"),
    N_("driver.rhythm"),
    N_("driver.rhythm.none"),
    N_("driver.volume"),
    N_("driver.volume.none"),
    N_("driver.revenue"),
    N_("driver.revenue.none"),
    N_("driver.service"),
    N_("driver.service.none"),
    N_("driver.complaints"),
    N_("driver.complaints.none"),
    N_("driver.attitude"),
    N_("driver.attitude.none"),
    N_("driver.relationship"),
    N_("driver.profile"),
    N_("driver.profile.none"),
    N_("driver.btyd"),
    N_("driver.btyd.none"),
    N_("driver.concentration"),
    N_("driver.concentration.none"),
)


def _known(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _get(figures: Figures, name: str) -> float | None:
    value = figures.get(name)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _signed_pct(value: float) -> str:
    return f"{value:+.0%}"


def _amount(value: float) -> str:
    return f"{value:,.0f}"


def _before(recent: float, log_trend: float) -> float:
    """The previous window's amount from the recent one and log((recent + 1) / (previous + 1))."""
    return max((recent + 1.0) * math.exp(-log_trend) - 1.0, 0.0)


def _rhythm(f: Figures) -> tuple[str, dict[str, str]] | None:
    recency = _get(f, "recency_days")
    gap = _get(f, "gap_mean_days_365") or _get(f, "gap_mean_days")
    if not _known(recency, gap):
        return None
    return "driver.rhythm", {"recency": f"{recency:.0f}", "gap": f"{gap:.0f}"}


def _window_change(f: Figures, column: str) -> tuple[str, dict[str, str]] | None:
    """The last 90 days of ``column`` (volume or revenue) against the 90 days before."""
    recent, trend = _get(f, f"{column}_90"), _get(f, f"{column}_trend_90")
    if recent is None or trend is None:
        return None
    previous = _before(recent, trend)
    change = (recent - previous) / previous if previous > 0 else float("nan")
    return f"driver.{column}", {
        "recent": _amount(recent),
        "previous": _amount(previous),
        "change": _signed_pct(change) if math.isfinite(change) else "–",
    }


def _volume(f: Figures) -> tuple[str, dict[str, str]] | None:
    return _window_change(f, "volume")


def _revenue(f: Figures) -> tuple[str, dict[str, str]] | None:
    return _window_change(f, "revenue")


def _service(f: Figures) -> tuple[str, dict[str, str]] | None:
    year, recent = _get(f, "on_time_share_365"), _get(f, "on_time_share_90")
    if year is None or recent is None:
        return None
    delay = _get(f, "delay_mean_hours_90")
    return "driver.service", {
        "before": _pct(year),
        "after": _pct(recent),
        "delay": f"{delay:.0f}" if delay is not None else "–",
    }


def _complaints(f: Figures) -> tuple[str, dict[str, str]] | None:
    recent, year = _get(f, "complaints_90"), _get(f, "complaints_365")
    if recent is None or year is None:
        return None
    unresolved = _get(f, "unresolved_complaints")
    return "driver.complaints", {
        "recent": f"{recent:.0f}",
        "year": f"{year:.0f}",
        "open": f"{unresolved:.0f}" if unresolved is not None else "–",
    }


def _attitude(f: Figures) -> tuple[str, dict[str, str]] | None:
    score, change = _get(f, "survey_score_last"), _get(f, "survey_score_change")
    if score is None:
        return None
    return "driver.attitude", {
        "score": f"{score:g}",
        "change": f"{change:+g}" if change is not None else "–",
    }


def _relationship(f: Figures) -> tuple[str, dict[str, str]] | None:
    contacts, meetings = _get(f, "contacts_90"), _get(f, "meetings_365")
    return "driver.relationship", {
        "contacts": f"{contacts:.0f}" if contacts is not None else "0",
        "meetings": f"{meetings:.0f}" if meetings is not None else "0",
    }


def _profile(f: Figures) -> tuple[str, dict[str, str]] | None:
    age = _get(f, "customer_age_days") or _get(f, "first_shipment_age_days")
    if age is None:
        return None
    return "driver.profile", {"years": f"{age / 365.25:.1f}".removesuffix(".0")}


def _btyd(f: Figures, horizon_days: int) -> tuple[str, dict[str, str]] | None:
    p = _get(f, "btyd_p_no_shipment_h")
    if p is None:
        return None
    return "driver.btyd", {"p": _pct(p), "horizon": str(horizon_days)}


def _concentration(f: Figures) -> tuple[str, dict[str, str]] | None:
    lanes, top = _get(f, "lanes_365"), _get(f, "top_cargo_share_365")
    if lanes is None and top is None:
        return None
    return "driver.concentration", {
        "lanes": f"{lanes:.0f}" if lanes is not None else "–",
        "share": _pct(top) if top is not None else "–",
    }


_BUILDERS: Mapping[str, Callable[[Figures], tuple[str, dict[str, str]] | None]] = {
    "rhythm": _rhythm,
    "volume": _volume,
    "revenue": _revenue,
    "service": _service,
    "complaints": _complaints,
    "attitude": _attitude,
    "relationship": _relationship,
    "profile": _profile,
    "concentration": _concentration,
}


def explain_driver(group: str, figures: Figures, lang: str, *, horizon_days: int = 90) -> str:
    """The sentence for one driver group of one customer, in ``lang`` (en or zh)."""
    built = _btyd(figures, horizon_days) if group == "btyd" else _BUILDERS[group](figures)
    if built is None:
        return translate(f"driver.{group}.none", lang)
    msgid, values = built
    return translate(msgid, lang).format(**values)

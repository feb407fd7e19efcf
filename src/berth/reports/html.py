"""The portfolio report as one self-contained HTML page: headline numbers, charts, then tables.

Charts are inline SVG drawn here (no JavaScript, no external CSS, fonts or images), so the page
opens offline in any browser and chart text is ordinary text in the page's language: Chinese
renders with whatever CJK font the reader's system has, with no font embedded in a raster image.
Every heading and label comes from :mod:`berth.i18n` (msgids ``report.*``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from html import escape
from string import Template

import numpy as np
import pandas as pd

from berth.i18n import N_, label, normalise_language, translate
from berth.reports.portfolio import ALL_SEGMENTS, UNKNOWN_SEGMENT, PortfolioReport

__all__ = ["PORTFOLIO_MESSAGES", "render_portfolio_html"]

_FONT = (
    "system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK SC', 'Source Han Sans SC', "
    "'PingFang SC', 'Microsoft YaHei', 'Noto Sans', Arial, sans-serif"
)
_GREY = "#9aa5b1"
_STATE_COLOURS = {
    "active": "#2e9e5b",
    "dozing": "#f2c14e",
    "half_asleep": "#f08a3c",
    "dormant": "#d64545",
    "no_shipments": "#c7ced6",
}
_LOYALTY_COLOURS = {
    "true": "#2e9e5b",
    "latent": "#4a90d9",
    "spurious": "#f08a3c",
    "none": "#d64545",
    "unknown_attitude": "#c7ced6",
}
_TIER_COLOURS = ["#5b4b8a", "#d4a017", "#a7b1bc", "#b0703c", "#6f8fa8", "#8aa36f", "#7a5c61"]
_NPS_COLOURS = {"detractors": "#d64545", "passives": "#c7ced6", "promoters": "#2e9e5b"}
_BASIS_COLOURS = {"volume": "#2f6fb5", "revenue": "#e07b24", "shipments": "#2f6fb5"}

# Every message the page shows, marked for ``pybabel extract`` (which does not look inside
# f-strings on Python 3.11): the catalogues and this list change together.
PORTFOLIO_MESSAGES: tuple[str, ...] = (
    N_("report.absolute_concentration"),
    N_("report.active_customers"),
    N_("report.all_customers"),
    N_("report.basis"),
    N_("report.basis_points"),
    N_("report.basis_revenue"),
    N_("report.basis_shipments"),
    N_("report.basis_volume"),
    N_("report.book_customers_line"),
    N_("report.by_abc_class"),
    N_("report.by_activity_state"),
    N_("report.by_loyalty_form"),
    N_("report.by_relationship_level"),
    N_("report.by_tier"),
    N_("report.by_upgrade_stage"),
    N_("report.churn_and_retention"),
    N_("report.churn_rate"),
    N_("report.churned_customers"),
    N_("report.churned_of"),
    N_("report.clv_band_chart"),
    N_("report.clv_distribution"),
    N_("report.clv_mean"),
    N_("report.clv_mean_line"),
    N_("report.clv_median"),
    N_("report.clv_top20"),
    N_("report.clv_total"),
    N_("report.concentration"),
    N_("report.cr_k"),
    N_("report.customer_share_axis"),
    N_("report.customers"),
    N_("report.def_churn"),
    N_("report.def_clv"),
    N_("report.def_concentration"),
    N_("report.def_nps"),
    N_("report.def_period"),
    N_("report.def_repeat"),
    N_("report.def_satisfaction"),
    N_("report.def_states"),
    N_("report.def_tiers"),
    N_("report.definitions"),
    N_("report.detail_tables"),
    N_("report.detractors"),
    N_("report.equality_line"),
    N_("report.equivalent_customers"),
    N_("report.footer"),
    N_("report.gini"),
    N_("report.gini_hhi_line"),
    N_("report.headline"),
    N_("report.hhi"),
    N_("report.lorenz_curve"),
    N_("report.meta_line"),
    N_("report.new_or_returning"),
    N_("report.no_data"),
    N_("report.nps"),
    N_("report.nps_composition"),
    N_("report.nps_of"),
    N_("report.nps_short"),
    N_("report.p10"),
    N_("report.p90"),
    N_("report.passives"),
    N_("report.portfolio_title"),
    N_("report.previous_customers"),
    N_("report.previous_period"),
    N_("report.promoters"),
    N_("report.reason_no_previous_shipments"),
    N_("report.reason_no_revenue"),
    N_("report.reason_no_shipments"),
    N_("report.reason_no_surveys"),
    N_("report.reason_not_fitted"),
    N_("report.repeat_customers"),
    N_("report.repeat_of"),
    N_("report.repeat_purchase_rate"),
    N_("report.retained_of"),
    N_("report.retention_rate"),
    N_("report.satisfaction_and_nps"),
    N_("report.satisfaction_rate"),
    N_("report.satisfaction_short"),
    N_("report.satisfied"),
    N_("report.satisfied_of"),
    N_("report.segment"),
    N_("report.segment_overview"),
    N_("report.states_heading"),
    N_("report.surveyed"),
    N_("report.this_period"),
    N_("report.tier"),
    N_("report.tier_distribution"),
    N_("report.tier_migration"),
    N_("report.tier_migration_note"),
    N_("report.tier_moves_line"),
    N_("report.tier_note"),
    N_("report.tier_table_note"),
    N_("report.top_pct"),
    N_("report.top_pct_of"),
    N_("report.top_share_card"),
    N_("report.total"),
    N_("report.unknown_segment"),
    N_("report.value_share_axis"),
)

_BASIS_MSGIDS = {
    "volume": N_("report.basis_volume"),
    "revenue": N_("report.basis_revenue"),
    "shipments": N_("report.basis_shipments"),
    "points": N_("report.basis_points"),
}
_REASON_MSGIDS = {
    "no_shipments": N_("report.reason_no_shipments"),
    "no_previous_shipments": N_("report.reason_no_previous_shipments"),
    "no_surveys": N_("report.reason_no_surveys"),
    "no_revenue": N_("report.reason_no_revenue"),
    "not_fitted": N_("report.reason_not_fitted"),
}
_STATE_HEADINGS = {
    "activity_state": N_("report.by_activity_state"),
    "loyalty_form": N_("report.by_loyalty_form"),
    "abc_class": N_("report.by_abc_class"),
    "relationship_level": N_("report.by_relationship_level"),
    "upgrade_stage": N_("report.by_upgrade_stage"),
}

_PAGE = Template(
    """<!DOCTYPE html>
<html lang="$lang">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: $font; color: #1f2933; background: #f5f7fa; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e4e7eb; }
h3 { font-size: 15px; margin: 18px 0 6px; color: #3e4c59; }
.meta { color: #616e7c; font-size: 14px; margin: 0 0 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.card { border: 1px solid #e4e7eb; border-radius: 8px; padding: 12px 14px; background: #fbfcfd; }
.card .name { font-size: 13px; color: #52606d; }
.card .value { font-size: 30px; font-weight: 700; margin: 4px 0; }
.card .sub { font-size: 12px; color: #7b8794; }
.charts { display: flex; flex-wrap: wrap; gap: 18px 32px; align-items: flex-start; }
.chart { flex: 0 1 auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 14px; }
th, td { border: 1px solid #e4e7eb; padding: 4px 8px; text-align: right; }
th { background: #f0f4f8; font-weight: 600; }
td:first-child, th:first-child { text-align: left; white-space: nowrap; }
tr.all td { font-weight: 700; }
.nodata { color: #8a6d3b; background: #fcf8e3; border: 1px solid #f3e6b3; padding: 8px 12px;
  border-radius: 6px; font-size: 14px; }
.note { color: #616e7c; font-size: 13px; }
.defs { font-size: 13px; color: #3e4c59; }
.defs li { margin: 4px 0; }
svg text { font-family: $font; }
</style>
</head>
<body>
<main>
$body
</main>
</body>
</html>
"""
)


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _pct(value: object, digits: int = 1) -> str:
    return f"{100 * float(value):.{digits}f}%" if _finite(value) else "—"  # type: ignore[arg-type]


def _int(value: object) -> str:
    return f"{round(float(value)):,}" if _finite(value) else "—"  # type: ignore[arg-type]


def _dec(value: object, digits: int = 2) -> str:
    return f"{float(value):,.{digits}f}" if _finite(value) else "—"  # type: ignore[arg-type]


def _signed(value: object) -> str:
    return f"{float(value):+.1f}" if _finite(value) else "—"  # type: ignore[arg-type]


def _amount(value: object, lang: str) -> str:
    """A large amount shortened the way readers of the language count (k / M / bn; 万 / 亿)."""
    if not _finite(value):
        return "—"
    x = float(value)  # type: ignore[arg-type]
    units = [(1e8, "亿"), (1e4, "万")] if lang == "zh" else [(1e9, " bn"), (1e6, " M"), (1e3, " k")]
    for size, unit in units:
        if abs(x) >= size:
            scaled = round(x / size, 1 if abs(x / size) < 100 else 0)
            return f"{scaled:,g}{unit}" if abs(scaled) < 1e6 else f"{scaled:,.0f}{unit}"
    return f"{x:,.0f}"


def _t(msgid: str, lang: str, **values: object) -> str:
    """Translated text with ``{name}`` fields filled, HTML-escaped."""
    text = translate(msgid, lang)
    return escape(text.format(**values) if values else text)


def _label(kind: str, value: str, lang: str) -> str:
    try:
        return label(kind, value, lang)
    except ValueError:  # a configured tier name the catalogues do not know: shown as written
        return value


def _segment(name: str, lang: str) -> str:
    if name == ALL_SEGMENTS:
        return translate("report.all_customers", lang)
    if name == UNKNOWN_SEGMENT:
        return translate("report.unknown_segment", lang)
    return name


def _basis(name: str, lang: str) -> str:
    msgid = _BASIS_MSGIDS.get(name)
    return translate(msgid, lang) if msgid else name


def _text_width(text: str, size: float) -> float:
    """Rough rendered width of ``text`` (CJK characters are about twice as wide as Latin ones)."""
    return sum(size * (1.0 if ord(ch) >= 0x2E80 else 0.58) for ch in text)


def _no_data(report: PortfolioReport, section: str, lang: str) -> str:
    reason = report.notes.get(section)
    if reason is None:
        return ""
    why = translate(_REASON_MSGIDS.get(reason, "report.reason_not_fitted"), lang)
    return f'<p class="nodata">{_t("report.no_data", lang, reason=why)}</p>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    """An HTML table; ``head`` and cells are already escaped."""
    out = ["<table><thead><tr>", *(f"<th>{h}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Charts (inline SVG)
# ---------------------------------------------------------------------------------------------


def _light(colour: str) -> bool:
    """Whether a #rrggbb colour is light enough to need dark text on it."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.6


def _legend(items: Sequence[tuple[str, str]], width: float, y: float) -> tuple[str, float]:
    """Legend swatches flowing over lines; returns the SVG and the height used."""
    parts, x, line = [], 0.0, 0
    for name, colour in items:
        w = 18 + _text_width(name, 12) + 16
        if x + w > width and x > 0:
            x, line = 0.0, line + 1
        yy = y + line * 20
        parts.append(
            f'<rect x="{x:.1f}" y="{yy:.1f}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{x + 17:.1f}" y="{yy + 10.5:.1f}" font-size="12">{escape(name)}</text>'
        )
        x += w
    return "".join(parts), (line + 1) * 20


def _stacked_bars(
    rows: Sequence[tuple[str, Sequence[float], str]], categories: Sequence[tuple[str, str]], width: int = 720
) -> str:
    """100% stacked horizontal bars, one per row: (label, counts per category, text at the right)."""
    label_w = max([_text_width(r[0], 13) for r in rows] + [60]) + 12
    right_w = max([_text_width(r[2], 12) for r in rows] + [0]) + 14
    bar_w = width - label_w - right_w
    legend, legend_h = _legend(categories, width, 0)
    top = legend_h + 6
    row_h = 28
    parts = [legend]
    for i, (name, counts, right) in enumerate(rows):
        y = top + i * row_h
        total = float(sum(counts))
        parts.append(
            f'<text x="{label_w - 8:.1f}" y="{y + 17:.1f}" font-size="13" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        x = label_w
        for count, (cat, colour) in zip(counts, categories, strict=True):
            if total <= 0 or count <= 0:
                continue
            w = bar_w * count / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3:.1f}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}">'
                f"<title>{escape(cat)}: {count:,.0f} ({100 * count / total:.1f}%)</title></rect>"
            )
            share = f"{100 * count / total:.0f}%"
            if w > _text_width(share, 11) + 6:
                ink = "#1f2933" if _light(colour) else "#fff"
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 18:.1f}" font-size="11" text-anchor="middle" '
                    f'fill="{ink}">{share}</text>'
                )
            x += w
        parts.append(
            f'<text x="{label_w + bar_w + 8:.1f}" y="{y + 17:.1f}" font-size="12">{escape(right)}</text>'
        )
    height = top + len(rows) * row_h + 4
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


def _lorenz_chart(
    curves: Sequence[tuple[str, str, np.ndarray, np.ndarray]], lang: str, size: int = 300
) -> str:
    """Lorenz curves (name, colour, x, y) over the line of equal shares."""
    left, top, bottom = 56, 10.0, 46
    legend_items = [(translate("report.equality_line", lang), _GREY), *((n, c) for n, c, _, _ in curves)]
    legend, legend_h = _legend(legend_items, size + left, 0)
    top += legend_h
    width, height = left + size + 16, top + size + bottom

    def px(x: float) -> float:
        return left + x * size

    def py(y: float) -> float:
        return top + (1 - y) * size

    parts = [
        legend,
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#fbfcfd" stroke="#cbd2d9"/>',
    ]
    for tick in np.linspace(0, 1, 6):
        parts.append(
            f'<line x1="{px(tick):.1f}" y1="{top}" x2="{px(tick):.1f}" y2="{top + size}" stroke="#e4e7eb"/>'
            f'<line x1="{left}" y1="{py(tick):.1f}" x2="{left + size}" y2="{py(tick):.1f}" stroke="#e4e7eb"/>'
            f'<text x="{px(tick):.1f}" y="{top + size + 15}" font-size="11" text-anchor="middle">'
            f"{tick:.0%}</text>"
            f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick:.0%}</text>'
        )
    parts.append(
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="{_GREY}" stroke-dasharray="5,4"/>'
    )
    for _, colour, xs, ys in curves:
        points = " ".join(f"{px(float(a)):.1f},{py(float(b)):.1f}" for a, b in zip(xs, ys, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
    parts.append(
        f'<text x="{left + size / 2}" y="{top + size + 36}" font-size="12" text-anchor="middle">'
        f"{_t('report.customer_share_axis', lang)}</text>"
        f'<text transform="translate(14,{top + size / 2}) rotate(-90)" font-size="12" text-anchor="middle">'
        f"{_t('report.value_share_axis', lang)}</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


def _column_chart(bars: Sequence[tuple[str, float]], colour: str, y_title: str, width: int = 520) -> str:
    """Vertical bars with a count above each."""
    left, top, bottom, height_plot = 48, 16, 44, 220
    n = max(len(bars), 1)
    slot = (width - left - 10) / n
    peak = max([v for _, v in bars] + [1.0])
    parts = [
        f'<line x1="{left}" y1="{top + height_plot}" x2="{width - 10}" y2="{top + height_plot}" '
        'stroke="#9aa5b1"/>',
        f'<text transform="translate(12,{top + height_plot / 2}) rotate(-90)" font-size="12" '
        f'text-anchor="middle">{escape(y_title)}</text>',
    ]
    for i, (name, value) in enumerate(bars):
        h = height_plot * value / peak
        x = left + i * slot + slot * 0.12
        w = slot * 0.76
        parts.append(
            f'<rect x="{x:.1f}" y="{top + height_plot - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="{colour}"/>'
            f'<text x="{x + w / 2:.1f}" y="{top + height_plot - h - 4:.1f}" font-size="11" '
            f'text-anchor="middle">{value:,.0f}</text>'
            f'<text x="{x + w / 2:.1f}" y="{top + height_plot + 16:.1f}" font-size="11" '
            f'text-anchor="middle">{escape(name)}</text>'
        )
    height = top + height_plot + bottom
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


# ---------------------------------------------------------------------------------------------
# Sections: headline numbers, then charts, then tables
# ---------------------------------------------------------------------------------------------


def _row(frame: pd.DataFrame, segment: str = ALL_SEGMENTS) -> pd.Series | None:
    match = frame[frame["segment"] == segment] if "segment" in frame.columns else frame.iloc[0:0]
    return match.iloc[0] if len(match) else None


def _card(name: str, value: str, sub: str = "") -> str:
    return (
        f'<div class="card"><div class="name">{name}</div><div class="value">{value}</div>'
        f'<div class="sub">{sub}</div></div>'
    )


def _main_basis(report: PortfolioReport) -> str | None:
    bases = tuple(report.facts.get("bases", ()))
    for basis in ("revenue", "volume", "shipments"):
        if basis in bases:
            return basis
    return None


def _classes(segments: Iterable[str]) -> list[str]:
    return ["all" if s == ALL_SEGMENTS else "" for s in segments]


def _missing(report: PortfolioReport, section: str, lang: str) -> str:
    """The section's "no numbers" line (a generic reason when the report recorded none)."""
    why = translate("report.reason_not_fitted", lang)
    return (
        _no_data(report, section, lang) or f'<p class="nodata">{_t("report.no_data", lang, reason=why)}</p>'
    )


def _headline(report: PortfolioReport, lang: str) -> str:
    s = _row(report.tables["summary"])
    assert s is not None
    previous = _int(s["previous_customers"])
    cards = [
        _card(
            _t("report.active_customers", lang),
            _int(s["active_customers"]),
            _t("report.book_customers_line", lang, customers=_int(s["customers"])),
        ),
        _card(
            _t("report.churn_rate", lang),
            _pct(s["churn_rate"]),
            _t("report.churned_of", lang, churned=_int(s["churned_customers"]), previous=previous),
        ),
        _card(
            _t("report.retention_rate", lang),
            _pct(s["retention_rate"]),
            _t("report.retained_of", lang, retained=_int(s["retained_customers"]), previous=previous),
        ),
        _card(
            _t("report.repeat_purchase_rate", lang),
            _pct(s["repeat_rate"]),
            _t(
                "report.repeat_of",
                lang,
                repeat=_int(s["repeat_customers"]),
                active=_int(s["active_customers"]),
            ),
        ),
        _card(
            _t("report.satisfaction_rate", lang),
            _pct(s["satisfaction_rate"]),
            _t(
                "report.satisfied_of",
                lang,
                satisfied=_int(s["satisfied_customers"]),
                surveyed=_int(s["surveyed_customers"]),
                threshold=f"{report.config.satisfied_score:g}",
            ),
        ),
        _card(
            _t("report.nps", lang),
            _signed(s["nps"]),
            _t(
                "report.nps_of",
                lang,
                promoters=_int(s["promoters"]),
                detractors=_int(s["detractors"]),
                surveyed=_int(s["surveyed_customers"]),
            ),
        ),
    ]
    basis = _main_basis(report)
    concentration = report.tables["concentration"]
    top10 = "top_10pct_share"
    if basis is not None and top10 in concentration.columns:
        c = concentration[(concentration["segment"] == ALL_SEGMENTS) & (concentration["basis"] == basis)]
        if len(c):
            row = c.iloc[0]
            cards.append(
                _card(
                    _t("report.top_share_card", lang, basis=_basis(basis, lang)),
                    _pct(row[top10]),
                    _t("report.gini_hhi_line", lang, gini=_dec(row["gini"]), hhi=_int(row["hhi_points"])),
                )
            )
    clv = _row(report.tables["clv"])
    if clv is not None:
        cards.append(
            _card(
                _t("report.clv_total", lang),
                escape(_amount(clv["total"], lang)),
                _t(
                    "report.clv_mean_line",
                    lang,
                    mean=_amount(clv["mean"], lang),
                    median=_amount(clv["median"], lang),
                ),
            )
        )
    notes = "".join(_no_data(report, section, lang) for section in ("churn", "satisfaction", "concentration"))
    return f'<h2>{_t("report.headline", lang)}</h2><div class="cards">{"".join(cards)}</div>{notes}'


def _top_share_columns(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, "10%") of every top-share column."""
    return [
        (c, c[len("top_") : -len("pct_share")] + "%")
        for c in table.columns
        if c.startswith("top_") and c.endswith("pct_share")
    ]


def _concentration_charts(report: PortfolioReport, lang: str) -> str:
    out = [f"<h2>{_t('report.concentration', lang)}</h2>"]
    table = report.tables["concentration"]
    if table.empty:
        return "".join([*out, _missing(report, "concentration", lang)])
    lorenz = report.tables["lorenz"]
    curves, bars = [], []
    for basis in report.facts.get("bases", ()):
        part = lorenz[(lorenz["segment"] == ALL_SEGMENTS) & (lorenz["basis"] == basis)]
        row = table[(table["segment"] == ALL_SEGMENTS) & (table["basis"] == basis)]
        if not (len(part) and len(row)):
            continue
        colour = _BASIS_COLOURS.get(basis, "#2f6fb5")
        name = f"{_basis(basis, lang)} ({translate('report.gini', lang)} {_dec(row.iloc[0]['gini'])})"
        curves.append((name, colour, part["customer_share"].to_numpy(), part["value_share"].to_numpy()))
        for column, pct in _top_share_columns(table):
            top = translate("report.top_pct", lang).format(pct=pct)
            bars.append((f"{_basis(basis, lang)} · {top}", float(row.iloc[0][column]), colour))
    out.append(
        '<div class="charts">'
        f'<div class="chart"><h3>{_t("report.lorenz_curve", lang)}</h3>{_lorenz_chart(curves, lang)}</div>'
        f'<div class="chart"><h3>{_t("report.absolute_concentration", lang)}</h3>{_share_bars(bars)}</div>'
        "</div>"
    )
    return "".join(out)


def _share_bars(bars: Sequence[tuple[str, float, str]], width: int = 520) -> str:
    """Horizontal bars of shares (0–1), one per line, the value written at the end."""
    label_w = max([_text_width(n, 12) for n, _, _ in bars] + [40]) + 12
    bar_w = width - label_w - 52
    row_h = 24
    parts = []
    for i, (name, value, colour) in enumerate(bars):
        y = i * row_h + 4
        w = bar_w * (value if _finite(value) else 0.0)
        parts.append(
            f'<text x="{label_w - 8:.1f}" y="{y + 14:.1f}" font-size="12" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect x="{label_w:.1f}" y="{y + 2:.1f}" width="{bar_w:.1f}" height="{row_h - 8}" '
            'fill="#eef1f4"/>'
            f'<rect x="{label_w:.1f}" y="{y + 2:.1f}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + 14:.1f}" font-size="12">{_pct(value)}</text>'
        )
    height = len(bars) * row_h + 8
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


def _satisfaction_charts(report: PortfolioReport, lang: str) -> str:
    out = [f"<h2>{_t('report.satisfaction_and_nps', lang)}</h2>"]
    if "satisfaction" in report.notes:
        return "".join([*out, _no_data(report, "satisfaction", lang)])
    summary = report.tables["summary"]
    categories = [
        (translate("report.detractors", lang), _NPS_COLOURS["detractors"]),
        (translate("report.passives", lang), _NPS_COLOURS["passives"]),
        (translate("report.promoters", lang), _NPS_COLOURS["promoters"]),
    ]
    nps, t_name = translate("report.nps_short", lang), translate("report.satisfaction_short", lang)
    rows = []
    for segment in report.segments:
        s = _row(summary, segment)
        if s is None or not s["surveyed_customers"]:
            continue
        right = f"{nps} {_signed(s['nps'])} · {t_name} {_pct(s['satisfaction_rate'], 0)}"
        counts = [float(s["detractors"]), float(s["passives"]), float(s["promoters"])]
        rows.append((_segment(segment, lang), counts, right))
    out.append(f"<h3>{_t('report.nps_composition', lang)}</h3>{_stacked_bars(rows, categories)}")
    return "".join(out)


def _distribution_chart(
    report: PortfolioReport,
    frame: pd.DataFrame,
    kind: str,
    lang: str,
    colour: Callable[[str, int], str],
    value_column: str = "value",
    count_column: str = "customers",
) -> str:
    values = list(dict.fromkeys(frame[value_column]))
    categories = [(_label(kind, v, lang), colour(v, i)) for i, v in enumerate(values)]
    rows = []
    for segment in report.segments:
        part = frame[frame["segment"] == segment]
        counts = [float(part.loc[part[value_column] == v, count_column].sum()) for v in values]
        total = sum(counts)
        if total > 0:
            rows.append((_segment(segment, lang), counts, f"{total:,.0f}"))
    return _stacked_bars(rows, categories)


def _states_charts(report: PortfolioReport, lang: str) -> str:
    states = report.tables["states"]
    out = [f"<h2>{_t('report.states_heading', lang)}</h2>"]
    if states.empty:
        return "".join([*out, _missing(report, "activity", lang)])
    for kind, colours in (("activity_state", _STATE_COLOURS), ("loyalty_form", _LOYALTY_COLOURS)):
        part = states[states["kind"] == kind]
        chart = _distribution_chart(report, part, kind, lang, partial(_colour_of, colours))
        out.append(f"<h3>{_t(_STATE_HEADINGS[kind], lang)}</h3>{chart}")
    return "".join(out)


def _colour_of(colours: Mapping[str, str], value: str, _index: int) -> str:
    return colours.get(value, _GREY)


def _tier_colour(tier: str, index: int) -> str:
    return "#d5dbe1" if tier == "lapsed" else _TIER_COLOURS[index % len(_TIER_COLOURS)]


def _migration_matrix(report: PortfolioReport, lang: str) -> str:
    """Previous tier (rows) × current tier (columns), cells shaded by their share of the row."""
    migration = report.tables["tier_migration"]
    m = migration[migration["segment"] == ALL_SEGMENTS]
    order = list(dict.fromkeys(m["previous_tier"]))
    if not order:
        return ""
    grid = m.pivot_table(index="previous_tier", columns="current_tier", values="customers", aggfunc="sum")
    corner = f"{_t('report.previous_period', lang)} ↓ / {_t('report.this_period', lang)} →"
    cells = ["<table><thead><tr>", f"<th>{corner}</th>"]
    cells += [f"<th>{escape(_label('tier', c, lang))}</th>" for c in order]
    cells.append(f"<th>{_t('report.total', lang)}</th></tr></thead><tbody>")
    for i, p in enumerate(order):
        row = grid.loc[p, order].to_numpy(dtype=np.float64)
        total = float(row.sum())
        cells.append(f"<tr><td>{escape(_label('tier', p, lang))}</td>")
        for j, count in enumerate(row):
            share = count / total if total > 0 else 0.0
            alpha = 0.08 + 0.75 * share if count > 0 else 0.0
            # order is highest tier first: a column left of the diagonal is a move up
            hue = "47,111,181" if j == i else ("46,158,91" if j < i else "214,69,69")
            bold = ";font-weight:700" if j == i else ""
            cells.append(f'<td style="background: rgba({hue},{alpha:.2f}){bold}">{count:,.0f}</td>')
        cells.append(f"<td>{total:,.0f}</td></tr>")
    cells.append("</tbody></table>")
    return "".join(cells)


def _tiers_charts(report: PortfolioReport, lang: str) -> str:
    tiers = report.tables["tiers"]
    out = [f"<h2>{_t('report.by_tier', lang)}</h2>"]
    if tiers.empty:
        return "".join([*out, _missing(report, "tiers", lang)])
    measure = _basis(str(report.facts.get("tier_measure", "")), lang)
    out.append(f'<p class="note">{_t("report.tier_note", lang, measure=measure)}</p>')
    chart = _distribution_chart(report, tiers, "tier", lang, _tier_colour, "tier", "customers_current")
    out.append(f"<h3>{_t('report.tier_distribution', lang)}</h3>{chart}")
    s = _row(report.tables["summary"])
    matrix = _migration_matrix(report, lang)
    if s is not None and matrix:
        moves = _t(
            "report.tier_moves_line",
            lang,
            up=_int(s["tier_upgraded"]),
            down=_int(s["tier_downgraded"]),
            same=_int(s["tier_unchanged"]),
        )
        out.append(f'<h3>{_t("report.tier_migration", lang)}</h3><p class="note">{moves}</p>{matrix}')
        out.append(f'<p class="note">{_t("report.tier_migration_note", lang)}</p>')
    return "".join(out)


def _band_name(lower: float, upper: float, lang: str) -> str:
    if lower == -math.inf:
        return "≤ 0"
    if lower <= 0:
        return f"< {_amount(upper, lang)}"
    return f"{_amount(lower, lang)}–{_amount(upper, lang)}"


def _clv_charts(report: PortfolioReport, lang: str) -> str:
    out = [f"<h2>{_t('report.clv_distribution', lang)}</h2>"]
    if report.tables["clv"].empty:
        return "".join([*out, _missing(report, "clv", lang)])
    hist = report.tables["clv_distribution"]
    part = hist[hist["segment"] == ALL_SEGMENTS]
    bars = [(_band_name(r["lower"], r["upper"], lang), float(r["customers"])) for _, r in part.iterrows()]
    chart = _column_chart(bars, "#5b4b8a", translate("report.customers", lang), width=640)
    out.append(f"<h3>{_t('report.clv_band_chart', lang)}</h3>{chart}")
    return "".join(out)


# -- tables -------------------------------------------------------------------------------------


def _segment_table(report: PortfolioReport, lang: str) -> str:
    summary, concentration, clv = (
        report.tables["summary"],
        report.tables["concentration"],
        report.tables["clv"],
    )
    basis = _main_basis(report)
    head = [
        _t("report.segment", lang),
        _t("report.customers", lang),
        _t("report.active_customers", lang),
        _t("report.churn_rate", lang),
        _t("report.retention_rate", lang),
        _t("report.repeat_purchase_rate", lang),
        _t("report.satisfaction_rate", lang),
        _t("report.nps_short", lang),
    ]
    if basis is not None:
        head += [_t("report.top_pct_of", lang, pct="10%", basis=_basis(basis, lang)), _t("report.gini", lang)]
    if len(clv):
        head.append(_t("report.clv_mean", lang))
    rows, segments = [], []
    for segment in report.segments:
        s = _row(summary, segment)
        if s is None:
            continue
        cells = [
            escape(_segment(segment, lang)),
            _int(s["customers"]),
            _int(s["active_customers"]),
            _pct(s["churn_rate"]),
            _pct(s["retention_rate"]),
            _pct(s["repeat_rate"]),
            _pct(s["satisfaction_rate"]),
            _signed(s["nps"]),
        ]
        if basis is not None:
            c = concentration[(concentration["segment"] == segment) & (concentration["basis"] == basis)]
            cells += [_pct(c.iloc[0]["top_10pct_share"]), _dec(c.iloc[0]["gini"])] if len(c) else ["—", "—"]
        if len(clv):
            value = _row(clv, segment)
            cells.append(escape(_amount(value["mean"], lang)) if value is not None else "—")
        rows.append(cells)
        segments.append(segment)
    return f"<h3>{_t('report.segment_overview', lang)}</h3>{_table(head, rows, _classes(segments))}"


def _concentration_table(report: PortfolioReport, lang: str) -> str:
    table = report.tables["concentration"]
    if table.empty:
        return ""
    shares = _top_share_columns(table)
    crs = [c for c in table.columns if c.startswith("cr")]
    head = [
        _t("report.segment", lang),
        _t("report.basis", lang),
        _t("report.customers", lang),
        *(_t("report.top_pct", lang, pct=pct) for _, pct in shares),
        *(_t("report.cr_k", lang, k=c[2:]) for c in crs),
        _t("report.hhi", lang),
        _t("report.equivalent_customers", lang),
        _t("report.gini", lang),
    ]
    rows = [
        [
            escape(_segment(r["segment"], lang)),
            escape(_basis(r["basis"], lang)),
            _int(r["customers"]),
            *(_pct(r[c]) for c, _ in shares),
            *(_pct(r[c]) for c in crs),
            _int(r["hhi_points"]),
            _dec(r["equivalent_customers"], 1),
            _dec(r["gini"]),
        ]
        for _, r in table.iterrows()
    ]
    return f"<h3>{_t('report.concentration', lang)}</h3>{_table(head, rows, _classes(table['segment']))}"


def _retention_table(report: PortfolioReport, lang: str) -> str:
    summary = report.tables["summary"]
    head = [
        _t("report.segment", lang),
        _t("report.previous_customers", lang),
        _t("report.churned_customers", lang),
        _t("report.churn_rate", lang),
        _t("report.retention_rate", lang),
        _t("report.active_customers", lang),
        _t("report.new_or_returning", lang),
        _t("report.repeat_customers", lang),
        _t("report.repeat_purchase_rate", lang),
    ]
    rows = [
        [
            escape(_segment(r["segment"], lang)),
            _int(r["previous_customers"]),
            _int(r["churned_customers"]),
            _pct(r["churn_rate"]),
            _pct(r["retention_rate"]),
            _int(r["active_customers"]),
            _int(r["new_or_returning_customers"]),
            _int(r["repeat_customers"]),
            _pct(r["repeat_rate"]),
        ]
        for _, r in summary.iterrows()
    ]
    return (
        f"<h3>{_t('report.churn_and_retention', lang)}</h3>{_table(head, rows, _classes(summary['segment']))}"
    )


def _satisfaction_table(report: PortfolioReport, lang: str) -> str:
    if "satisfaction" in report.notes:
        return ""
    summary = report.tables["summary"]
    head = [
        _t("report.segment", lang),
        _t("report.surveyed", lang),
        _t("report.satisfied", lang),
        _t("report.satisfaction_rate", lang),
        _t("report.promoters", lang),
        _t("report.passives", lang),
        _t("report.detractors", lang),
        _t("report.nps_short", lang),
    ]
    rows = [
        [
            escape(_segment(r["segment"], lang)),
            _int(r["surveyed_customers"]),
            _int(r["satisfied_customers"]),
            _pct(r["satisfaction_rate"]),
            _int(r["promoters"]),
            _int(r["passives"]),
            _int(r["detractors"]),
            _signed(r["nps"]),
        ]
        for _, r in summary.iterrows()
    ]
    table = _table(head, rows, _classes(summary["segment"]))
    return f"<h3>{_t('report.satisfaction_and_nps', lang)}</h3>{table}"


def _pivot_table(
    report: PortfolioReport,
    frame: pd.DataFrame,
    kind: str,
    heading: str,
    lang: str,
    cell: Callable[[pd.Series], str],
    value_column: str = "value",
) -> str:
    """Values (rows) × segments (columns) of a long table."""
    segments = [s for s in report.segments if (frame["segment"] == s).any()]
    head = [escape(translate(heading, lang)), *(escape(_segment(s, lang)) for s in segments)]
    rows = []
    for value in dict.fromkeys(frame[value_column]):
        cells = [escape(_label(kind, value, lang))]
        for s in segments:
            r = frame[(frame["segment"] == s) & (frame[value_column] == value)]
            cells.append(cell(r.iloc[0]) if len(r) else "—")
        rows.append(cells)
    return _table(head, rows)


def _tier_table(report: PortfolioReport, lang: str) -> str:
    tiers = report.tables["tiers"]
    if tiers.empty:
        return ""
    table = _pivot_table(
        report,
        tiers,
        "tier",
        "report.tier",
        lang,
        lambda r: f"{_int(r['customers_previous'])} → {_int(r['customers_current'])}",
        value_column="tier",
    )
    note = _t("report.tier_table_note", lang)
    return f'<h3>{_t("report.by_tier", lang)}</h3><p class="note">{note}</p>{table}'


def _clv_table(report: PortfolioReport, lang: str) -> str:
    stats = report.tables["clv"]
    if stats.empty:
        return ""
    head = [
        _t("report.segment", lang),
        _t("report.customers", lang),
        _t("report.clv_total", lang),
        _t("report.clv_mean", lang),
        _t("report.p10", lang),
        _t("report.clv_median", lang),
        _t("report.p90", lang),
        _t("report.clv_top20", lang),
    ]
    rows = [
        [
            escape(_segment(r["segment"], lang)),
            _int(r["customers"]),
            *(escape(_amount(r[c], lang)) for c in ("total", "mean", "p10", "median", "p90")),
            _pct(r["top_20pct_share"]),
        ]
        for _, r in stats.iterrows()
    ]
    return f"<h3>{_t('report.clv_distribution', lang)}</h3>{_table(head, rows, _classes(stats['segment']))}"


def _state_tables(report: PortfolioReport, lang: str) -> str:
    states = report.tables["states"]
    out = []
    for kind, msgid in _STATE_HEADINGS.items():
        part = states[states["kind"] == kind]
        if part.empty:
            continue
        table = _pivot_table(
            report, part, kind, msgid, lang, lambda r: f"{_int(r['customers'])} ({_pct(r['share'], 0)})"
        )
        out.append(f"<h3>{_t(msgid, lang)}</h3>{table}")
    return "".join(out)


def _definitions(report: PortfolioReport, lang: str) -> str:
    measure = _basis(str(report.facts.get("tier_measure", "revenue")), lang)
    items = [
        _t(
            "report.def_period",
            lang,
            start=report.period_start,
            end=report.as_of,
            previous=report.previous_start,
        ),
        _t("report.def_churn", lang),
        _t("report.def_repeat", lang),
        _t("report.def_satisfaction", lang, threshold=f"{report.config.satisfied_score:g}"),
        _t("report.def_nps", lang),
        _t("report.def_concentration", lang),
        _t("report.def_states", lang),
        _t("report.def_tiers", lang, measure=measure),
        _t("report.def_clv", lang),
    ]
    return (
        f'<h2>{_t("report.definitions", lang)}</h2><ul class="defs">'
        + "".join(f"<li>{item}</li>" for item in items)
        + f'</ul><p class="note">{_t("report.footer", lang)}</p>'
    )


def render_portfolio_html(report: PortfolioReport, lang: str = "en") -> str:
    """The whole report as one HTML page in ``lang`` (en or zh); nothing outside the page is loaded."""
    code = normalise_language(lang)
    title = translate("report.portfolio_title", code)
    segments = ", ".join(_segment(s, code) for s in report.segments if s != ALL_SEGMENTS)
    meta = _t(
        "report.meta_line",
        code,
        as_of=report.as_of,
        start=report.period_start,
        previous=report.previous_start,
        previous_end=report.period_start - timedelta(days=1),
    )
    if segments:
        meta += f" · {_t('report.segment', code)}: {escape(segments)}"
    parts = [
        f'<h1>{escape(title)}</h1><p class="meta">{meta}</p>',
        _headline(report, code),
        _concentration_charts(report, code),
        _satisfaction_charts(report, code),
        _states_charts(report, code),
        _tiers_charts(report, code),
        _clv_charts(report, code),
        f"<h2>{_t('report.detail_tables', code)}</h2>",
        _segment_table(report, code),
        _concentration_table(report, code),
        _retention_table(report, code),
        _satisfaction_table(report, code),
        _tier_table(report, code),
        _clv_table(report, code),
        _state_tables(report, code),
        _definitions(report, code),
    ]
    return _PAGE.substitute(
        lang="zh-Hans" if code == "zh" else code, title=escape(title), font=_FONT, body="".join(parts)
    )

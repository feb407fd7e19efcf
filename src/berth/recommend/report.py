"""The campaign plan as one self-contained HTML page for the retention manager (en / zh)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from berth.i18n import N_, translate
from berth.recommend.campaign import Campaign

HEADINGS: tuple[str, ...] = (
    N_("plan.title"),
    N_("plan.summary"),
    N_("plan.customers_scored"),
    N_("plan.customers_planned"),
    N_("plan.treatment"),
    N_("plan.control"),
    N_("plan.budget"),
    N_("plan.cost"),
    N_("plan.expected_net_value"),
    N_("plan.solver"),
    N_("plan.by_action"),
    N_("plan.action"),
    N_("plan.customers"),
    N_("plan.top_customers"),
    N_("plan.customer"),
    N_("plan.churn_probability"),
    N_("plan.value_at_risk"),
    N_("plan.why"),
    N_("plan.group"),
    N_("plan.assumptions"),
    N_("plan.solver.milp"),
    N_("plan.solver.greedy"),
    N_("plan.top_note"),
    N_("action.service_recovery"),
    N_("action.complaint_escalation"),
    N_("action.account_manager_visit"),
    N_("action.follow_up_call"),
    N_("action.rate_review"),
    N_("action.loyalty_upgrade"),
    N_("action.value_added_services"),
    N_("action.structural_integration"),
    N_("action.reactivation_campaign"),
    N_("action.referral_reward"),
)

_STYLE = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
margin:24px;color:#1f2933;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px;margin-top:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e4e7eb;padding:5px 8px;text-align:left}
td.n,th.n{text-align:right}.note{color:#52606d;font-size:12px}
"""


def _t(msgid: str, lang: str) -> str:
    return html.escape(translate(msgid, lang))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    cells = "".join(f'<th class="{"n" if i in numeric else ""}">{h}</th>' for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if i in numeric else ""}">{html.escape(v)}</td>' for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def action_label(action: str, lang: str) -> str:
    """A shipped action's display name; a custom action's own name."""
    try:
        return translate(f"action.{action}", lang)
    except ValueError:
        return action


def render_plan(campaign: Campaign, lang: str, *, top: int = 25) -> str:
    """The plan summary page. Cost and expected net value count the treatment group only: the
    control customers get no action."""
    plan, result = campaign.plan, campaign.result
    treatment = plan[plan["group"] == "treatment"] if len(plan) else plan
    control = len(plan) - len(treatment)
    solver = translate(f"plan.solver.{result.method}", lang).format(gap=f"{result.gap:.2%}")
    cards = [
        ("plan.customers_scored", f"{len(campaign.customers):,}"),
        ("plan.customers_planned", f"{len(plan):,}"),
        ("plan.treatment", f"{len(treatment):,}"),
        ("plan.control", f"{control:,} ({campaign.control_share:.0%})"),
        ("plan.budget", f"{campaign.budget:,.0f}"),
        ("plan.cost", f"{treatment['cost'].sum():,.0f}" if len(treatment) else "0"),
        (
            "plan.expected_net_value",
            f"{treatment['expected_net_value'].sum():,.0f}" if len(treatment) else "0",
        ),
        ("plan.solver", solver),
    ]
    card_html = "".join(f'<div class="card">{_t(k, lang)}<b>{html.escape(v)}</b></div>' for k, v in cards)
    action_rows: list[list[str]] = []
    top_rows: list[list[str]] = []
    if len(plan):
        by_action = (
            treatment.groupby("action")
            .agg(customers=("customer_id", "size"), cost=("cost", "sum"), net=("expected_net_value", "sum"))
            .sort_values("net", ascending=False)
        )
        action_rows = [
            [action_label(str(name), lang), f"{count:,}", f"{cost:,.0f}", f"{net:,.0f}"]
            for name, count, cost, net in zip(
                by_action.index,
                by_action["customers"].astype(int).tolist(),
                by_action["cost"].tolist(),
                by_action["net"].tolist(),
                strict=True,
            )
        ]
        top_rows = [
            [
                str(r.customer_id),
                action_label(str(r.action), lang),
                f"{r.churn_probability:.0%}",
                f"{r.value_at_risk:,.0f}",
                f"{r.expected_net_value:,.0f}",
                str(r.lead_driver_sentence),
                translate(f"plan.{r.group}", lang),
            ]
            for r in plan.head(top).itertuples()
        ]
    top_note = translate("plan.top_note", lang).format(shown=min(top, len(plan)), planned=len(plan))
    sections = [
        f"<h1>{_t('plan.title', lang)} · {html.escape(campaign.campaign_id)} · "
        f"{campaign.as_of.isoformat()}</h1>",
        f'<h2>{_t("plan.summary", lang)}</h2><div class="cards">{card_html}</div>',
        f"<h2>{_t('plan.by_action', lang)}</h2>"
        + _table(
            [_t(k, lang) for k in ("plan.action", "plan.customers", "plan.cost", "plan.expected_net_value")],
            action_rows,
            numeric=(1, 2, 3),
        ),
        f"<h2>{_t('plan.top_customers', lang)}</h2>"
        + f'<p class="note">{html.escape(top_note)}</p>'
        + _table(
            [
                _t(k, lang)
                for k in (
                    "plan.customer",
                    "plan.action",
                    "plan.churn_probability",
                    "plan.value_at_risk",
                    "plan.expected_net_value",
                    "plan.why",
                    "plan.group",
                )
            ],
            top_rows,
            numeric=(2, 3, 4),
        ),
        f'<p class="note">{_t("plan.assumptions", lang)}</p>',
    ]
    lang_attr = "zh-Hans" if lang == "zh" else "en"
    return (
        f'<!doctype html><html lang="{lang_attr}"><head><meta charset="utf-8">'
        f"<title>{_t('plan.title', lang)}</title><style>{_STYLE}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )


def plan_table(campaign: Campaign) -> pd.DataFrame:
    """The plan as written to CSV (one row per planned customer)."""
    columns = [
        "campaign_id",
        "as_of",
        "customer_id",
        "action",
        "group",
        "risk_band",
        "churn_probability",
        "value_at_risk",
        "uplift",
        "cost",
        "expected_saved_value",
        "expected_net_value",
        "drivers",
        "lead_driver_sentence",
    ]
    return campaign.plan.reindex(columns=columns)

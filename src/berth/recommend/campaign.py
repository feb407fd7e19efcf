"""From a scored book to recommendations and a campaign plan (what ``berth plan`` runs).

Scores, drivers, value and taxonomy come from the bundle's scorer, computed by the same code the
API serves with; this module only joins them to the playbook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from berth.bundle import BundleScorer, risk_band
from berth.features import HistoryArrays, date_to_day
from berth.i18n import translate
from berth.recommend.explain import explain_driver
from berth.recommend.planner import PlanResult, apply_cooldowns, assign_control, plan_campaign
from berth.recommend.playbook import Playbook
from berth.recommend.ranking import candidate_actions, recommend


@dataclass(frozen=True)
class Campaign:
    """Everything a campaign run produced."""

    customers: pd.DataFrame  # one row per scored customer: scores, value at risk, drivers, reasons
    recommendations: pd.DataFrame  # top actions per customer (or why none)
    plan: pd.DataFrame  # chosen (customer, action) pairs with treatment / control
    result: PlanResult
    campaign_id: str
    as_of: date
    budget: float
    control_share: float


def customer_frame(
    scorer: BundleScorer, history: HistoryArrays, as_of: date, playbook: Playbook, lang: str
) -> pd.DataFrame:
    """Per eligible customer: churn probability, risk band, value at risk, the driver groups that
    raise its risk (strongest first) with a sentence for the leading one, and its labels."""
    scored = scorer.score_history(history, as_of, with_drivers=True)
    keep = np.flatnonzero(scored.eligible)
    drivers = (
        scorer.drivers(scored.contributions[keep]) if scored.contributions is not None else [()] * len(keep)
    )
    value = scorer.value_columns(scored)
    labels = scorer.taxonomy_columns(scored)
    tiers = scorer.tier_columns(scored)
    names = scorer.bundle.spec.feature_names
    features = (
        scored.features[keep] if scored.features is not None else np.full((len(keep), len(names)), np.nan)
    )
    basis = value["clv"] if playbook.value_basis == "clv" else value["expected_revenue"]
    segments = history.profile_categories.get("segment")
    codes = pd.Index(history.customer_ids).get_indexer(scored.customer_ids[keep])
    rising = [tuple(d.name for d in row if d.contribution > 0) for row in drivers]
    horizon = scorer.bundle.spec.horizon_days
    sentences = [
        explain_driver(
            row[0], dict(zip(names, features[i].tolist(), strict=True)), lang, horizon_days=horizon
        )
        if row
        else translate("driver.none", lang)
        for i, row in enumerate(rising)
    ]
    probability = scored.churn_probability[keep]
    return pd.DataFrame(
        {
            "customer_id": scored.customer_ids[keep].astype(str),
            "churn_probability": probability,
            "risk_band": [risk_band(float(p), scorer.bundle.risk_bands) for p in probability],
            "value_at_risk": np.asarray(basis, dtype=np.float64)[keep],
            "drivers": rising,
            "lead_driver_sentence": sentences,
            "activity_state": [labels["activity_state"][i] for i in keep],
            "abc_class": [labels["abc_class"][i] for i in keep],
            "relationship_level": [labels["relationship_level"][i] for i in keep],
            "loyalty_form": [labels["loyalty_form"][i] for i in keep],
            "tier_current": [tiers["tier_current"][i] for i in keep],
            "segment": [segments[c] if segments is not None else None for c in codes],
        }
    )


def run_campaign(
    scorer: BundleScorer,
    history: HistoryArrays,
    as_of: date,
    playbook: Playbook,
    *,
    budget: float,
    campaign_id: str,
    capacity: Mapping[str, int] | None = None,
    control_share: float = 0.1,
    past_actions: pd.DataFrame | None = None,
    uplift_override: Mapping[str, float] | None = None,
    time_limit_s: float = 60.0,
    lang: str = "en",
) -> Campaign:
    """Recommendations for every eligible customer and the best plan under the budget."""
    if date_to_day(as_of) < int(history.shipments.day.min()):
        raise ValueError(f"as-of date {as_of} precedes the first shipment")
    customers = customer_frame(scorer, history, as_of, playbook, lang)
    candidates = candidate_actions(customers, playbook, uplift_override=uplift_override)
    cooldowns = {name: action.cooldown_days for name, action in playbook.actions.items()}
    candidates = apply_cooldowns(candidates, past_actions, cooldowns, pd.Timestamp(as_of))
    recommendations = recommend(
        candidates, customers["customer_id"].tolist(), playbook.max_actions_per_customer
    )
    limits = {
        name: int(action.capacity_per_period)
        for name, action in playbook.actions.items()
        if action.capacity_per_period is not None
    }
    limits.update(capacity or {})
    result = plan_campaign(candidates, budget, limits, time_limit_s=time_limit_s)
    plan = result.chosen.merge(
        customers[["customer_id", "risk_band", "lead_driver_sentence", "drivers"]],
        on="customer_id",
        how="left",
    )
    plan["drivers"] = plan["drivers"].map(lambda d: ", ".join(d))
    plan.insert(0, "campaign_id", campaign_id)
    plan.insert(1, "as_of", pd.Timestamp(as_of).date().isoformat())
    plan["group"] = assign_control(plan, campaign_id, control_share) if len(plan) else []
    plan = plan.sort_values("expected_net_value", ascending=False, kind="stable").reset_index(drop=True)
    return Campaign(customers, recommendations, plan, result, campaign_id, as_of, budget, control_share)

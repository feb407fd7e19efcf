"""Recommendations beside served scores: the playbook applied to what a score already carries.

The API (``POST /v1/scores``, ``GET /v1/customers/{id}/recommendations``) calls this with the
scores it is about to answer; ``berth plan`` reaches the same triggers and arithmetic through
:mod:`berth.recommend.campaign`. Value at risk is the playbook's ``value_basis`` of the score (CLV
or expected revenue), the drivers are the score's drivers that raise the risk, strongest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from berth.recommend.playbook import Playbook
from berth.recommend.ranking import Recommendation, recommend_customers
from berth.scoring import CustomerScore

NOT_ELIGIBLE = "not scored by the churn model (no shipment within its lookback): no recommendation"


def score_columns(
    scores: Sequence[CustomerScore], playbook: Playbook, segments: Mapping[str, str | None] | None = None
) -> dict[str, object]:
    """The ranking's customer columns built from scores (``segments``: the profile's, by customer id)."""
    basis = playbook.value_basis
    value = [getattr(s, basis) for s in scores]
    return {
        "churn_probability": np.fromiter((s.churn_probability for s in scores), np.float64, len(scores)),
        "value_at_risk": np.array([np.nan if v is None else v for v in value], dtype=np.float64),
        "drivers": [tuple(d.name for d in s.drivers if d.contribution > 0) for s in scores],
        "activity_state": [s.activity_state for s in scores],
        "abc_class": [s.abc_class for s in scores],
        "relationship_level": [s.relationship_level for s in scores],
        "loyalty_form": [s.loyalty_form for s in scores],
        "tier_current": [s.tier_current for s in scores],
        "segment": [(segments or {}).get(s.customer_id) for s in scores],
    }


def recommend_for_scores(
    scores: Sequence[CustomerScore], playbook: Playbook, segments: Mapping[str, str | None] | None = None
) -> list[tuple[tuple[Recommendation, ...], str]]:
    """Per score: the best paying actions (at most the playbook's ``max_actions_per_customer``) and
    ``"pays"``, or none and the reason."""
    if not scores:
        return []
    # as berth plan: only customers the model scored (a lapsed customer's BG/NBD fallback is not
    # a churn score the playbook's priors were set for)
    eligible = [s for s in scores if s.eligible]
    ranked = iter(
        recommend_customers(score_columns(eligible, playbook, segments), playbook) if eligible else []
    )
    return [next(ranked) if s.eligible else ((), NOT_ELIGIBLE) for s in scores]

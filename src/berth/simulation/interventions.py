"""Retention actions applied to chosen customers from a chosen day, with known true effects.

An action cuts a customer's daily hazards towards drifting and loss (and may raise recovery from
drifting) for ``days`` days from its start. How much depends on the customer: ``responds_to`` names
the latent trait the action works on (price-sensitive customers answer a rate review, customers with
poor service a service recovery), and ``heterogeneity`` how much of the effect follows that trait::

    effect_i = hazard_reduction × ((1 − heterogeneity) + heterogeneity × trait_i / mean(trait))

capped at 0.95. The schedule is fixed before the process runs (static attributes and dates), so
the oracle churn probability stays exact: comparing the oracle with and without the actions gives
each plan's true effect, with no sampling noise.

The default true effects differ from the playbook's priors on purpose: some actions work better
than assumed, some worse, as they would in a real port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from berth._config_base import StrictModel
from berth.simulation.population import Population

NEVER = np.iinfo(np.int64).max


class ActionEffect(StrictModel):
    """The true effect of one action in the simulator."""

    hazard_reduction: float = Field(
        ge=0.0, le=0.95, description="Relative cut of the drift and loss hazards."
    )
    recovery_boost: float = Field(
        default=0.0, ge=0.0, le=5.0, description="Relative rise of drifting → engaged."
    )
    days: int = Field(default=120, ge=1, description="How long the effect lasts.")
    responds_to: Literal["none", "price", "service", "complaints", "attitude"] = "none"
    heterogeneity: float = Field(default=0.5, ge=0.0, le=1.0)


DEFAULT_EFFECTS: Mapping[str, ActionEffect] = {
    "service_recovery": ActionEffect(
        hazard_reduction=0.6, recovery_boost=1.0, responds_to="service", heterogeneity=0.8
    ),
    "complaint_escalation": ActionEffect(hazard_reduction=0.4, responds_to="complaints", heterogeneity=0.8),
    "account_manager_visit": ActionEffect(hazard_reduction=0.5, recovery_boost=1.5, responds_to="attitude"),
    "follow_up_call": ActionEffect(hazard_reduction=0.15, recovery_boost=0.3, days=60),
    "rate_review": ActionEffect(hazard_reduction=0.7, responds_to="price", heterogeneity=0.9, days=180),
    "loyalty_upgrade": ActionEffect(hazard_reduction=0.3, days=180),
    "value_added_services": ActionEffect(hazard_reduction=0.2, days=180),
    "structural_integration": ActionEffect(hazard_reduction=0.8, days=365),
    "reactivation_campaign": ActionEffect(hazard_reduction=0.1, recovery_boost=3.0, days=90),
    "referral_reward": ActionEffect(hazard_reduction=0.05, days=90),
}


@dataclass(frozen=True)
class Treatments:
    """Per customer: the day range of its action's effect and the factors it applies."""

    start: np.ndarray  # int64 day index; NEVER without an action
    end: np.ndarray  # int64, exclusive
    hazard_factor: np.ndarray  # multiplies the drift and loss hazards
    recovery_factor: np.ndarray  # multiplies drifting → engaged

    def subset(self, lo: int, hi: int) -> Treatments:
        """Customers ``lo`` to ``hi − 1``."""
        return Treatments(
            self.start[lo:hi], self.end[lo:hi], self.hazard_factor[lo:hi], self.recovery_factor[lo:hi]
        )


def _trait(pop: Population, name: str) -> np.ndarray:
    if name == "price":
        raw = np.asarray(pop.sensitivity, dtype=np.float64)
    elif name == "service":
        raw = np.exp(-np.asarray(pop.quality, dtype=np.float64))
    elif name == "complaints":
        raw = np.exp(np.asarray(pop.complaint_propensity, dtype=np.float64))
    elif name == "attitude":
        raw = np.exp(-np.asarray(pop.attitude, dtype=np.float64))
    else:
        return np.ones(pop.n)
    mean = float(raw.mean()) if raw.size else 1.0
    return raw / mean if mean > 0 else np.ones(pop.n)


def build_treatments(
    pop: Population,
    start: date,
    customer_ids: pd.Index,
    assignments: pd.DataFrame,
    effects: Mapping[str, ActionEffect] | None = None,
) -> Treatments:
    """Treatments from ``assignments`` (``customer_id, action, start_date``), one action per customer.

    ``customer_ids``: the simulated ids by position (``C000000`` …). Unknown customers or actions
    are errors, so a plan for another book is never applied silently.
    """
    effects = dict(effects or DEFAULT_EFFECTS)
    n = pop.n
    out_start = np.full(n, NEVER, dtype=np.int64)
    out_end = np.full(n, NEVER, dtype=np.int64)
    hazard = np.ones(n)
    recovery = np.ones(n)
    if assignments.empty:
        return Treatments(out_start, out_end, hazard, recovery)
    if assignments["customer_id"].duplicated().any():
        raise ValueError("one action per customer: the assignments repeat a customer")
    unknown = sorted(set(assignments["action"]) - set(effects))
    if unknown:
        raise ValueError(
            f"no simulated effect for action(s) {', '.join(unknown)}; known: {', '.join(effects)}"
        )
    position = customer_ids.get_indexer(pd.Index(assignments["customer_id"].astype(str)))
    if (position < 0).any():
        missing = assignments["customer_id"][position < 0].head(3).tolist()
        raise ValueError(f"customers not in the simulated book: {missing}")
    days = (pd.to_datetime(assignments["start_date"]) - pd.Timestamp(start)).dt.days.to_numpy(dtype=np.int64)
    traits = {name: _trait(pop, name) for name in ("none", "price", "service", "complaints", "attitude")}
    for action, effect in effects.items():
        rows = np.flatnonzero((assignments["action"] == action).to_numpy())
        if not rows.size:
            continue
        who = position[rows]
        scale = (1.0 - effect.heterogeneity) + effect.heterogeneity * traits[effect.responds_to][who]
        cut = np.minimum(effect.hazard_reduction * scale, 0.95)
        out_start[who] = days[rows]
        out_end[who] = days[rows] + effect.days
        hazard[who] = 1.0 - cut
        recovery[who] = 1.0 + effect.recovery_boost * scale
    return Treatments(out_start, out_end, hazard, recovery)

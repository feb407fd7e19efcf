"""Which actions fit which customer, and what each is expected to be worth.

Expected net value of giving ``action`` to a customer::

    churn_probability × value_at_risk × uplift − cost

``value_at_risk`` is the customer's value (the playbook's ``value_basis``: discounted CLV, or
expected revenue over the value horizon) and ``uplift`` the relative churn reduction the
playbook assumes (by the customer's leading churn driver where the playbook says so; measured
uplift replaces the prior once campaigns with control groups have run). A pair is a candidate
only when the action's trigger holds; per customer the best candidates are listed, and when
none pays the reason says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from berth.recommend.playbook import Action, Playbook

CUSTOMER_COLUMNS = (
    "customer_id",
    "churn_probability",
    "value_at_risk",
    "drivers",  # tuple of driver groups that raise the risk, strongest first
    "activity_state",
    "abc_class",
    "relationship_level",
    "loyalty_form",
    "tier_current",
    "segment",
)


def triggered(action: Action, customers: pd.DataFrame) -> np.ndarray:
    """Per customer, whether every condition of the action's trigger holds."""
    trigger = action.trigger
    probability = customers["churn_probability"].to_numpy(dtype=np.float64)
    ok = (probability >= trigger.min_churn_probability) & (probability <= trigger.max_churn_probability)
    value = customers["value_at_risk"].to_numpy(dtype=np.float64)
    ok &= np.isfinite(value) & (value >= trigger.min_value)
    for column, allowed in (
        ("activity_state", trigger.activity_states),
        ("abc_class", trigger.abc_classes),
        ("relationship_level", trigger.relationship_levels),
        ("loyalty_form", trigger.loyalty_forms),
        ("tier_current", trigger.tiers),
        ("segment", trigger.segments),
    ):
        if allowed:
            ok &= customers[column].astype("string").isin(allowed).fillna(False).to_numpy(dtype=bool)
    if trigger.drivers:
        wanted = set(trigger.drivers)
        ok &= np.fromiter(
            (bool(wanted & set(d)) for d in customers["drivers"]), dtype=bool, count=len(customers)
        )
    return np.asarray(ok, dtype=bool)


def candidate_actions(
    customers: pd.DataFrame, playbook: Playbook, *, uplift_override: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Every (customer, action) whose trigger holds, with uplift, cost and expected net value.

    ``uplift_override``: measured uplift by action, replacing the playbook's prior.
    """
    lead = [d[0] if len(d) else None for d in customers["drivers"]]
    frames = []
    for name, action in playbook.actions.items():
        mask = triggered(action, customers)
        if not mask.any():
            continue
        rows = customers.loc[mask, ["customer_id", "churn_probability", "value_at_risk"]].copy()
        if uplift_override and name in uplift_override:
            uplift = np.full(len(rows), float(uplift_override[name]))
        else:
            uplift = np.array([playbook.uplift(name, lead[i]) for i in np.flatnonzero(mask)])
        rows["action"] = name
        rows["uplift"] = uplift
        rows["cost"] = float(action.cost)
        rows["expected_saved_value"] = rows["churn_probability"] * rows["value_at_risk"] * uplift
        rows["expected_net_value"] = rows["expected_saved_value"] - action.cost
        frames.append(rows)
    columns = [
        "customer_id",
        "action",
        "churn_probability",
        "value_at_risk",
        "uplift",
        "cost",
        "expected_saved_value",
        "expected_net_value",
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def recommend(candidates: pd.DataFrame, customer_ids: Sequence[str], top: int) -> pd.DataFrame:
    """Per customer, the ``top`` candidates that pay (net value > 0), best first; a customer with
    none gets one row with ``action`` empty and the reason (nothing triggered, or nothing pays)."""
    paying = candidates[candidates["expected_net_value"] > 0].sort_values(
        ["customer_id", "expected_net_value"], ascending=[True, False], kind="stable"
    )
    best = paying.groupby("customer_id", sort=False).head(top).copy()
    best["rank"] = best.groupby("customer_id", sort=False).cumcount() + 1
    best["reason"] = "pays"
    covered = set(best["customer_id"])
    triggered_ids = set(candidates["customer_id"])
    rest = [c for c in customer_ids if c not in covered]
    if rest:
        top_loss = (
            candidates.sort_values("expected_net_value", ascending=False, kind="stable")
            .drop_duplicates("customer_id")
            .set_index("customer_id")
        )
        none = pd.DataFrame({"customer_id": rest})
        none["action"] = ""
        none["rank"] = 0
        none["reason"] = [
            _no_pay(str(top_loss.at[c, "action"]), top_loss.at[c, "expected_net_value"])
            if c in triggered_ids
            else "no action's trigger holds"
            for c in rest
        ]
        best = pd.concat([best, none], ignore_index=True)
    return best.reset_index(drop=True)


def _no_pay(action: str, net_value: object) -> str:
    return f"no action pays: best is {action} at {float(net_value):,.0f}"  # type: ignore[arg-type]

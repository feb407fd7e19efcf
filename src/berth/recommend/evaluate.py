"""What the actions of a campaign achieved: treatment against control, per action.

For every action of a plan (``berth plan``'s CSV), the churn of its treatment customers is
compared with the churn of its control customers over the horizon after the plan's as-of date,
read from the shipments (churned = no shipment in ``(as_of, as_of + H]``). The comparison is by
*assignment* (intention to treat): a treatment customer counts as treated whether or not the
action was carried out, so the estimate is what planning the action achieves. Controls were
drawn in the same share within each risk band, so the two groups are comparable.

- ``uplift`` = 1 − churn(treatment) / churn(control): the relative churn reduction, the unit the
  playbook's prior uses;
- its interval: Katz's interval for the log risk ratio (the standard one for two proportions),
  turned into uplift; an action needs ``MIN_PER_ARM`` customers and ``MIN_EVENTS`` control
  churners before its estimate counts as data;
- ``posterior``: the playbook's prior and the measurement combined by precision (both taken as
  normal; the prior's standard deviation is ``prior_sd``), which ``--write-playbook`` writes back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from berth.features import HistoryArrays, date_to_day
from berth.recommend.playbook import Playbook

PLAN_COLUMNS = ("customer_id", "action", "group", "as_of")
MIN_PER_ARM = 20
MIN_EVENTS = 5


@dataclass(frozen=True)
class Estimate:
    """Relative churn reduction with a percentile interval."""

    uplift: float
    low: float
    high: float
    standard_error: float


def uplift_interval(
    churned_treatment: int,
    n_treatment: int,
    churned_control: int,
    n_control: int,
    *,
    level: float = 0.9,
) -> Estimate:
    """1 − p_t / p_c with the Katz log risk-ratio interval at ``level`` (0.5 added to every cell
    when an arm has no churner, so the interval stays finite)."""
    if n_treatment == 0 or n_control == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), float("nan"))
    a, c = float(churned_treatment), float(churned_control)
    n1, n2 = float(n_treatment), float(n_control)
    if a == 0 or c == 0:
        a, c, n1, n2 = a + 0.5, c + 0.5, n1 + 1.0, n2 + 1.0
    log_rr = math.log((a / n1) / (c / n2))
    se = math.sqrt(max(1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2, 0.0))
    z = float(NormalDist().inv_cdf(0.5 + level / 2.0))
    low_rr, high_rr = math.exp(log_rr - z * se), math.exp(log_rr + z * se)
    uplift = (
        1.0 - churned_treatment / n_treatment / (churned_control / n_control)
        if churned_control
        else float("nan")
    )
    # delta method: se(1 − RR) ≈ RR · se(log RR)
    return Estimate(uplift, 1.0 - high_rr, 1.0 - low_rr, math.exp(log_rr) * se)


def churn_outcomes(
    history: HistoryArrays, customer_ids: pd.Series, as_of: pd.Timestamp, horizon_days: int
) -> np.ndarray:
    """1 when the customer shipped nothing in (as_of, as_of + horizon]; customers the data does not
    know count as churned (they shipped nothing)."""
    day = date_to_day(as_of.date())
    codes = pd.Index(history.customer_ids.astype(str)).get_indexer(customer_ids.astype(str))
    known = codes >= 0
    ships = history.shipments
    out = np.ones(len(customer_ids), dtype=np.int8)
    k = codes[known].astype(np.int64)
    out[known] = (ships.bounds(k, day + horizon_days) == ships.bounds(k, day)).astype(np.int8)
    return out


def evaluate_actions(
    plan: pd.DataFrame,
    history: HistoryArrays,
    horizon_days: int,
    playbook: Playbook | None = None,
    *,
    prior_sd: float = 0.1,
    level: float = 0.9,
) -> pd.DataFrame:
    """One row per action: arm sizes, churn rates, measured uplift and interval, prior and posterior."""
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise ValueError(f"the plan has no column(s) {', '.join(missing)}: is it a berth plan CSV?")
    as_of = pd.Timestamp(plan["as_of"].iloc[0])
    if (pd.to_datetime(plan["as_of"]) != as_of).any():
        raise ValueError("the plan mixes as-of dates: evaluate one campaign at a time")
    last_day = int(history.shipments.day.max())
    needed = date_to_day(as_of.date()) + horizon_days
    if needed > last_day:
        raise ValueError(
            f"outcomes are not observable yet: a {horizon_days}-day horizon after {as_of.date()} needs "
            f"shipments until {(as_of + pd.Timedelta(days=horizon_days)).date()}; the data ends "
            f"{(as_of + pd.Timedelta(days=last_day - date_to_day(as_of.date()))).date()}"
        )
    churned = churn_outcomes(history, plan["customer_id"], as_of, horizon_days)
    rows = []
    for key, part in plan.assign(churned=churned).groupby("action", sort=True):
        action = str(key)
        treat, control = part[part["group"] == "treatment"], part[part["group"] == "control"]
        estimate = uplift_interval(
            int(treat["churned"].sum()), len(treat), int(control["churned"].sum()), len(control), level=level
        )
        prior = (
            playbook.actions[action].uplift if playbook is not None and action in playbook.actions else np.nan
        )
        enough = (
            len(treat) >= MIN_PER_ARM
            and len(control) >= MIN_PER_ARM
            and int(control["churned"].sum()) >= MIN_EVENTS
            and np.isfinite(estimate.uplift)
        )
        if enough and np.isfinite(prior) and estimate.standard_error > 0:
            w_prior, w_data = 1.0 / prior_sd**2, 1.0 / estimate.standard_error**2
            posterior = float(
                np.clip((w_prior * prior + w_data * estimate.uplift) / (w_prior + w_data), 0.0, 1.0)
            )
        else:
            posterior = prior
        rows.append(
            {
                "action": action,
                "treatment": len(treat),
                "control": len(control),
                "churn_treatment": float(treat["churned"].mean()) if len(treat) else np.nan,
                "churn_control": float(control["churned"].mean()) if len(control) else np.nan,
                "uplift": estimate.uplift,
                "uplift_low": estimate.low,
                "uplift_high": estimate.high,
                "interval_level": level,
                "prior_uplift": prior,
                "posterior_uplift": posterior,
                "enough_data": enough,
            }
        )
    return pd.DataFrame(rows)


def write_posterior(playbook_yaml: dict, results: pd.DataFrame) -> dict:
    """A copy of a playbook's YAML mapping with each measured action's ``uplift`` set to its
    posterior (actions without enough data keep their prior)."""
    out = {**playbook_yaml, "actions": {k: dict(v) for k, v in playbook_yaml.get("actions", {}).items()}}
    for action, enough, posterior in zip(
        results["action"].astype(str),
        results["enough_data"].astype(bool),
        results["posterior_uplift"].astype(float),
        strict=True,
    ):
        if enough and action in out["actions"] and np.isfinite(posterior):
            out["actions"][action]["uplift"] = round(float(posterior), 3)
    return out

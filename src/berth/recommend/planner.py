"""Campaign planning: the (customer, action) pairs worth most under a budget, and control groups.

Maximise the summed expected net value of the chosen pairs subject to

- the budget: summed cost ≤ budget;
- per-action capacity: at most ``capacity[action]`` customers;
- one action per customer;
- cooldowns: a pair is not a candidate when the customer had that action within its cooldown.

Solved exactly as a binary program by HiGHS through :func:`scipy.optimize.milp`, with a time
limit; the solver's optimality gap is reported. Above ``max_exact_pairs`` candidates a greedy
pass (best net value per unit of cost first) is used instead, and its gap to the LP relaxation's
bound (:func:`scipy.optimize.linprog`, HiGHS) is reported.

A share of the planned customers is held out as a **control group**, at random but reproducible
from the campaign id, stratified by action and risk band: within each stratum the customers are
ordered by a hash of (campaign id, customer id) and the first ``round(share × n)`` are controls.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import LinearConstraint, linprog, milp
from scipy.sparse import csr_array, vstack

MAX_EXACT_PAIRS = 200_000


@dataclass(frozen=True)
class PlanResult:
    """The chosen pairs and how they were found."""

    chosen: pd.DataFrame  # rows of the candidates frame
    method: str  # "milp" or "greedy"
    objective: float  # summed expected net value of the chosen pairs
    bound: float  # the best possible objective known (solver's dual bound or the LP bound)
    gap: float  # (bound − objective) / max(|bound|, 1e-9)
    status: str
    seconds: float


def _constraints(
    candidates: pd.DataFrame, budget: float, capacity: Mapping[str, int]
) -> tuple[csr_array, np.ndarray]:
    n = len(candidates)
    rows = [csr_array(candidates["cost"].to_numpy(dtype=np.float64).reshape(1, -1))]
    upper = [float(budget)]
    for action, limit in capacity.items():
        mask = (candidates["action"] == action).to_numpy()
        if mask.any():
            rows.append(csr_array(mask.astype(np.float64).reshape(1, -1)))
            upper.append(float(limit))
    codes, _ = pd.factorize(candidates["customer_id"])
    one_each = csr_array((np.ones(n), (codes, np.arange(n))), shape=(int(codes.max()) + 1 if n else 0, n))
    rows.append(one_each)
    upper.extend([1.0] * one_each.shape[0])
    return vstack(rows, format="csr"), np.asarray(upper)


def plan_campaign(
    candidates: pd.DataFrame,
    budget: float,
    capacity: Mapping[str, int] | None = None,
    *,
    time_limit_s: float = 60.0,
    max_exact_pairs: int = MAX_EXACT_PAIRS,
) -> PlanResult:
    """The best pairs among ``candidates`` (from :func:`berth.recommend.ranking.candidate_actions`,
    cooldowns already applied) under the budget and capacities."""
    started = time.perf_counter()
    pool = candidates[candidates["expected_net_value"] > 0].reset_index(drop=True)
    capacity = dict(capacity or {})
    if pool.empty or budget <= 0:
        return PlanResult(pool.iloc[:0], "milp", 0.0, 0.0, 0.0, "nothing pays", time.perf_counter() - started)
    value = pool["expected_net_value"].to_numpy(dtype=np.float64)
    matrix, upper = _constraints(pool, budget, capacity)
    if len(pool) > max_exact_pairs:
        chosen = _greedy(pool, budget, capacity)
        relaxed = linprog(-value, A_ub=matrix, b_ub=upper, bounds=(0, 1), method="highs")
        bound = float(-relaxed.fun) if relaxed.status == 0 else float("nan")
        objective = float(value[chosen].sum())
        return PlanResult(
            pool.iloc[np.flatnonzero(chosen)],
            "greedy",
            objective,
            bound,
            _gap(objective, bound),
            f"greedy above {max_exact_pairs:,} pairs; LP bound {relaxed.message}",
            time.perf_counter() - started,
        )
    result = milp(
        -value,
        integrality=np.ones(len(pool)),
        bounds=(0, 1),
        constraints=[LinearConstraint(matrix, -np.inf, upper)],
        options={"time_limit": float(time_limit_s), "mip_rel_gap": 1e-6},
    )
    if result.x is None:
        raise RuntimeError(f"the planner found no feasible plan: {result.message}")
    picked = result.x > 0.5
    objective = float(value[picked].sum())
    bound = float(-result.mip_dual_bound) if result.mip_dual_bound is not None else objective
    return PlanResult(
        pool.iloc[np.flatnonzero(picked)],
        "milp",
        objective,
        bound,
        _gap(objective, bound),
        str(result.message),
        time.perf_counter() - started,
    )


def _gap(objective: float, bound: float) -> float:
    if not np.isfinite(bound):
        return float("nan")
    return max(bound - objective, 0.0) / max(abs(bound), 1e-9)


def _greedy(pool: pd.DataFrame, budget: float, capacity: Mapping[str, int]) -> np.ndarray:
    """Best net value per unit cost first (free actions first of all), within every constraint."""
    cost = pool["cost"].to_numpy(dtype=np.float64)
    value = pool["expected_net_value"].to_numpy(dtype=np.float64)
    ratio = np.where(cost > 0, value / np.maximum(cost, 1e-12), np.inf)
    order = np.lexsort((-value, -ratio))
    chosen = np.zeros(len(pool), dtype=bool)
    used: dict[str, int] = {}
    taken: set[str] = set()
    spent = 0.0
    actions = pool["action"].to_numpy()
    customers = pool["customer_id"].to_numpy()
    for i in order:
        action, customer = actions[i], customers[i]
        if customer in taken or spent + cost[i] > budget:
            continue
        if action in capacity and used.get(action, 0) >= capacity[action]:
            continue
        chosen[i] = True
        taken.add(customer)
        spent += cost[i]
        used[action] = used.get(action, 0) + 1
    return chosen


def apply_cooldowns(
    candidates: pd.DataFrame,
    past_actions: pd.DataFrame | None,
    cooldown_days: Mapping[str, int],
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Drop pairs whose customer had the same action within its cooldown before ``as_of``.

    ``past_actions``: ``customer_id, action, taken_at`` (feedback, or an earlier plan's treatments).
    """
    if past_actions is None or past_actions.empty or candidates.empty:
        return candidates
    last = (
        past_actions.assign(
            customer_id=past_actions["customer_id"].astype(str),
            taken_at=pd.to_datetime(past_actions["taken_at"], utc=True, format="mixed").dt.tz_localize(None),
        )
        .groupby(["customer_id", "action"])["taken_at"]
        .max()
    )
    keys = pd.MultiIndex.from_arrays([candidates["customer_id"].astype(str), candidates["action"]])
    days_since = (pd.Timestamp(as_of) - pd.DatetimeIndex(last.reindex(keys).to_numpy())).days.to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    cooldown = candidates["action"].map(cooldown_days).fillna(0).to_numpy(dtype=np.float64)
    blocked = np.isfinite(days_since) & (days_since < cooldown)
    return candidates[~blocked].reset_index(drop=True)


def _unit_hash(campaign_id: str, customer_id: str) -> float:
    digest = hashlib.sha256(f"{campaign_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_control(plan: pd.DataFrame, campaign_id: str, share: float) -> pd.Series:
    """``treatment`` or ``control`` per planned row: reproducible from the campaign id, and
    stratified by action and risk band (each stratum gets ``round(share × n)`` controls)."""
    if not 0.0 <= share < 1.0:
        raise ValueError("control share must be in [0, 1)")
    key = plan["customer_id"].astype(str).map(lambda c: _unit_hash(campaign_id, c))
    group = pd.Series("treatment", index=plan.index, dtype=object)
    for _, rows in plan.assign(_key=key).groupby(["action", "risk_band"], sort=True, dropna=False):
        n_control = round(share * len(rows))
        if n_control:
            group.loc[rows.sort_values("_key", kind="stable").index[:n_control]] = "control"
    return group

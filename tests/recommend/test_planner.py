"""The campaign planner against brute force, cooldowns, and control groups."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from berth.recommend.planner import apply_cooldowns, assign_control, plan_campaign


def _candidates(rng: np.random.Generator, customers: int, actions: int) -> pd.DataFrame:
    rows = []
    for c in range(customers):
        for a in range(actions):
            if rng.random() < 0.7:
                rows.append(
                    {
                        "customer_id": f"c{c}",
                        "action": f"a{a}",
                        "cost": float(rng.integers(1, 10)),
                        "expected_net_value": float(rng.normal(5, 4)),
                    }
                )
    return pd.DataFrame(rows)


def _brute_force(pool: pd.DataFrame, budget: float, capacity: dict[str, int]) -> float:
    pool = pool[pool["expected_net_value"] > 0].reset_index(drop=True)
    best = 0.0
    for mask in itertools.product([0, 1], repeat=len(pool)):
        chosen = pool[np.array(mask, dtype=bool)]
        if chosen["cost"].sum() > budget or chosen["customer_id"].duplicated().any():
            continue
        counts = chosen["action"].value_counts()
        if any(counts.get(a, 0) > n for a, n in capacity.items()):
            continue
        best = max(best, float(chosen["expected_net_value"].sum()))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_milp_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = _candidates(rng, customers=5, actions=3)
    pool = pool[pool["expected_net_value"] > 0].head(14)  # 2^14 subsets at most
    budget = float(rng.integers(5, 25))
    capacity = {"a0": 1, "a1": 2}
    result = plan_campaign(pool, budget, capacity)
    chosen = result.chosen
    assert result.method == "milp"
    assert chosen["cost"].sum() <= budget + 1e-9
    assert not chosen["customer_id"].duplicated().any()
    assert (chosen["action"] == "a0").sum() <= 1
    assert (chosen["action"] == "a1").sum() <= 2
    assert result.objective == pytest.approx(_brute_force(pool, budget, capacity), abs=1e-6)
    assert result.gap <= 1e-6


def test_greedy_above_the_exact_size_keeps_every_constraint_and_reports_its_gap() -> None:
    rng = np.random.default_rng(3)
    pool = _candidates(rng, customers=300, actions=4)
    capacity = {"a2": 10}
    exact = plan_campaign(pool, 400.0, capacity)
    greedy = plan_campaign(pool, 400.0, capacity, max_exact_pairs=10)
    assert greedy.method == "greedy"
    chosen = greedy.chosen
    assert chosen["cost"].sum() <= 400.0
    assert not chosen["customer_id"].duplicated().any()
    assert (chosen["action"] == "a2").sum() <= 10
    assert greedy.objective <= exact.objective + 1e-6
    assert greedy.bound >= exact.objective - 1e-6, "the LP bound bounds the optimum"
    assert 0.0 <= greedy.gap < 0.2


def test_nothing_paying_plans_nothing() -> None:
    pool = pd.DataFrame({"customer_id": ["a"], "action": ["x"], "cost": [5.0], "expected_net_value": [-1.0]})
    result = plan_campaign(pool, 100.0)
    assert result.chosen.empty
    assert result.objective == 0.0


def test_cooldowns_drop_recent_repeats_only() -> None:
    candidates = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "action": ["call", "visit", "call"],
            "expected_net_value": [1.0, 2.0, 3.0],
        }
    )
    past = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "action": ["call", "call"],
            "taken_at": ["2025-05-20T09:00:00Z", "2025-03-01"],
        }
    )
    kept = apply_cooldowns(candidates, past, {"call": 30, "visit": 90}, pd.Timestamp("2025-06-01"))
    assert list(zip(kept["customer_id"], kept["action"], strict=True)) == [("a", "visit"), ("b", "call")]


def test_control_groups_are_reproducible_stratified_and_balanced() -> None:
    plan = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(400)],
            "action": ["call"] * 200 + ["visit"] * 200,
            "risk_band": (["high"] * 100 + ["medium"] * 100) * 2,
        }
    )
    first = assign_control(plan, "spring-2026", 0.1)
    again = assign_control(plan.sample(frac=1.0, random_state=1).sort_index(), "spring-2026", 0.1)
    assert first.equals(again), "the same campaign id draws the same controls"
    counts = (
        plan.assign(group=first)
        .groupby(["action", "risk_band"])["group"]
        .apply(lambda g: (g == "control").sum())
    )
    assert (counts == 10).all(), "10% of every stratum"
    other = assign_control(plan, "autumn-2026", 0.1)
    assert not first.equals(other), "another campaign draws other controls"
    with pytest.raises(ValueError, match="control share"):
        assign_control(plan, "x", 1.0)

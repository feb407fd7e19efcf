"""Triggers and the expected-net-value arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from berth.recommend.playbook import Playbook
from berth.recommend.ranking import candidate_actions, recommend, triggered


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "churn_probability": [0.6, 0.3, 0.05, 0.5],
            "value_at_risk": [100_000.0, 400_000.0, 50_000.0, np.nan],
            "drivers": [("service", "rhythm"), ("revenue",), (), ("complaints",)],
            "activity_state": ["active", "dozing", "active", "dormant"],
            "abc_class": ["A", "A", "C", "B"],
            "relationship_level": ["accountable", "partnership", "basic", "reactive"],
            "loyalty_form": ["true", "latent", "none", "unknown_attitude"],
            "tier_current": ["gold", "platinum", "bronze", "lapsed"],
            "segment": ["shipper", "forwarder", "agent", "shipper"],
        }
    )


def _playbook(**actions: dict) -> Playbook:
    return Playbook.model_validate({"actions": actions})


def test_trigger_conditions_all_hold() -> None:
    book = _playbook(
        fix={
            "cost": 10,
            "uplift": 0.2,
            "trigger": {"drivers": ["service", "complaints"], "min_churn_probability": 0.2},
        },
        wake={"cost": 10, "uplift": 0.2, "trigger": {"activity_states": ["dozing", "dormant"]}},
        key={"cost": 10, "uplift": 0.2, "trigger": {"abc_classes": ["A"], "min_value": 200_000}},
        calm={"cost": 10, "uplift": 0.2, "trigger": {"max_churn_probability": 0.1}},
    )
    frame = _customers()
    # d has complaints but no value estimate: never a candidate (value at risk unknown)
    assert triggered(book.actions["fix"], frame).tolist() == [True, False, False, False]
    assert triggered(book.actions["wake"], frame).tolist() == [False, True, False, False]
    assert triggered(book.actions["key"], frame).tolist() == [False, True, False, False]
    assert triggered(book.actions["calm"], frame).tolist() == [False, False, True, False]


def test_expected_net_value_arithmetic_and_driver_uplift() -> None:
    book = _playbook(
        fix={"cost": 1_000, "uplift": 0.1, "uplift_by_driver": {"service": 0.3}},
    )
    out = candidate_actions(_customers(), book).set_index("customer_id")
    assert out.loc["a", "uplift"] == pytest.approx(0.3), "a's leading driver is service"
    assert out.loc["a", "expected_net_value"] == pytest.approx(0.6 * 100_000 * 0.3 - 1_000)
    assert out.loc["b", "uplift"] == pytest.approx(0.1)
    assert out.loc["b", "expected_net_value"] == pytest.approx(0.3 * 400_000 * 0.1 - 1_000)
    assert out.loc["c", "expected_net_value"] == pytest.approx(0.05 * 50_000 * 0.1 - 1_000)
    measured = candidate_actions(_customers(), book, uplift_override={"fix": 0.05}).set_index("customer_id")
    assert measured.loc["a", "uplift"] == pytest.approx(0.05)


def test_recommend_lists_what_pays_and_says_why_not() -> None:
    book = _playbook(
        cheap={"cost": 200, "uplift": 0.05},
        dear={"cost": 50_000, "uplift": 0.5},
        wake={"cost": 10, "uplift": 0.2, "trigger": {"activity_states": ["dozing"]}},
    )
    customers = _customers()
    recs = recommend(candidate_actions(customers, book), customers["customer_id"].tolist(), top=2)
    a = recs[recs["customer_id"] == "a"]
    assert a["action"].tolist() == ["cheap"], "dear nets 0.6 × 100k × 0.5 − 50k < 0"
    b = recs[recs["customer_id"] == "b"]
    # wake 0.3 × 400k × 0.2 − 10, dear 0.3 × 400k × 0.5 − 50k, cheap 0.3 × 400k × 0.05 − 200: top two
    assert b["action"].tolist() == ["wake", "dear"]
    assert b["rank"].tolist() == [1, 2]
    c = recs[recs["customer_id"] == "c"].iloc[0]
    assert c["action"] == ""
    assert c["reason"].startswith("no action pays: best is cheap")
    d = recs[recs["customer_id"] == "d"].iloc[0]
    assert d["reason"] == "no action's trigger holds"

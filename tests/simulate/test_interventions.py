"""Retention actions in the simulator: exact effects on the oracle, nothing else moved."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from berth.simulate import SimulationConfig, simulate_port
from berth.simulation.interventions import DEFAULT_EFFECTS, ActionEffect

START = date(2024, 1, 1)
CONFIG = SimulationConfig(n_customers=600, days=400, seed=8, start=START)


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    return simulate_port(CONFIG)


def _cutoff_rows(port, cutoff: pd.Timestamp) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    truth = port.truth
    rows = truth[(truth["horizon_days"] == 90) & (truth["cutoff"] == cutoff)]
    return rows.set_index(rows["customer_id"].astype(str))


def test_actions_lower_the_treated_oracle_and_leave_everything_before_and_beside_them(base) -> None:  # type: ignore[no-untyped-def]
    cutoff = pd.Timestamp(base.truth.loc[base.truth["horizon_days"] == 90, "cutoff"].max())
    before = _cutoff_rows(base, cutoff)
    at_risk = before[(before["true_churn_probability"] > 0.05) & (before["true_churn_probability"] < 0.95)]
    chosen = at_risk.index[:60]
    actions = pd.DataFrame(
        {"customer_id": chosen, "action": "rate_review", "start_date": cutoff + timedelta(days=1)}
    )
    treated = simulate_port(CONFIG, actions=actions)
    after = _cutoff_rows(treated, cutoff)
    assert (after.loc[chosen, "true_churn_probability"] < before.loc[chosen, "true_churn_probability"]).all()
    others = before.index.difference(chosen)
    pd.testing.assert_series_equal(
        after.loc[others, "true_churn_probability"], before.loc[others, "true_churn_probability"]
    )
    # who shipped when before the actions start is the same (shipment attributes and interactions
    # are drawn in one pass over the whole history, so those may differ)
    columns = ["customer_id", "shipment_date"]
    earlier = base.shipments.loc[base.shipments["shipment_date"] <= cutoff, columns]
    pd.testing.assert_frame_equal(
        treated.shipments.loc[treated.shipments["shipment_date"] <= cutoff, columns].reset_index(drop=True),
        earlier.reset_index(drop=True),
    )


def test_a_stronger_effect_on_the_trait_it_answers(base) -> None:  # type: ignore[no-untyped-def]
    cutoff = pd.Timestamp(base.truth.loc[base.truth["horizon_days"] == 90, "cutoff"].max())
    before = _cutoff_rows(base, cutoff)
    chosen = before[
        (before["true_churn_probability"] > 0.05) & (before["true_churn_probability"] < 0.95)
    ].index
    actions = pd.DataFrame({"customer_id": chosen, "action": "x", "start_date": cutoff + timedelta(days=1)})
    weak = simulate_port(CONFIG, actions=actions, effects={"x": ActionEffect(hazard_reduction=0.2)})
    strong = simulate_port(CONFIG, actions=actions, effects={"x": ActionEffect(hazard_reduction=0.6)})
    p_weak = _cutoff_rows(weak, cutoff).loc[chosen, "true_churn_probability"]
    p_strong = _cutoff_rows(strong, cutoff).loc[chosen, "true_churn_probability"]
    assert (p_strong <= p_weak + 1e-12).all()
    assert p_strong.mean() < p_weak.mean()


def test_unknown_customers_or_actions_are_refused() -> None:
    start = START + timedelta(days=200)
    with pytest.raises(ValueError, match="no simulated effect"):
        simulate_port(
            CONFIG,
            actions=pd.DataFrame({"customer_id": ["C000001"], "action": ["teleport"], "start_date": [start]}),
        )
    with pytest.raises(ValueError, match="not in the simulated book"):
        simulate_port(
            CONFIG,
            actions=pd.DataFrame({"customer_id": ["Z9"], "action": ["rate_review"], "start_date": [start]}),
        )
    assert "rate_review" in DEFAULT_EFFECTS

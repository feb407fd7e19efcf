"""Measured uplift: treatment against control, its interval's coverage, the posterior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from berth.cli import app
from berth.features import HistoryArrays
from berth.recommend.evaluate import evaluate_actions, uplift_interval, write_posterior
from berth.recommend.playbook import Playbook
from berth.tables import PortData

from .conftest import PLAYBOOK

AS_OF = pd.Timestamp("2025-06-30")


def test_interval_covers_the_true_uplift_at_its_level() -> None:
    rng = np.random.default_rng(7)
    p_control, true_uplift = 0.3, 0.3
    covered = 0
    reps = 300
    for _ in range(reps):
        c = int(rng.binomial(120, p_control))
        t = int(rng.binomial(480, p_control * (1 - true_uplift)))
        estimate = uplift_interval(t, 480, c, 120)
        covered += estimate.low <= true_uplift <= estimate.high
    assert covered / reps >= 0.85


def test_no_control_churn_gives_no_estimate() -> None:
    assert np.isnan(uplift_interval(3, 100, 0, 20).uplift)


def _book(plan: pd.DataFrame, churn: dict[str, bool]) -> PortData:
    rows = []
    for customer in plan["customer_id"]:
        rows.append((customer, AS_OF - pd.Timedelta(days=10)))
        if not churn[customer]:
            rows.append((customer, AS_OF + pd.Timedelta(days=30)))
    rows.append(("other", AS_OF + pd.Timedelta(days=95)))  # the data reaches past the horizon
    return PortData(shipments=pd.DataFrame(rows, columns=["customer_id", "shipment_date"]))


def _plan(n_treat: int, n_control: int, action: str = "follow_up_call") -> pd.DataFrame:
    ids = [f"{action}-{i}" for i in range(n_treat + n_control)]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "action": action,
            "group": ["treatment"] * n_treat + ["control"] * n_control,
            "as_of": AS_OF.date().isoformat(),
        }
    )


def test_evaluate_reads_churn_from_the_shipments_and_combines_with_the_prior(playbook: Playbook) -> None:
    plan = _plan(100, 50)
    # 20 of 100 treatment customers churn, 20 of 50 controls: uplift 1 - 0.2 / 0.4 = 0.5
    churn = {c: (i < 20) or (100 <= i < 120) for i, c in enumerate(plan["customer_id"])}
    history = HistoryArrays.from_port_data(_book(plan, churn))
    result = evaluate_actions(plan, history, 90, playbook).set_index("action")
    row = result.loc["follow_up_call"]
    assert row["churn_treatment"] == pytest.approx(0.2)
    assert row["churn_control"] == pytest.approx(0.4)
    assert row["uplift"] == pytest.approx(0.5)
    assert row["uplift_low"] < 0.5 < row["uplift_high"]
    assert row["prior_uplift"] == pytest.approx(0.04)
    assert row["prior_uplift"] < row["posterior_uplift"] < row["uplift"], "the posterior sits between them"
    assert bool(row["enough_data"])
    raw = yaml.safe_load(PLAYBOOK.read_text(encoding="utf-8"))
    updated = write_posterior(raw, result.reset_index())
    assert updated["actions"]["follow_up_call"]["uplift"] == pytest.approx(round(row["posterior_uplift"], 3))
    assert updated["actions"]["rate_review"] == raw["actions"]["rate_review"]
    assert raw["actions"]["follow_up_call"]["uplift"] == 0.04, "the input mapping is not changed"


def test_outcomes_not_yet_observable_say_when_they_will_be() -> None:
    plan = _plan(30, 30)
    book = PortData(
        shipments=pd.DataFrame(
            {"customer_id": plan["customer_id"], "shipment_date": AS_OF - pd.Timedelta(days=5)}
        )
    )
    with pytest.raises(ValueError, match="needs shipments until 2025-09-28"):
        evaluate_actions(plan, HistoryArrays.from_port_data(book), 90)


def test_evaluate_actions_cli(tmp_path: Path) -> None:
    plan = _plan(60, 30)
    churn = {c: i % 3 == 0 for i, c in enumerate(plan["customer_id"])}
    data = tmp_path / "data"
    data.mkdir()
    _book(plan, churn).shipments.to_csv(data / "shipments.csv", index=False)
    plan.to_csv(tmp_path / "plan.csv", index=False)
    args = [
        "evaluate-actions",
        "--plan",
        str(tmp_path / "plan.csv"),
        "--data",
        str(data),
        "--playbook",
        str(PLAYBOOK),
    ]
    result = CliRunner().invoke(
        app, [*args, "--output", str(tmp_path / "out.csv"), "--write-playbook", str(tmp_path / "pb.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "follow_up_call" in result.output
    assert pd.read_csv(tmp_path / "out.csv")["treatment"].tolist() == [60]
    assert "follow_up_call" in yaml.safe_load((tmp_path / "pb.yaml").read_text(encoding="utf-8"))["actions"]
    late = CliRunner().invoke(app, [*args, "--horizon-days", "200"])
    assert late.exit_code == 2
    assert "not observable yet" in late.output

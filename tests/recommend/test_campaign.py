"""A campaign end to end: scores, recommendations, the plan, the CLI and its HTML page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from berth.bundle import BundleScorer
from berth.cli import app
from berth.features import HistoryArrays
from berth.io import write_table
from berth.recommend.campaign import run_campaign
from berth.recommend.playbook import Playbook
from berth.recommend.report import plan_table, render_plan
from berth.tables import PortData
from berth.training import TrainedModel

from .conftest import PLAYBOOK


@pytest.mark.slow
def test_campaign_respects_the_budget_and_explains_itself(
    book: PortData, book_model: TrainedModel, playbook: Playbook
) -> None:
    as_of = book_model.training_cutoff
    history = HistoryArrays.from_port_data(book, known_until=as_of)
    scorer = BundleScorer(book_model.bundle)
    campaign = run_campaign(
        scorer, history, as_of, playbook, budget=60_000, campaign_id="test", control_share=0.2
    )
    plan = campaign.plan
    assert len(plan) > 0
    assert plan["cost"].sum() <= 60_000
    assert not plan["customer_id"].duplicated().any()
    assert (plan["expected_net_value"] > 0).all()
    assert set(plan["group"]) == {"treatment", "control"}
    assert campaign.result.gap <= 1e-6
    # the expected values are the ranking's arithmetic
    row = plan.iloc[0]
    assert row["expected_net_value"] == pytest.approx(
        row["churn_probability"] * row["value_at_risk"] * row["uplift"] - row["cost"]
    )
    # every planned customer has a sentence: its leading risk driver's, or that none stands out
    assert (plan["lead_driver_sentence"].str.len() > 10).all()
    no_driver = plan["drivers"] == ""
    assert (
        plan.loc[no_driver, "lead_driver_sentence"]
        == "no churn driver raises this customer's risk above the average customer's"
    ).all()
    # capacities from the playbook hold
    for name, action in playbook.actions.items():
        if action.capacity_per_period is not None:
            assert (plan["action"] == name).sum() <= action.capacity_per_period
    recs = campaign.recommendations
    assert set(recs["customer_id"]) == set(campaign.customers["customer_id"])
    page = render_plan(campaign, "zh")
    assert "客户保留活动计划" in page
    assert "对照组" in page
    assert list(plan_table(campaign).columns)[:5] == [
        "campaign_id",
        "as_of",
        "customer_id",
        "action",
        "group",
    ]


@pytest.mark.slow
def test_berth_plan_cli(tmp_path: Path, book: PortData, book_model: TrainedModel) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_table(book.shipments, data / "shipments.csv")
    assert book.interactions is not None
    assert book.customers is not None
    write_table(book.interactions, data / "interactions.csv")
    write_table(book.customers, data / "customers.csv")
    bundle = tmp_path / "bundle"
    book_model.bundle.save(bundle)
    out = tmp_path / "plan.csv"
    args = [
        "plan",
        "--data", str(data),
        "--as-of", book_model.training_cutoff.isoformat(),
        "--budget", "40000",
        "--capacity", "follow_up_call=5",
        "--control-share", "0.1",
        "--campaign-id", "cli-test",
        "--playbook", str(PLAYBOOK),
        "--bundle", str(bundle),
        "--output", str(out),
        "--lang", "zh",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Planned" in result.output
    plan = pd.read_csv(out)
    assert plan["cost"].sum() <= 40_000
    assert (plan["action"] == "follow_up_call").sum() <= 5
    assert (plan["campaign_id"] == "cli-test").all()
    assert "客户" in out.with_suffix(".html").read_text(encoding="utf-8")
    bad = CliRunner().invoke(app, [*args[:-2], "--lang", "en", "--capacity", "teleport=3"])
    assert bad.exit_code == 2
    assert "teleport" in bad.output

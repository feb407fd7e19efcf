"""The playbook: the shipped one loads; errors name the action and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from berth.errors import ConfigError
from berth.recommend.playbook import Playbook, load_playbook

from .conftest import PLAYBOOK


def test_shipped_playbook_has_the_domain_actions(playbook: Playbook) -> None:
    assert {
        "service_recovery",
        "complaint_escalation",
        "account_manager_visit",
        "follow_up_call",
        "rate_review",
        "loyalty_upgrade",
        "value_added_services",
        "structural_integration",
        "reactivation_campaign",
        "referral_reward",
    } <= set(playbook.actions)
    assert playbook.uplift("service_recovery", "service") == pytest.approx(0.30)
    assert playbook.uplift("service_recovery", "volume") == pytest.approx(0.10), "the prior without a match"
    assert playbook.uplift("service_recovery", None) == pytest.approx(0.10)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("rate_review", "cost", -5), r"actions\.rate_review\.cost: .*greater than or equal to 0"),
        (("follow_up_call", "uplift", 1.5), r"actions\.follow_up_call\.uplift: .*less than or equal to 1"),
        (
            ("service_recovery", "trigger", {"drivers": ["weather"]}),
            r"actions\.service_recovery\.trigger\.drivers\.0",
        ),
        (
            ("referral_reward", "trigger", {"min_churn_probability": 0.6, "max_churn_probability": 0.2}),
            r"referral_reward\.trigger",
        ),
        (("loyalty_upgrade", "colour", "gold"), r"actions\.loyalty_upgrade\.colour: .*[Ee]xtra"),
    ],
)
def test_errors_name_the_action_and_the_field(
    tmp_path: Path, change: tuple[str, str, object], expected: str
) -> None:
    raw = yaml.safe_load(PLAYBOOK.read_text(encoding="utf-8"))
    action, field, value = change
    raw["actions"][action][field] = value
    path = tmp_path / "playbook.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_playbook(path)


def test_a_missing_playbook_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_playbook(tmp_path / "nope.yaml")

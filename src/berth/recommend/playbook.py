"""The retention playbook (``configs/playbook.yaml``): actions, triggers, costs, prior uplift.

Every figure shipped in the default playbook is an assumption to replace with measurements
(``docs/recommendations.md``). Validation errors name the action and the field, e.g.
``configs/playbook.yaml: actions.rate_review.cost: Input should be greater than or equal to 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from berth._config_base import StrictModel
from berth.config import parse_config, read_yaml
from berth.features import GROUP_LABELS
from berth.taxonomy import ABC_CLASSES, ACTIVITY_STATES, LOYALTY_FORMS, RELATIONSHIP_LEVELS

DRIVER_GROUPS: tuple[str, ...] = tuple(GROUP_LABELS)
DEFAULT_PLAYBOOK = Path("configs/playbook.yaml")  # relative to the working folder, like configs/train.yaml

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class Trigger(StrictModel):
    """When an action applies: every condition given must hold (an empty list: any value)."""

    drivers: list[Literal[DRIVER_GROUPS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Any of these among the customer's top drivers."
    )
    activity_states: list[Literal[ACTIVITY_STATES]] = Field(default_factory=list)  # type: ignore[valid-type]
    abc_classes: list[Literal[ABC_CLASSES]] = Field(default_factory=list)  # type: ignore[valid-type]
    relationship_levels: list[Literal[RELATIONSHIP_LEVELS]] = Field(default_factory=list)  # type: ignore[valid-type]
    loyalty_forms: list[Literal[LOYALTY_FORMS]] = Field(default_factory=list)  # type: ignore[valid-type]
    tiers: list[str] = Field(default_factory=list, description="Current tier names (the bundle's rule).")
    segments: list[str] = Field(default_factory=list)
    min_churn_probability: Share = 0.0
    max_churn_probability: Share = 1.0
    min_value: float = Field(
        default=0.0, ge=0.0, description="Least customer value at risk worth the action."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Trigger:
        if self.min_churn_probability > self.max_churn_probability:
            raise ValueError("min_churn_probability must not exceed max_churn_probability")
        return self


class Action(StrictModel):
    """One retention action."""

    description: str = Field(default="", max_length=300)
    cost: float = Field(ge=0.0, description="Cost per customer, in revenue units.")
    uplift: Share = Field(description="Prior relative reduction of the churn probability.")
    uplift_by_driver: dict[Literal[DRIVER_GROUPS], Share] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="Prior uplift when this driver group leads (overrides uplift)."
    )
    trigger: Trigger = Field(default_factory=Trigger)
    capacity_per_period: int | None = Field(default=None, ge=0, description="At most this many a campaign.")
    cooldown_days: int = Field(default=0, ge=0, description="No repeat for the same customer within this.")


class Playbook(StrictModel):
    """Actions by name, and how value at risk is measured."""

    value_basis: Literal["clv", "expected_revenue"] = Field(
        default="clv",
        description="clv: discounted margin over the CLV horizon; expected_revenue: revenue over the "
        "value horizon.",
    )
    max_actions_per_customer: int = Field(
        default=3, ge=1, le=10, description="Recommendations listed per customer."
    )
    actions: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], Action] = Field(min_length=1)

    def uplift(self, action: str, driver: str | None) -> float:
        """The prior uplift of ``action`` when ``driver`` leads the customer's churn drivers."""
        spec = self.actions[action]
        return float(spec.uplift_by_driver.get(driver, spec.uplift)) if driver else float(spec.uplift)


def load_playbook(path: Path | None = None) -> Playbook:
    """Read and validate a playbook (``configs/playbook.yaml`` in the working folder when None)."""
    source = path or DEFAULT_PLAYBOOK
    return parse_config(Playbook, read_yaml(source), source=str(source))

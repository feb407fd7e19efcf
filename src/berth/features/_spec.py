"""The feature specification: which features a model uses, decided once from the training data.

The spec is part of the model bundle (plain JSON), so serving computes exactly the columns, in the
order, the model was trained on. Features whose inputs are absent at scoring time are NaN, which
the gradient-boosted trees route down their learned default branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Feature group → (English, Chinese) label; drivers are reported per group.
GROUP_LABELS: Mapping[str, tuple[str, str]] = {
    "rhythm": ("Shipping rhythm and recency", "发货节奏与最近一次发货"),
    "volume": ("Volume and its trend", "货量及其趋势"),
    "revenue": ("Revenue, price and margin", "收入、价格与利润"),
    "service": ("Service quality (delays, damage)", "服务质量（延误、货损）"),
    "complaints": ("Complaints and claims", "投诉与索赔"),
    "attitude": ("Surveys, NPS and sentiment", "满意度调查、NPS与情绪"),
    "relationship": ("Contacts, meetings and loyalty programme", "联系、会面与忠诚度计划"),
    "profile": ("Profile, tenure and contract", "客户档案、合作年限与合同"),
    "btyd": ("Purchase-rhythm model (BG/NBD)", "购买节律模型（BG/NBD）"),
    "concentration": ("Cargo and lane concentration", "货类与航线集中度"),
}


@dataclass(frozen=True)
class FeatureSpec:
    """Settings and the ordered feature list of one model."""

    horizon_days: int
    lookback_days: int = 365
    on_time_threshold_hours: float = 24.0
    max_category_levels: int = 12
    categorical_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()
    available_inputs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the bundle."""
        out = asdict(self)
        out["categorical_levels"] = {k: list(v) for k, v in self.categorical_levels.items()}
        out["feature_names"] = list(self.feature_names)
        out["available_inputs"] = list(self.available_inputs)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            horizon_days=int(raw["horizon_days"]),
            lookback_days=int(raw["lookback_days"]),
            on_time_threshold_hours=float(raw["on_time_threshold_hours"]),
            max_category_levels=int(raw["max_category_levels"]),
            categorical_levels={k: tuple(v) for k, v in raw["categorical_levels"].items()},
            feature_names=tuple(raw["feature_names"]),
            available_inputs=tuple(raw["available_inputs"]),
        )


def feature_group(name: str) -> str:
    """The driver group a feature belongs to."""
    if name.startswith("btyd_"):
        return "btyd"
    if name.startswith(("segment=", "credit_rating=", "region=", "contract=", "loyalty_member=")) or name in {
        "customer_age_days",
        "contract",
        "loyalty_member",
        "has_account_manager",
        "first_shipment_age_days",
    }:
        return "profile"
    if name.startswith(("volume_",)):
        return "volume"
    if name.startswith(("revenue_", "price_", "margin_")):
        return "revenue"
    if name.startswith(("on_time_", "delay_", "damage_")):
        return "service"
    if name.startswith(("complaints_", "unresolved_", "resolution_", "claims_", "days_since_last_complaint")):
        return "complaints"
    if name.startswith(("survey_", "sentiment_", "days_since_last_survey")):
        return "attitude"
    if name.startswith(("contacts_", "meetings_", "redemptions_")):
        return "relationship"
    if name.startswith(("top_cargo_", "lanes_")):
        return "concentration"
    return "rhythm"

"""Configuration of the simulator: one validated pydantic model with documented parameter groups.

Rates "per year" become daily probabilities as ``rate / 365``; every default is chosen to give a
plausible container-terminal book of business (see ``docs/simulator.md`` for the reasoning and
the figures they produce).
"""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import Field, model_validator

from berth.config import StrictModel

SEGMENTS = ("shipping_line", "shipper", "forwarder", "agent")
CONTRACTS = ("spot", "annual", "multi_year")


class SegmentProfile(StrictModel):
    """Cadence, size, price, ties and hazards of one customer segment."""

    share: float = Field(ge=0.0, description="Share of customers in this segment (normalised).")
    shipments_per_week: float = Field(gt=0.0, description="Median shipments per week when engaged.")
    rate_dispersion: float = Field(
        ge=0.0, description="Log-normal sigma of the shipment rate across customers."
    )
    service_days: int = Field(
        default=0,
        ge=0,
        le=7,
        description="Ships only on this many fixed weekdays (vessel services); 0 = business week.",
    )
    quiet_rate_factor: float = Field(
        gt=0.0, le=1.0, description="Rate multiplier in the quiet phase of the busy/quiet cycle."
    )
    busy_mean_days: float = Field(ge=1.0, description="Mean length of a busy phase (days).")
    quiet_mean_days: float = Field(ge=1.0, description="Mean length of a quiet phase (days).")
    teu_per_shipment: float = Field(gt=0.0, description="Median volume per shipment (TEU).")
    volume_sigma: float = Field(ge=0.0, description="Log-normal sigma of volume per shipment.")
    price_per_teu: float = Field(gt=0.0, description="Median price per TEU at the start (USD).")
    key_account_share: float = Field(ge=0.0, le=1.0, description="Share of key accounts.")
    account_manager_share: float = Field(
        ge=0.0, le=1.0, description="Share of non-key accounts with an account manager."
    )
    edi_share: float = Field(ge=0.0, le=1.0, description="Share of non-key accounts booking by EDI.")
    annual_contract_share: float = Field(ge=0.0, le=1.0, description="Share on annual contracts.")
    multi_year_contract_share: float = Field(
        ge=0.0, le=1.0, description="Share on multi-year contracts (rest: spot)."
    )
    loyalty_share: float = Field(ge=0.0, le=1.0, description="Share of loyalty-programme members.")
    competitor_offers_per_year: float = Field(
        ge=0.0, description="Competitor offers per year at average exposure (unobserved)."
    )
    offer_acceptance: float = Field(
        ge=0.0, le=1.0, description="Probability that an offer moves an engaged customer to drifting."
    )
    drifting_to_lost_per_year: float = Field(ge=0.0, description="Hazard drifting → lost (per year).")
    drifting_to_engaged_per_year: float = Field(
        ge=0.0, description="Recovery hazard drifting → engaged (per year)."
    )
    sudden_loss_per_year: float = Field(
        ge=0.0, description="Hazard engaged → lost (insolvency, lost tender) per year."
    )
    emails_per_year: float = Field(ge=0.0, description="Emails per year when engaged.")
    inquiries_per_year: float = Field(ge=0.0, description="Inquiries per year when engaged.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.annual_contract_share + self.multi_year_contract_share > 1.0:
            raise ValueError("annual_contract_share + multi_year_contract_share must not exceed 1")
        return self


def _default_segments() -> dict[str, SegmentProfile]:
    return {
        "shipping_line": SegmentProfile(
            share=0.04,
            shipments_per_week=4.0,
            rate_dispersion=0.5,
            service_days=2,
            quiet_rate_factor=0.6,
            busy_mean_days=150,
            quiet_mean_days=21,
            teu_per_shipment=700,
            volume_sigma=0.35,
            price_per_teu=95,
            key_account_share=0.5,
            account_manager_share=0.9,
            edi_share=0.9,
            annual_contract_share=0.35,
            multi_year_contract_share=0.5,
            loyalty_share=0.25,
            competitor_offers_per_year=1.5,
            offer_acceptance=0.10,
            drifting_to_lost_per_year=2.0,
            drifting_to_engaged_per_year=1.5,
            sudden_loss_per_year=0.01,
            emails_per_year=36,
            inquiries_per_year=6,
        ),
        "shipper": SegmentProfile(
            share=0.38,
            shipments_per_week=1.2,
            rate_dispersion=0.8,
            quiet_rate_factor=0.5,
            busy_mean_days=90,
            quiet_mean_days=30,
            teu_per_shipment=30,
            volume_sigma=0.6,
            price_per_teu=150,
            key_account_share=0.12,
            account_manager_share=0.3,
            edi_share=0.3,
            annual_contract_share=0.35,
            multi_year_contract_share=0.15,
            loyalty_share=0.35,
            competitor_offers_per_year=1.5,
            offer_acceptance=0.18,
            drifting_to_lost_per_year=3.5,
            drifting_to_engaged_per_year=1.0,
            sudden_loss_per_year=0.025,
            emails_per_year=10,
            inquiries_per_year=4,
        ),
        "forwarder": SegmentProfile(
            share=0.43,
            shipments_per_week=0.5,
            rate_dispersion=1.1,
            quiet_rate_factor=0.2,
            busy_mean_days=45,
            quiet_mean_days=30,
            teu_per_shipment=5,
            volume_sigma=0.8,
            price_per_teu=170,
            key_account_share=0.02,
            account_manager_share=0.08,
            edi_share=0.15,
            annual_contract_share=0.2,
            multi_year_contract_share=0.05,
            loyalty_share=0.3,
            competitor_offers_per_year=2.5,
            offer_acceptance=0.16,
            drifting_to_lost_per_year=4.0,
            drifting_to_engaged_per_year=0.8,
            sudden_loss_per_year=0.04,
            emails_per_year=8,
            inquiries_per_year=6,
        ),
        "agent": SegmentProfile(
            share=0.15,
            shipments_per_week=0.8,
            rate_dispersion=0.9,
            quiet_rate_factor=0.35,
            busy_mean_days=60,
            quiet_mean_days=30,
            teu_per_shipment=12,
            volume_sigma=0.7,
            price_per_teu=160,
            key_account_share=0.04,
            account_manager_share=0.15,
            edi_share=0.25,
            annual_contract_share=0.25,
            multi_year_contract_share=0.05,
            loyalty_share=0.3,
            competitor_offers_per_year=2.0,
            offer_acceptance=0.15,
            drifting_to_lost_per_year=3.0,
            drifting_to_engaged_per_year=1.0,
            sudden_loss_per_year=0.03,
            emails_per_year=12,
            inquiries_per_year=5,
        ),
    }


class RegionProfile(StrictModel):
    """Share of customers headquartered in a region and how exposed it is to competing ports."""

    share: float = Field(ge=0.0, description="Share of customers (normalised).")
    competitor_exposure: float = Field(
        ge=0.0, description="Multiplier of competitor offers (a competing port nearby)."
    )


def _default_regions() -> dict[str, RegionProfile]:
    table = {
        "east_china": (0.30, 1.0),
        "south_china": (0.18, 1.4),
        "north_china": (0.12, 0.8),
        "southeast_asia": (0.12, 1.2),
        "northeast_asia": (0.08, 0.9),
        "europe": (0.08, 1.0),
        "americas": (0.06, 0.9),
        "middle_east_africa": (0.06, 1.1),
    }
    return {name: RegionProfile(share=s, competitor_exposure=e) for name, (s, e) in table.items()}


class CreditProfile(StrictModel):
    """Share of customers with a credit rating and its effect on sudden loss (insolvency)."""

    share: float = Field(ge=0.0, description="Share of customers (normalised).")
    sudden_loss_factor: float = Field(ge=0.0, description="Multiplier of the engaged → lost hazard.")


def _default_credit() -> dict[str, CreditProfile]:
    table = {"A": (0.30, 0.5), "B": (0.45, 1.0), "C": (0.20, 2.0), "D": (0.05, 5.0)}
    return {name: CreditProfile(share=s, sudden_loss_factor=f) for name, (s, f) in table.items()}


class HazardParams(StrictModel):
    """Modifiers of the daily transition hazards (multiplicative, known to the oracle)."""

    service_quality_effect: float = Field(
        default=0.5, ge=0.0, description="Engaged → drifting hazard × exp(−effect · quality z-score)."
    )
    key_account_factor: float = Field(
        default=0.4, gt=0.0, description="Key accounts: multiplier of every loss hazard."
    )
    key_account_recovery_factor: float = Field(
        default=2.0, gt=0.0, description="Key accounts: multiplier of drifting → engaged recovery."
    )
    edi_factor: float = Field(default=0.8, gt=0.0, description="EDI link: multiplier of loss hazards.")
    account_manager_factor: float = Field(
        default=0.85, gt=0.0, description="Account manager: multiplier of loss hazards."
    )
    contract_factors: dict[str, float] = Field(
        default_factory=lambda: {"spot": 1.0, "annual": 0.8, "multi_year": 0.6},
        description="Multiplier of engaged → drifting by contract type.",
    )
    loyalty_factor: float = Field(
        default=0.8, gt=0.0, description="Loyalty members: multiplier of engaged → drifting."
    )
    new_customer_boost: float = Field(
        default=1.0, ge=0.0, description="Extra engaged-state hazard at tenure 0 (× (1 + boost·e^(−t/τ)))."
    )
    new_customer_days: float = Field(
        default=180.0, gt=0.0, description="Decay time τ of the new-customer boost (days)."
    )
    price_response: float = Field(
        default=2.0,
        ge=0.0,
        description="Engaged → drifting × (1 + response · sensitivity · rise/5%) after a rise.",
    )
    price_memory_days: float = Field(
        default=90.0, gt=0.0, description="Decay time of the price-increase effect (days)."
    )
    exposure_shape: float = Field(
        default=2.0, gt=0.0, description="Gamma shape of customer competitor exposure (mean 1)."
    )
    drifting_rate_share: tuple[float, float] = Field(
        default=(0.2, 0.6), description="Range of ρ: the share of its rate a drifting customer keeps."
    )
    drifting_volume_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Drifting: volume per shipment × (share + (1 − share) · ρ).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        low, high = self.drifting_rate_share
        if not 0.0 < low <= high <= 1.0:
            raise ValueError("drifting_rate_share must satisfy 0 < low <= high <= 1")
        if set(self.contract_factors) != set(CONTRACTS):
            raise ValueError(f"contract_factors needs exactly {CONTRACTS}")
        return self


class PriceParams(StrictModel):
    """Prices, yearly rate reviews (price increases) and costs."""

    price_dispersion: float = Field(
        default=0.15, ge=0.0, description="Log-normal sigma of a customer's price around its segment's."
    )
    increase_mean: float = Field(default=0.04, description="Mean price change at a yearly rate review.")
    increase_sd: float = Field(default=0.03, ge=0.0, description="Sd of the price change at a review.")
    increase_min: float = Field(default=-0.02, description="Smallest price change at a review.")
    increase_max: float = Field(default=0.15, description="Largest price change at a review.")
    sensitivity_beta: tuple[float, float] = Field(
        default=(2.0, 3.0), description="Beta(a, b) of price sensitivity in [0, 1] (mean 0.4)."
    )
    cost_ratio_median: float = Field(
        default=0.72, gt=0.0, description="Median cost / revenue of a customer at the start."
    )
    cost_ratio_sigma: float = Field(
        default=0.18, ge=0.0, description="Log-normal sigma of the cost ratio (some exceed 1)."
    )
    cost_inflation: float = Field(default=0.02, description="Yearly growth of unit costs.")


class ServiceParams(StrictModel):
    """Service failures: delays and damage, driven by latent quality and terminal congestion."""

    delay_share: float = Field(
        default=0.10, gt=0.0, lt=1.0, description="Share of delayed shipments at average quality."
    )
    delay_median_hours: float = Field(default=10.0, gt=0.0, description="Median delay when delayed.")
    delay_sigma: float = Field(default=0.9, ge=0.0, description="Log-normal sigma of delay hours.")
    quality_delay_effect: float = Field(
        default=0.6, ge=0.0, description="Logit of delay falls by this per quality z-score."
    )
    damage_rate: float = Field(
        default=0.006, ge=0.0, le=1.0, description="Damage probability per shipment (containers)."
    )
    quality_damage_effect: float = Field(
        default=0.5, ge=0.0, description="Damage rate × exp(−effect · quality z-score)."
    )
    congestion_episodes_per_year: float = Field(
        default=3.0, ge=0.0, description="Terminal-wide congestion episodes per year."
    )
    congestion_mean_days: float = Field(default=10.0, ge=1.0, description="Mean episode length (days).")
    congestion_delay_effect: float = Field(
        default=1.5, ge=0.0, description="Logit of delay rises by this per unit of congestion."
    )


class SeasonParams(StrictModel):
    """Seasonality of shipment rates: an annual cycle and the Lunar New Year rush and slump."""

    annual_amplitude: float = Field(
        default=0.12, ge=0.0, lt=1.0, description="Rate × (1 + amplitude · cos(2π(day − peak)/365.25))."
    )
    peak_day_of_year: int = Field(
        default=270, ge=1, le=366, description="Day of year of the annual peak (pre-holiday season)."
    )
    lunar_new_year_rush: float = Field(
        default=0.25, ge=0.0, description="Extra rate in the rush before Lunar New Year."
    )
    rush_days: int = Field(default=21, ge=0, description="Length of the pre-holiday rush (days).")
    lunar_new_year_slump: float = Field(
        default=0.4, ge=0.0, lt=1.0, description="Rate cut in the holiday slump from Lunar New Year."
    )
    slump_days: int = Field(default=10, ge=0, description="Length of the holiday slump (days).")


class InteractionParams(StrictModel):
    """Complaints, claims, surveys and contacts: noisy observations of the latents."""

    complaint_base: float = Field(
        default=0.015, gt=0.0, lt=1.0, description="Complaint probability of a shipment without failure."
    )
    complaint_delay_effect: float = Field(
        default=1.1, ge=0.0, description="Complaint logit rises by this per 24 h of delay (capped 96 h)."
    )
    complaint_damage_effect: float = Field(
        default=2.5, ge=0.0, description="Complaint logit rises by this when the cargo was damaged."
    )
    complaint_drifting_effect: float = Field(
        default=0.0,
        ge=0.0,
        description="Complaint logit rises by this for shipments made while drifting (dissatisfaction).",
    )
    complaint_unresolved: float = Field(
        default=0.08, ge=0.0, le=1.0, description="Share of complaints never resolved."
    )
    complaint_resolution_hours: float = Field(
        default=30.0, gt=0.0, description="Median hours to resolve a complaint (key accounts: half)."
    )
    claim_share: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Share of damaged shipments followed by a claim."
    )
    claim_unresolved: float = Field(
        default=0.12, ge=0.0, le=1.0, description="Share of claims still open at the end."
    )
    claim_resolution_days: float = Field(default=14.0, gt=0.0, description="Median days to settle a claim.")
    survey_every_days: int = Field(default=91, ge=1, description="Days between survey campaigns.")
    survey_response: tuple[float, float, float] = Field(
        default=(0.35, 0.22, 0.05), description="Response rate when engaged, drifting, lost."
    )
    survey_key_account_bonus: float = Field(
        default=0.15, ge=0.0, description="Extra response rate of key accounts."
    )
    nps_base: float = Field(default=8.2, description="Mean NPS answer of an average engaged customer.")
    nps_quality_effect: float = Field(default=1.2, description="NPS points per quality z-score.")
    nps_customer_sd: float = Field(default=0.8, ge=0.0, description="Sd of a customer's own attitude.")
    nps_drifting_penalty: float = Field(default=1.5, description="NPS points lost when drifting.")
    nps_lost_penalty: float = Field(default=2.5, description="NPS points lost when lost.")
    nps_failure_penalty: float = Field(
        default=0.4, description="NPS points lost per failure (delay > 24 h or damage) in 90 days (≤ 5)."
    )
    nps_price_penalty: float = Field(
        default=1.0, description="NPS points lost per unit of recent price shock × sensitivity."
    )
    nps_noise: float = Field(default=1.2, ge=0.0, description="Sd of the answer noise.")
    calls_per_year: tuple[float, float, float] = Field(
        default=(24.0, 12.0, 3.0), description="Calls per year: key account, account-managed, other."
    )
    meetings_per_year: tuple[float, float, float] = Field(
        default=(6.0, 2.0, 0.3), description="Meetings per year: key account, account-managed, other."
    )
    redemptions_per_year: float = Field(
        default=4.0, ge=0.0, description="Loyalty redemptions per year of an engaged member."
    )
    drifting_factors: dict[str, float] = Field(
        default_factory=lambda: {
            "call": 1.2,
            "meeting": 0.7,
            "email": 0.6,
            "inquiry": 1.2,
            "loyalty_redemption": 0.5,
        },
        description="Contact rates of drifting customers relative to engaged ones.",
    )
    lost_factors: dict[str, float] = Field(
        default_factory=lambda: {
            "call": 0.3,
            "meeting": 0.15,
            "email": 0.1,
            "inquiry": 0.2,
            "loyalty_redemption": 0.0,
        },
        description="Contact rates of lost customers relative to engaged ones.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        kinds = {"call", "meeting", "email", "inquiry", "loyalty_redemption"}
        if set(self.drifting_factors) != kinds or set(self.lost_factors) != kinds:
            raise ValueError(f"drifting_factors and lost_factors need exactly {sorted(kinds)}")
        if not all(0.0 <= r <= 1.0 for r in self.survey_response):
            raise ValueError("survey_response rates must lie in [0, 1]")
        return self


class CohortParams(StrictModel):
    """A single acquisition cohort: every customer joins within one window (short histories)."""

    first: dt.date = Field(description="Day the first customer of the cohort joins (on or after the start).")
    days: int = Field(default=91, ge=1, description="Length of the joining window (days); joins are uniform.")


class ShockParams(StrictModel):
    """A market-wide shock: from a date, the hit customers' hazards and shipment rate change.

    The shock's dates and who it hits are fixed before the daily process runs (hit customers are
    drawn with the population), so the oracle knows them, as it knows rate reviews.
    """

    start: dt.date = Field(description="First day of the shock.")
    days: int | None = Field(default=None, ge=1, description="Length (days); None: until the end.")
    regions: tuple[str, ...] = Field(default=(), description="Regions hit (empty: all).")
    segments: tuple[str, ...] = Field(default=(), description="Segments hit (empty: all).")
    share: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of the customers of those regions and segments hit."
    )
    drifting_factor: float = Field(
        default=1.0, ge=0.0, description="Engaged → drifting hazard × this while the shock lasts."
    )
    lost_factor: float = Field(
        default=1.0, ge=0.0, description="Engaged → lost and drifting → lost hazards × this."
    )
    recovery_factor: float = Field(default=1.0, ge=0.0, description="Drifting → engaged recovery × this.")
    rate_factor: float = Field(
        default=1.0, ge=0.0, description="Shipment rate × this (a volume drop for everyone hit)."
    )


class SimulationConfig(StrictModel):
    """Size, calendar, truth grid and behaviour of one simulated port."""

    n_customers: int = Field(ge=1, description="Number of customers.")
    days: int = Field(ge=1, description="Days of history.")
    seed: int = Field(description="Random seed; same seed, same data.")
    start: dt.date = Field(description="First day of the history.")
    cutoff_step_days: int = Field(default=30, ge=1, description="Spacing of the truth cutoffs (days).")
    horizons_days: tuple[int, ...] = Field(
        default=(30, 90, 180), min_length=1, description="Churn horizons of the truth table (days)."
    )
    segments: dict[str, SegmentProfile] = Field(
        default_factory=_default_segments, description="Segment profiles (keys: the four segments)."
    )
    regions: dict[str, RegionProfile] = Field(default_factory=_default_regions)
    credit_ratings: dict[str, CreditProfile] = Field(default_factory=_default_credit)
    joining_share: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Share of customers joining during the history."
    )
    mean_tenure_years: float = Field(
        default=5.0, gt=0.0, description="Mean tenure at the start of customers already on the books."
    )
    initial_drifting_share: float = Field(
        default=0.06, ge=0.0, le=1.0, description="Share of existing customers drifting at the start."
    )
    hazards: HazardParams = Field(default_factory=HazardParams)
    prices: PriceParams = Field(default_factory=PriceParams)
    service: ServiceParams = Field(default_factory=ServiceParams)
    season: SeasonParams = Field(default_factory=SeasonParams)
    interactions: InteractionParams = Field(default_factory=InteractionParams)
    cohort: CohortParams | None = Field(
        default=None, description="A single acquisition cohort instead of the usual book (None: off)."
    )
    shocks: tuple[ShockParams, ...] = Field(default=(), description="Market-wide shocks (none by default).")
    shipments_only: bool = Field(
        default=False, description="Leave the interactions and customers tables empty (not written)."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.cohort is not None and not self.start <= self.cohort.first <= self.end:
            raise ValueError("cohort.first must lie between the start and the last simulated day")
        for shock in self.shocks:
            if not set(shock.regions) <= set(self.regions) or not set(shock.segments) <= set(SEGMENTS):
                raise ValueError(f"shock regions and segments must be configured ones: {shock}")
        if set(self.segments) != set(SEGMENTS):
            raise ValueError(f"segments needs exactly {SEGMENTS}")
        for name, table in (
            ("segments", self.segments),
            ("regions", self.regions),
            ("credit_ratings", self.credit_ratings),
        ):
            if not table or sum(p.share for p in table.values()) <= 0:
                raise ValueError(f"{name} shares must sum to a positive number")
        for name in (*self.regions, *self.credit_ratings):
            if any(ch in name for ch in ',"\n\r'):
                raise ValueError(
                    f"region and credit-rating names must not hold commas, quotes or breaks: {name!r}"
                )
        if any(h < 1 for h in self.horizons_days):
            raise ValueError("horizons_days must be positive")
        return self

    @property
    def end(self) -> dt.date:
        """Last simulated day."""
        return self.start + dt.timedelta(days=self.days - 1)

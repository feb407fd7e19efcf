"""Regime helpers: behavioural parameters drawn by seed, and an interaction mix rich in signal.

The other regimes are plain configuration (``SimulationConfig.cohort``, ``shocks``,
``shipments_only``); these two build parameter groups. Both return new validated configurations
and never touch the default book.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berth.simulation.config import SEGMENTS, InteractionParams, SimulationConfig

# Multiplicative ranges of the segment parameters drawn by ``draw_parameters`` (log-uniform).
_SEGMENT_RANGES = {
    "shipments_per_week": (0.6, 1.6),
    "rate_dispersion": (0.8, 1.25),
    "busy_mean_days": (0.6, 1.6),
    "quiet_mean_days": (0.6, 1.6),
    "competitor_offers_per_year": (0.5, 2.0),
    "offer_acceptance": (0.6, 1.6),
    "drifting_to_lost_per_year": (0.5, 2.0),
    "drifting_to_engaged_per_year": (0.5, 2.0),
    "sudden_loss_per_year": (0.5, 2.0),
}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def draw_parameters(config: SimulationConfig, seed: int) -> SimulationConfig:
    """``config`` with its behavioural parameters redrawn within plausible ranges (same seed, same draw).

    Per segment: cadence, busy/quiet cycle, competitor offers and acceptance, and the loss and
    recovery hazards are scaled by log-uniform factors (ranges in ``_SEGMENT_RANGES``), the quiet
    factor by U(0.6, 1.4). Book-wide: the initial drifting share, joining share, mean tenure, the
    effects of service quality, price rises and newness, the range of ρ and the seasonal
    amplitude. Sizes, prices and the truth grid are kept.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed % 2**64, 19]))
    segments: dict[str, Any] = {}
    for name in SEGMENTS:
        profile = config.segments[name]
        update: dict[str, float] = {
            attr: getattr(profile, attr) * _log_uniform(rng, low, high)
            for attr, (low, high) in _SEGMENT_RANGES.items()
        }
        update["busy_mean_days"] = max(update["busy_mean_days"], 1.0)
        update["quiet_mean_days"] = max(update["quiet_mean_days"], 1.0)
        update["offer_acceptance"] = min(update["offer_acceptance"], 0.9)
        update["quiet_rate_factor"] = min(profile.quiet_rate_factor * rng.uniform(0.6, 1.4), 0.95)
        segments[name] = profile.model_copy(update=update)
    low = rng.uniform(0.1, 0.4)
    hazards = config.hazards.model_copy(
        update={
            "service_quality_effect": rng.uniform(0.2, 0.8),
            "price_response": rng.uniform(0.5, 4.0),
            "new_customer_boost": rng.uniform(0.3, 2.0),
            "drifting_rate_share": (low, min(low + rng.uniform(0.2, 0.4), 0.9)),
        }
    )
    season = config.season.model_copy(update={"annual_amplitude": rng.uniform(0.05, 0.25)})
    data = config.model_dump()
    data.update(
        segments={k: v.model_dump() for k, v in segments.items()},
        hazards=hazards.model_dump(),
        season=season.model_dump(),
        initial_drifting_share=rng.uniform(0.03, 0.12),
        joining_share=rng.uniform(0.1, 0.4),
        mean_tenure_years=rng.uniform(2.0, 8.0),
    )
    return SimulationConfig.model_validate(data)  # validated again: the draw stays in range


def rich_interactions(base: InteractionParams | None = None) -> InteractionParams:
    """Interactions that carry more signal: monthly surveys, more answers, complaints when drifting.

    Surveys every 30 days with response rates (0.6, 0.45, 0.1); the NPS answer drops 3 points
    when drifting with less noise (sd 0.9); shipments made while drifting are more often followed
    by a complaint (logit + 1.5); drifting customers call and inquire more and email less.
    """
    base = base or InteractionParams()
    return InteractionParams.model_validate(
        base.model_dump()
        | {
            "survey_every_days": 30,
            "survey_response": (0.6, 0.45, 0.1),
            "nps_drifting_penalty": 3.0,
            "nps_noise": 0.9,
            "complaint_drifting_effect": 1.5,
            "drifting_factors": {
                "call": 1.6,
                "meeting": 0.5,
                "email": 0.35,
                "inquiry": 2.0,
                "loyalty_redemption": 0.25,
            },
        }
    )

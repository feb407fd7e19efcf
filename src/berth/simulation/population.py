"""Static customer attributes and the pre-drawn, deterministic schedules (calendar, congestion, prices).

Everything here is fixed before the daily process runs, so the oracle can use it: the seasonal
rate curve, each customer's weekday profile, the dates and sizes of its yearly price reviews.
Terminal congestion is pre-drawn too but only affects *observed* delays, never the hazards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from berth.simulation.config import CONTRACTS, SEGMENTS, SimulationConfig

CARGO_TYPES = ("container", "reefer", "bulk", "breakbulk", "ro_ro", "liquid_bulk")
CARGO_DAMAGE_FACTOR = np.array([1.0, 1.5, 0.5, 3.0, 1.5, 0.5])
# primary cargo mix by segment (rows follow SEGMENTS, columns CARGO_TYPES)
CARGO_MIX = np.array(
    [
        [0.85, 0.10, 0.00, 0.00, 0.05, 0.00],
        [0.60, 0.10, 0.10, 0.10, 0.05, 0.05],
        [0.75, 0.10, 0.00, 0.10, 0.05, 0.00],
        [0.50, 0.00, 0.20, 0.15, 0.05, 0.10],
    ]
)
LANES = (
    "intra_asia",
    "asia_europe",
    "transpacific",
    "asia_middle_east",
    "asia_africa",
    "asia_latin_america",
    "oceania",
    "domestic_coastal",
)
LANE_MIX = np.array([0.28, 0.18, 0.16, 0.09, 0.06, 0.06, 0.05, 0.12])
BUSINESS_WEEK = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.2])  # Mon..Sun, before normalising
CUSTOMERS_PER_MANAGER = 25

# Lunar New Year (春节) dates; outside the table the festival is taken to fall on 5 February.
LUNAR_NEW_YEAR = {
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25),
    2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
    2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23), 2032: (2, 11),
    2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}  # fmt: skip


@dataclass(frozen=True)
class Calendar:
    """Day-indexed schedules shared by all customers (index 0 = the start date)."""

    dates: np.ndarray  # datetime64[D]
    season: np.ndarray  # rate multiplier
    weekday: np.ndarray  # 0 = Monday
    congestion: np.ndarray  # terminal congestion level (0 = none)


@dataclass(frozen=True)
class Population:
    """Static latent and observable attributes of every customer (arrays of length n)."""

    segment: np.ndarray
    region: np.ndarray
    credit: np.ndarray
    contract: np.ndarray
    loyalty: np.ndarray
    key_account: np.ndarray
    account_manager: np.ndarray
    manager_id: np.ndarray  # -1: none
    edi: np.ndarray
    since_day: np.ndarray  # day index of joining (negative: before the start)
    initial_state: np.ndarray  # 0 engaged, 1 drifting
    initial_quiet: np.ndarray
    rate: np.ndarray  # engaged shipments per day, averaged over the busy/quiet cycle
    busy_rate: np.ndarray  # engaged shipments per day in a busy phase
    weekday_profile: np.ndarray  # (n, 7), mean 1
    quiet_factor: np.ndarray
    p_busy_to_quiet: np.ndarray
    p_quiet_to_busy: np.ndarray
    rho: np.ndarray
    drift_volume: np.ndarray
    teu: np.ndarray
    volume_sigma: np.ndarray
    price0: np.ndarray
    cost_ratio: np.ndarray
    sensitivity: np.ndarray
    quality: np.ndarray
    complaint_propensity: np.ndarray
    attitude: np.ndarray
    exposure: np.ndarray
    offers_per_year: np.ndarray
    engaged_to_drifting: np.ndarray  # static part of the yearly hazards
    engaged_to_lost: np.ndarray
    drifting_to_lost: np.ndarray
    drifting_to_engaged: np.ndarray
    cargo_primary: np.ndarray
    cargo_share: np.ndarray
    lane_primary: np.ndarray
    lane_share: np.ndarray
    review_day: np.ndarray  # (n, years); a day index past the end where there is no review
    review_change: np.ndarray  # (n, years) relative price change at that review
    shock_hit: np.ndarray  # (n, shocks) bool: whether each configured shock hits the customer

    @property
    def n(self) -> int:
        """Number of customers."""
        return int(self.segment.shape[0])

    def subset(self, lo: int, hi: int) -> Population:
        """Customers ``lo`` to ``hi − 1`` (views, no copies)."""
        return Population(**{f.name: getattr(self, f.name)[lo:hi] for f in fields(self)})


def shares(values: Sequence[float]) -> np.ndarray:
    """Weights normalised to sum to one."""
    weights = np.asarray(values, dtype=float)
    return weights / weights.sum()


def lunar_new_year(year: int) -> dt.date:
    """Date of Lunar New Year in ``year`` (5 February outside the built-in table)."""
    month, day = LUNAR_NEW_YEAR.get(year, (2, 5))
    return dt.date(year, month, day)


def build_calendar(config: SimulationConfig, rng: np.random.Generator) -> Calendar:
    """Seasonal rate curve, weekdays and pre-drawn congestion episodes for every simulated day."""
    days = config.days
    start = np.datetime64(config.start, "D")
    dates = start + np.arange(days)
    index = pd.DatetimeIndex(dates)
    s = config.season
    doy = index.day_of_year.to_numpy()
    season = 1.0 + s.annual_amplitude * np.cos(2 * np.pi * (doy - s.peak_day_of_year) / 365.25)
    for year in range(config.start.year, config.end.year + 2):
        festival = int((np.datetime64(lunar_new_year(year), "D") - start).astype(int))
        rush = np.arange(festival - s.rush_days, festival)
        slump = np.arange(festival, festival + s.slump_days)
        season[rush[(rush >= 0) & (rush < days)]] *= 1.0 + s.lunar_new_year_rush
        season[slump[(slump >= 0) & (slump < days)]] *= 1.0 - s.lunar_new_year_slump
    sv = config.service
    n_episodes = rng.poisson(sv.congestion_episodes_per_year * days / 365.0)
    first = rng.integers(0, days, n_episodes)
    length = rng.geometric(1.0 / sv.congestion_mean_days, n_episodes)
    severity = rng.uniform(0.5, 1.5, n_episodes)
    change = np.zeros(days + 1)
    np.add.at(change, first, severity)
    np.add.at(change, np.minimum(first + length, days), -severity)
    congestion = np.clip(np.cumsum(change[:days]), 0.0, None)
    weekday = (config.start.weekday() + np.arange(days)) % 7
    return Calendar(dates=dates, season=season, weekday=weekday, congestion=congestion)


def categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def build_population(config: SimulationConfig, rng: np.random.Generator) -> Population:
    """Draw every customer's static attributes from the configured segment, region and credit mixes."""
    n, days = config.n_customers, config.days
    profiles = [config.segments[name] for name in SEGMENTS]

    def per_segment(attr: str) -> np.ndarray:
        return np.array([getattr(p, attr) for p in profiles], dtype=float)[segment]

    segment = rng.choice(len(SEGMENTS), size=n, p=shares([p.share for p in profiles]))
    regions = list(config.regions.values())
    region = rng.choice(len(regions), size=n, p=shares([r.share for r in regions]))
    credits = list(config.credit_ratings.values())
    credit = rng.choice(len(credits), size=n, p=shares([c.share for c in credits]))

    # structural ties: key accounts always have an account manager, EDI and a contract
    key = rng.random(n) < per_segment("key_account_share")
    manager = key | (rng.random(n) < per_segment("account_manager_share"))
    edi = key | (rng.random(n) < per_segment("edi_share"))
    multi, annual = per_segment("multi_year_contract_share"), per_segment("annual_contract_share")
    u = rng.random(n)
    contract = np.where(u < multi, 2, np.where(u < multi + annual, 1, 0))
    contract = np.where(key, np.where(rng.random(n) < 0.7, 2, 1), contract)
    loyalty = rng.random(n) < per_segment("loyalty_share")
    n_managers = max(1, int(np.ceil(manager.sum() / CUSTOMERS_PER_MANAGER)))
    manager_id = np.where(manager, rng.integers(0, n_managers, n), -1)

    # joining: existing customers have an exponential tenure, joiners a uniform start day
    joins = rng.random(n) < config.joining_share if days > 1 else np.zeros(n, dtype=bool)
    tenure = np.minimum(rng.exponential(config.mean_tenure_years * 365.0, n), 40 * 365.0)
    since_day = np.where(joins, rng.integers(1, max(days, 2), n), -np.floor(tenure).astype(np.int64))
    initial_state = np.where(~joins & (rng.random(n) < config.initial_drifting_share), 1, 0)

    # cadence: log-normal rate, weekday profile, busy/quiet cycle
    rate = (
        per_segment("shipments_per_week") / 7.0 * np.exp(per_segment("rate_dispersion") * rng.normal(size=n))
    )
    service_days = np.array([p.service_days for p in profiles])[segment]
    weekday_profile = np.tile(BUSINESS_WEEK / BUSINESS_WEEK.mean(), (n, 1))
    fixed = service_days > 0
    order = np.argsort(rng.random((n, 7)), axis=1)
    chosen = np.zeros((n, 7), dtype=bool)
    np.put_along_axis(chosen, order, np.arange(7)[None, :] < service_days[:, None], axis=1)
    weekday_profile[fixed] = chosen[fixed] * (7.0 / np.maximum(service_days[fixed], 1))[:, None]
    quiet_factor = per_segment("quiet_rate_factor")
    p_bq = 1.0 / per_segment("busy_mean_days")
    p_qb = 1.0 / per_segment("quiet_mean_days")
    quiet_share = p_bq / (p_bq + p_qb)
    busy_rate = rate / (1.0 - quiet_share + quiet_share * quiet_factor)
    initial_quiet = rng.random(n) < quiet_share

    hz = config.hazards
    low, high = hz.drifting_rate_share
    rho = rng.uniform(low, high, n)
    drift_volume = hz.drifting_volume_share + (1.0 - hz.drifting_volume_share) * rho

    teu = per_segment("teu_per_shipment") * np.exp(0.5 * rng.normal(size=n))
    pr = config.prices
    price0 = per_segment("price_per_teu") * np.exp(pr.price_dispersion * rng.normal(size=n))
    cost_ratio = pr.cost_ratio_median * np.exp(pr.cost_ratio_sigma * rng.normal(size=n))
    sensitivity = rng.beta(*pr.sensitivity_beta, n)
    quality = rng.normal(size=n)
    complaint_propensity = rng.normal(0.0, 0.5, n)
    attitude = rng.normal(0.0, config.interactions.nps_customer_sd, n)

    exposure = np.array([r.competitor_exposure for r in regions])[region] * rng.gamma(
        hz.exposure_shape, 1.0 / hz.exposure_shape, n
    )
    offers = per_segment("competitor_offers_per_year") * exposure
    contract_factor = np.array([hz.contract_factors[c] for c in CONTRACTS])[contract]
    ties = (
        np.where(key, hz.key_account_factor, 1.0)
        * np.where(edi, hz.edi_factor, 1.0)
        * np.where(manager, hz.account_manager_factor, 1.0)
    )
    engaged_to_drifting = (
        offers
        * per_segment("offer_acceptance")
        * np.exp(-hz.service_quality_effect * quality)
        * ties
        * contract_factor
        * np.where(loyalty, hz.loyalty_factor, 1.0)
    )
    credit_factor = np.array([c.sudden_loss_factor for c in credits])[credit]
    engaged_to_lost = per_segment("sudden_loss_per_year") * credit_factor * ties
    drifting_to_lost = per_segment("drifting_to_lost_per_year") * ties
    drifting_to_engaged = per_segment("drifting_to_engaged_per_year") * np.where(
        key, hz.key_account_recovery_factor, 1.0
    )

    cargo_primary = categorical(rng, CARGO_MIX[segment])
    cargo_share = rng.beta(6.0, 1.5, n)
    lane_primary = rng.choice(len(LANES), size=n, p=LANE_MIX / LANE_MIX.sum())
    lane_share = rng.beta(4.0, 2.0, n)

    # Regimes draw last, and only when configured, so the default book keeps its exact draws.
    if config.cohort is not None:
        first = (config.cohort.first - config.start).days
        since_day = first + rng.integers(0, max(1, min(config.cohort.days, days - first)), n)
        initial_state = np.zeros(n, dtype=initial_state.dtype)  # joiners start engaged
    review_day, review_change = _price_reviews(config, rng, since_day, contract)
    shock_hit = _shock_hits(config, rng, segment, region)  # last: a shock leaves all else as it was
    return Population(
        segment=segment,
        region=region,
        credit=credit,
        contract=contract,
        loyalty=loyalty,
        key_account=key,
        account_manager=manager,
        manager_id=manager_id,
        edi=edi,
        since_day=since_day,
        initial_state=initial_state,
        initial_quiet=initial_quiet,
        rate=rate,
        busy_rate=busy_rate,
        weekday_profile=weekday_profile,
        quiet_factor=quiet_factor,
        p_busy_to_quiet=p_bq,
        p_quiet_to_busy=p_qb,
        rho=rho,
        drift_volume=drift_volume,
        teu=teu,
        volume_sigma=per_segment("volume_sigma"),
        price0=price0,
        cost_ratio=cost_ratio,
        sensitivity=sensitivity,
        quality=quality,
        complaint_propensity=complaint_propensity,
        attitude=attitude,
        exposure=exposure,
        offers_per_year=offers,
        engaged_to_drifting=engaged_to_drifting,
        engaged_to_lost=engaged_to_lost,
        drifting_to_lost=drifting_to_lost,
        drifting_to_engaged=drifting_to_engaged,
        cargo_primary=cargo_primary,
        cargo_share=cargo_share,
        lane_primary=lane_primary,
        lane_share=lane_share,
        review_day=review_day,
        review_change=review_change,
        shock_hit=shock_hit,
    )


def _shock_hits(
    config: SimulationConfig, rng: np.random.Generator, segment: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """(n, shocks) flags: customers of a shock's regions and segments, each hit with its share."""
    n = segment.shape[0]
    hit = np.zeros((n, len(config.shocks)), dtype=bool)
    region_names = list(config.regions)
    for j, shock in enumerate(config.shocks):
        eligible = np.ones(n, dtype=bool)
        if shock.regions:
            eligible &= np.isin(region, [region_names.index(r) for r in shock.regions])
        if shock.segments:
            eligible &= np.isin(segment, [SEGMENTS.index(s) for s in shock.segments])
        hit[:, j] = eligible & (rng.random(n) < shock.share)
    return hit


def _price_reviews(
    config: SimulationConfig, rng: np.random.Generator, since_day: np.ndarray, contract: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Yearly rate reviews: contract anniversaries, or 1 January for spot customers.

    No review in a customer's first 180 days; a review outside (0, days) is moved past the end.
    """
    n, days = since_day.shape[0], config.days
    start = np.datetime64(config.start, "D")
    since = pd.DatetimeIndex(start + since_day)
    month = np.where(contract > 0, since.month.to_numpy(), 1)
    mday = np.where(contract > 0, np.minimum(since.day.to_numpy(), 28), 1)
    years = np.arange(config.start.year, config.end.year + 1)
    review_day = np.empty((n, years.shape[0]), dtype=np.int64)
    for j, year in enumerate(years):
        first_of_month = np.datetime64(f"{year}-01", "M") + (month - 1)
        review = first_of_month.astype("datetime64[D]") + (mday - 1)
        review_day[:, j] = (review - start).astype(np.int64)
    valid = (review_day > 0) & (review_day < days) & (review_day >= since_day[:, None] + 180)
    review_day = np.where(valid, review_day, days + 1)
    pr = config.prices
    change = np.clip(
        rng.normal(pr.increase_mean, pr.increase_sd, review_day.shape), pr.increase_min, pr.increase_max
    )
    return review_day, np.where(valid, change, 0.0)

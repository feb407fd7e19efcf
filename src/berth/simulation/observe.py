"""Observable tables (shipments, interactions, customers) drawn from the latent paths.

Nothing here feeds back into the latent process: delays, damage, complaints, claims, survey
answers and contacts are noisy observations of the latents (service quality, price shock,
engagement state), which keeps the oracle exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from berth import tables
from berth.simulation.config import SEGMENTS, SimulationConfig
from berth.simulation.population import (
    CARGO_DAMAGE_FACTOR,
    CARGO_TYPES,
    LANES,
    Calendar,
    Population,
    shares,
)
from berth.simulation.process import DRIFTING, LOST, ProcessResult

US_PER_DAY = 86_400_000_000
US_PER_SECOND = 1_000_000
SHIPMENT_CHANNELS = ("edi", "portal", "email", "phone")
INTERACTION_CHANNELS = ("email", "phone", "portal", "wechat", "web", "in_person", "video", "app")
# channel mix by interaction type (every type of the contract), over INTERACTION_CHANNELS
CHANNEL_MIX = {
    "complaint": (0.35, 0.30, 0.15, 0.20, 0, 0, 0, 0),
    "inquiry": (0.20, 0.30, 0.30, 0.20, 0, 0, 0, 0),
    "survey": (0.30, 0, 0, 0, 0.70, 0, 0, 0),
    "meeting": (0, 0, 0, 0, 0, 0.60, 0.40, 0),
    "call": (0, 1.0, 0, 0, 0, 0, 0, 0),
    "email": (1.0, 0, 0, 0, 0, 0, 0, 0),
    "claim": (0.40, 0, 0.60, 0, 0, 0, 0, 0),
    "loyalty_redemption": (0, 0, 0.40, 0, 0, 0, 0, 0.60),
}
SHIPMENT_COLUMNS = (*tables.SHIPMENT_REQUIRED, *tables.SHIPMENT_OPTIONAL)
INTERACTION_COLUMNS = (*tables.INTERACTION_REQUIRED, *tables.INTERACTION_OPTIONAL)
CUSTOMER_COLUMNS = (*tables.CUSTOMER_REQUIRED, *tables.CUSTOMER_OPTIONAL)
FAILURE_DELAY_HOURS = 24.0
FAILURE_WINDOW_DAYS = 90


def labels(names: Sequence[str], codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """String column from integer codes into ``names`` (code −1: missing)."""
    codes = np.asarray(codes)
    missing = codes < 0
    indices = pa.array(codes.astype(np.int32), mask=missing if missing.any() else None)
    return pd.array(pc.take(pa.array(list(names), pa.string()), indices), dtype="str")


def _digits(n: int, place: int) -> np.ndarray:
    """Decimal digit at ``10**place`` of 0 … n − 1, from the repeating pattern (no division)."""
    block = 10**place
    if block >= n:
        return np.zeros(n, dtype=np.uint8)
    period = np.repeat(np.arange(10, dtype=np.uint8), block)
    return np.tile(period, -(-n // period.shape[0]))[:n]


def sequential_ids(prefix: str, n: int, width: int) -> pd.arrays.ArrowStringArray:
    """Identifiers ``prefix`` + zero-padded 0 … n − 1, built byte-wise (far faster than formatting)."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    size = head.shape[0] + width
    buf = np.empty((n, size), dtype=np.uint8)
    buf[:, : head.shape[0]] = head
    for k in range(width):
        buf[:, head.shape[0] + k] = _digits(n, width - 1 - k) + 48
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))
    return pd.array(array.cast(pa.string()), dtype="str")


def customer_ids(n: int) -> pd.arrays.ArrowStringArray:
    """``C000000`` … (six digits, more when needed)."""
    return sequential_ids("C", n, max(6, len(str(n - 1))))


def timestamps(start: dt.date, offset_us: np.ndarray) -> np.ndarray:
    """``datetime64[us]`` values ``offset_us`` microseconds after midnight of ``start``."""
    return np.datetime64(start, "us") + np.asarray(offset_us, dtype=np.int64).astype("timedelta64[us]")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _with_primary(rng: np.random.Generator, primary: np.ndarray, share: np.ndarray, k: int) -> np.ndarray:
    """Primary category with probability ``share``, otherwise one of the other ``k − 1`` uniformly."""
    other = (primary + 1 + rng.integers(0, k - 1, primary.shape[0], dtype=np.int8)) % k
    return np.where(rng.random(primary.shape[0], dtype=np.float32) < share, primary, other)


def _whole_seconds(seconds: np.ndarray) -> np.ndarray:
    """Durations in seconds as whole-second microsecond offsets."""
    return np.round(seconds).astype(np.int64) * US_PER_SECOND


def _business_seconds(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.integers(8 * 3600, 18 * 3600, size)


@dataclass(frozen=True)
class ShipmentArrays:
    """Per-shipment arrays that the interaction generators read (chronological order)."""

    customer: np.ndarray
    day: np.ndarray
    delay_hours: np.ndarray
    damaged: np.ndarray


def price_factor(pop: Population, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Cumulative price change of ``customer`` on ``day`` from its yearly reviews."""
    factor = np.ones(customer.shape[0])
    for j in range(pop.review_day.shape[1]):
        factor *= np.where(pop.review_day[customer, j] <= day, 1.0 + pop.review_change[customer, j], 1.0)
    return factor


def price_shock(pop: Population, customer: np.ndarray, day: np.ndarray, memory_days: float) -> np.ndarray:
    """Price-shock level (as in the hazards) of ``customer`` on ``day``."""
    shock = np.zeros(customer.shape[0])
    for j in range(pop.review_day.shape[1]):
        since = day - pop.review_day[customer, j]
        jump = np.maximum(pop.review_change[customer, j], 0.0) / 0.05
        shock += np.where(since >= 0, jump * np.exp(-np.maximum(since, 0) / memory_days), 0.0)
    return shock


def build_shipments(
    pop: Population,
    calendar: Calendar,
    proc: ProcessResult,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, ShipmentArrays]:
    """Expand the daily counts into one row per shipment with volume, money, delay and damage.

    Per-customer terms are computed once and gathered; temporaries are freed as soon as a column
    is done (at 100k customers there are ~10 million rows).
    """
    cust = np.repeat(proc.cell_customer, proc.cell_count)
    day = np.repeat(proc.cell_day, proc.cell_count)
    m = cust.shape[0]
    sv, pr = config.service, config.prices
    columns: dict[str, object] = {
        "customer_id": customer_ids(pop.n).take(cust),
        "shipment_id": sequential_ids("S", m, max(9, len(str(m - 1)))),
        "shipment_date": timestamps(config.start, day.astype(np.int64) * US_PER_DAY),
    }
    volume = np.where(proc.state[day, cust] == DRIFTING, pop.drift_volume[cust], 1.0)
    volume *= pop.teu[cust]
    volume *= np.exp(pop.volume_sigma[cust] * rng.standard_normal(m))
    volume = np.maximum(np.round(volume, 1), 0.1)
    revenue = volume * pop.price0[cust]
    revenue *= price_factor(pop, cust, day)

    congestion = calendar.congestion[day]
    logit = (_logit(sv.delay_share) - sv.quality_delay_effect * pop.quality)[cust]
    logit += sv.congestion_delay_effect * congestion
    delayed = rng.random(m, dtype=np.float32) < _sigmoid(logit)
    del logit
    hours = (np.log(sv.delay_median_hours) - 0.2 * pop.quality)[cust] + 0.35 * congestion
    del congestion
    hours += sv.delay_sigma * rng.standard_normal(m)
    delay = np.where(delayed, np.maximum(np.round(np.exp(hours), 1), 0.5), 0.0)
    del hours, delayed

    cargo = _with_primary(rng, pop.cargo_primary[cust], pop.cargo_share[cust], len(CARGO_TYPES))
    p_damage = (sv.damage_rate * np.exp(-sv.quality_damage_effect * pop.quality))[cust]
    p_damage *= CARGO_DAMAGE_FACTOR[cargo]
    damaged = (rng.random(m, dtype=np.float32) < p_damage).astype(float)
    del p_damage
    columns["cargo_type"] = labels(CARGO_TYPES, cargo)
    del cargo

    inflation = (1.0 + pr.cost_inflation) ** (np.arange(config.days) / 365.0)
    cost = (pop.price0 * pop.cost_ratio)[cust] * inflation[day]
    cost *= volume
    cost *= np.exp(0.08 * rng.standard_normal(m))
    cost *= 1.0 + 0.004 * delay
    cost += damaged * 0.5 * revenue

    lane = _with_primary(rng, pop.lane_primary[cust], pop.lane_share[cust], len(LANES))
    columns["lane"] = labels(LANES, lane)
    del lane
    u = rng.random(m, dtype=np.float32)
    channel = np.where(
        pop.edi[cust],
        np.where(u < 0.95, 0, 1),
        np.where(u < 0.55, 1, np.where(u < 0.90, 2, 3)),
    )
    del u
    columns["channel"] = labels(SHIPMENT_CHANNELS, channel)
    del channel
    columns.update(
        volume=volume,
        revenue=np.round(revenue, 2),
        cost=np.round(cost, 2),
        delay_hours=delay,
        damaged=damaged,
    )
    del revenue, cost
    shipments = pd.DataFrame({name: columns.pop(name) for name in SHIPMENT_COLUMNS}, copy=False)
    return shipments, ShipmentArrays(customer=cust, day=day, delay_hours=delay, damaged=damaged)


@dataclass
class _Events:
    """Columns of one interaction type before they are stacked into the table."""

    kind: str
    customer: np.ndarray
    time_us: np.ndarray
    score: np.ndarray | None = None
    resolved_us: np.ndarray | None = None  # −1: unresolved
    sentiment: np.ndarray | None = None


def _complaints(
    pop: Population,
    proc: ProcessResult,
    ships: ShipmentArrays,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> _Events:
    ip = config.interactions
    logit = (
        _logit(ip.complaint_base)
        + ip.complaint_delay_effect * np.minimum(ships.delay_hours, 96.0) / 24.0
        + ip.complaint_damage_effect * ships.damaged
        + pop.complaint_propensity[ships.customer]
    )
    if ip.complaint_drifting_effect:  # off by default: the default book keeps its exact values
        logit += ip.complaint_drifting_effect * (proc.state[ships.day, ships.customer] == DRIFTING)
    hit = np.flatnonzero(rng.random(logit.shape[0]) < _sigmoid(logit))
    cust, k = ships.customer[hit], hit.shape[0]
    time = (ships.day[hit] + rng.integers(0, 4, k)) * US_PER_DAY
    time += _business_seconds(rng, k) * US_PER_SECOND
    key = pop.key_account[cust]
    hours = np.exp(np.log(ip.complaint_resolution_hours) + rng.normal(size=k)) * np.where(key, 0.5, 1.0)
    open_ = rng.random(k) < ip.complaint_unresolved * np.where(key, 0.5, 1.0)
    resolved = np.where(open_, -1, time + _whole_seconds(hours * 3600.0))
    sentiment = rng.normal(-0.5, 0.25, k) - 0.1 * ships.damaged[hit]
    return _Events("complaint", cust, time, resolved_us=resolved, sentiment=sentiment)


def _claims(
    pop: Population, ships: ShipmentArrays, config: SimulationConfig, rng: np.random.Generator
) -> _Events:
    ip = config.interactions
    damaged = np.flatnonzero(ships.damaged > 0)
    hit = damaged[rng.random(damaged.shape[0]) < ip.claim_share]
    cust, k = ships.customer[hit], hit.shape[0]
    time = (ships.day[hit] + 1 + rng.integers(0, 10, k)) * US_PER_DAY
    time += _business_seconds(rng, k) * US_PER_SECOND
    days = np.exp(np.log(ip.claim_resolution_days) + 0.7 * rng.normal(size=k))
    resolved = np.where(rng.random(k) < ip.claim_unresolved, -1, time + _whole_seconds(days * 86_400.0))
    return _Events("claim", cust, time, resolved_us=resolved, sentiment=np.asarray(rng.normal(-0.4, 0.25, k)))


def _failure_counts(
    ships: ShipmentArrays, customer: np.ndarray, day: np.ndarray, days: int, window: int
) -> np.ndarray:
    """Failures (delay > 24 h or damage) of ``customer`` in the ``window`` days up to ``day``."""
    failed = (ships.delay_hours > FAILURE_DELAY_HOURS) | (ships.damaged > 0)
    stride = days + window + 1
    keys = np.sort(ships.customer[failed].astype(np.int64) * stride + ships.day[failed])
    query = customer.astype(np.int64) * stride + day
    return np.searchsorted(keys, query, side="right") - np.searchsorted(keys, query - window, side="right")


def _surveys(
    pop: Population,
    proc: ProcessResult,
    ships: ShipmentArrays,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> _Events:
    """Quarterly NPS campaigns; answers driven by latent satisfaction plus recent failures."""
    ip, days = config.interactions, config.days
    campaign_days = np.arange(ip.survey_every_days // 2, days, ip.survey_every_days)
    custs, resp_days = [], []
    response = np.asarray(ip.survey_response)
    for s in campaign_days:
        invited = np.flatnonzero(pop.since_day <= s - 30)
        p = response[proc.state[s, invited]] + ip.survey_key_account_bonus * pop.key_account[invited]
        answered = invited[rng.random(invited.shape[0]) < p]
        lag = np.minimum(rng.geometric(0.25, answered.shape[0]) - 1, 21)
        custs.append(answered)
        resp_days.append(s + lag)
    cust = np.concatenate(custs) if custs else np.zeros(0, dtype=np.int64)
    day = np.concatenate(resp_days) if resp_days else np.zeros(0, dtype=np.int64)
    keep = day < days
    cust, day = cust[keep], day[keep]
    state = proc.state[day, cust]
    failures = _failure_counts(ships, cust, day, days, FAILURE_WINDOW_DAYS)
    shock = price_shock(pop, cust, day, config.hazards.price_memory_days)
    mean = (
        ip.nps_base
        + ip.nps_quality_effect * pop.quality[cust]
        + pop.attitude[cust]
        - ip.nps_drifting_penalty * (state == DRIFTING)
        - ip.nps_lost_penalty * (state == LOST)
        - ip.nps_failure_penalty * np.minimum(failures, 5)
        - ip.nps_price_penalty * pop.sensitivity[cust] * shock
    )
    k = cust.shape[0]
    score = np.clip(np.round(mean + ip.nps_noise * rng.normal(size=k)), 0, 10)
    sentiment = (score - 6.5) / 4.0 + rng.normal(0.0, 0.2, k)
    time = day * US_PER_DAY + rng.integers(7 * 3600, 23 * 3600, k) * US_PER_SECOND
    return _Events("survey", cust, time, score=score, sentiment=sentiment)


def _contacts(
    kind: str,
    per_year: np.ndarray,
    pop: Population,
    proc: ProcessResult,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> _Events:
    """A Poisson stream whose rate depends on the daily engagement state (drawn by thinning)."""
    ip, days = config.interactions, config.days
    factor = np.array([1.0, ip.drifting_factors[kind], ip.lost_factors[kind]])
    top = factor.max()
    first = np.clip(pop.since_day, 0, days)
    span = days - first
    counts = rng.poisson(per_year * top * span / 365.0)
    cust = np.repeat(np.arange(pop.n), counts)
    day = first[cust] + np.floor(rng.random(cust.shape[0]) * span[cust]).astype(np.int64)
    state = proc.state[day, cust]
    keep = rng.random(cust.shape[0]) < factor[state] / top
    cust, day, state = cust[keep], day[keep], state[keep]
    k = cust.shape[0]
    time = day * US_PER_DAY + _business_seconds(rng, k) * US_PER_SECOND
    if kind == "loyalty_redemption":
        return _Events(kind, cust, time)
    drifting, lost = state == DRIFTING, state == LOST
    base = {"call": 0.15, "meeting": 0.3, "email": 0.05, "inquiry": 0.1}[kind]
    quality_weight = 0.15 if kind in {"call", "meeting"} else 0.0
    mean = base + quality_weight * pop.quality[cust] - 0.3 * drifting - 0.3 * lost
    return _Events(kind, cust, time, sentiment=rng.normal(mean, 0.3, k))


def _tiered(values: tuple[float, float, float], pop: Population) -> np.ndarray:
    return np.where(pop.key_account, values[0], np.where(pop.account_manager, values[1], values[2]))


def build_interactions(
    pop: Population,
    proc: ProcessResult,
    ships: ShipmentArrays,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Complaints, claims, surveys, calls, meetings, emails, inquiries and loyalty redemptions."""
    ip = config.interactions
    segment_rate = {
        attr: np.array([getattr(config.segments[s], attr) for s in SEGMENTS])[pop.segment]
        for attr in ("emails_per_year", "inquiries_per_year")
    }
    events = [
        _complaints(pop, proc, ships, config, rng),
        _claims(pop, ships, config, rng),
        _surveys(pop, proc, ships, config, rng),
        _contacts("call", _tiered(ip.calls_per_year, pop), pop, proc, config, rng),
        _contacts("meeting", _tiered(ip.meetings_per_year, pop), pop, proc, config, rng),
        _contacts("email", segment_rate["emails_per_year"], pop, proc, config, rng),
        _contacts("inquiry", segment_rate["inquiries_per_year"], pop, proc, config, rng),
        _contacts("loyalty_redemption", ip.redemptions_per_year * pop.loyalty, pop, proc, config, rng),
    ]
    end_us = config.days * US_PER_DAY

    def column(e: _Events, attr: str, fill: float) -> np.ndarray:
        value = getattr(e, attr)
        return np.full(e.customer.shape[0], fill) if value is None else value

    cust = np.concatenate([e.customer for e in events])
    time = np.concatenate([e.time_us for e in events])
    kind = np.concatenate(
        [np.full(e.customer.shape[0], tables.INTERACTION_TYPES.index(e.kind)) for e in events]
    )
    score = np.concatenate([column(e, "score", np.nan) for e in events])
    resolved = np.concatenate([column(e, "resolved_us", -1) for e in events]).astype(np.int64)
    sentiment = np.round(np.clip(np.concatenate([column(e, "sentiment", np.nan) for e in events]), -1, 1), 3)
    channel = np.concatenate(
        [
            rng.choice(len(INTERACTION_CHANNELS), e.customer.shape[0], p=shares(CHANNEL_MIX[e.kind]))
            for e in events
        ]
    )

    keep = time < end_us
    order = np.argsort(time[keep], kind="stable")
    idx = np.flatnonzero(keep)[order]
    start = config.start
    resolved_at = timestamps(start, np.maximum(resolved[idx], 0))
    resolved_at[(resolved[idx] < 0) | (resolved[idx] >= end_us)] = np.datetime64("NaT")
    columns = {
        "customer_id": customer_ids(pop.n).take(cust[idx]),
        "timestamp": timestamps(start, time[idx]),
        "type": labels(tables.INTERACTION_TYPES, kind[idx]),
        "score": score[idx],
        "resolved_at": resolved_at,
        "sentiment": sentiment[idx],
        "channel": labels(INTERACTION_CHANNELS, channel[idx]),
    }
    return pd.DataFrame({name: columns[name] for name in INTERACTION_COLUMNS}, copy=False)


def build_customers(pop: Population, config: SimulationConfig) -> pd.DataFrame:
    """The customers table: segment, region, since, credit rating, contract, loyalty, manager."""
    n_managers = int(pop.manager_id.max(initial=0)) + 1
    managers = sequential_ids("AM", n_managers, max(3, len(str(n_managers - 1))))
    columns = {
        "customer_id": customer_ids(pop.n),
        "segment": labels(SEGMENTS, pop.segment),
        "region": labels(tuple(config.regions), pop.region),
        "since": timestamps(config.start, pop.since_day * US_PER_DAY),
        "credit_rating": labels(tuple(config.credit_ratings), pop.credit),
        "contract": pop.contract > 0,  # the contract's column is a flag; the type is in latent
        "loyalty_member": pop.loyalty.astype(bool),
        "account_manager": labels(list(managers), pop.manager_id),
    }
    return pd.DataFrame({name: columns[name] for name in CUSTOMER_COLUMNS})

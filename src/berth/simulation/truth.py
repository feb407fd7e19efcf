"""The ground-truth table and the per-customer latent summary.

``truth`` has one row per (cutoff, horizon, customer) for customers that joined by the cutoff and
shipped at least once on or before it, and only where ``cutoff + horizon`` is inside the history:
``churned`` is 1 when the customer has no shipment in ``(cutoff, cutoff + horizon]`` and
``true_churn_probability`` is the oracle's exact probability of that event given the latent state
on the cutoff day.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from berth.simulation.config import CONTRACTS, SEGMENTS, SimulationConfig
from berth.simulation.observe import US_PER_DAY, labels, timestamps
from berth.simulation.population import Population
from berth.simulation.process import DRIFTING, LOST, STATE_NAMES, ProcessResult

TRUTH_COLUMNS = (
    "customer_id",
    "cutoff",
    "horizon_days",
    "true_churn_probability",
    "churned",
    "segment",
    "latent_state",
    "days_since_last_shipment",
)


def build_truth(
    pop: Population, proc: ProcessResult, config: SimulationConfig, ids: pd.arrays.ArrowStringArray
) -> pd.DataFrame:
    """Oracle probability and realised churn for every eligible customer, cutoff and horizon."""
    days, n = config.days, pop.n
    stride = np.int64(days + 1)
    keys = np.sort(proc.cell_customer.astype(np.int64) * stride + proc.cell_day)
    customers = np.arange(n, dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in TRUTH_COLUMNS}
    for i, cutoff in enumerate(proc.cutoff_days):
        pos = np.searchsorted(keys, customers * stride + cutoff, side="right")
        before = keys[np.maximum(pos - 1, 0)] if keys.size else np.zeros(n, dtype=np.int64)
        has_before = (pos > 0) & (before // stride == customers)
        after = keys[np.minimum(pos, keys.size - 1)] if keys.size else np.zeros(n, dtype=np.int64)
        next_day = np.where((pos < keys.size) & (after // stride == customers), after % stride, days + 1)
        eligible = np.flatnonzero(has_before & (pop.since_day <= cutoff))
        for j, horizon in enumerate(config.horizons_days):
            if cutoff + horizon > days - 1:
                continue
            k = eligible.shape[0]
            parts["customer_id"].append(eligible)
            parts["cutoff"].append(np.full(k, cutoff))
            parts["horizon_days"].append(np.full(k, horizon))
            parts["true_churn_probability"].append(proc.oracle[i, j, eligible])
            parts["churned"].append((next_day[eligible] > cutoff + horizon).astype(np.int8))
            parts["segment"].append(pop.segment[eligible])
            parts["latent_state"].append(proc.cutoff_state[i, eligible])
            parts["days_since_last_shipment"].append(cutoff - before[eligible] % stride)
    cols = {
        name: np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        for name, chunks in parts.items()
    }
    return pd.DataFrame(
        {
            "customer_id": ids.take(cols["customer_id"]),
            "cutoff": timestamps(config.start, cols["cutoff"].astype(np.int64) * US_PER_DAY),
            "horizon_days": cols["horizon_days"].astype(np.int64),
            "true_churn_probability": cols["true_churn_probability"].astype(float),
            "churned": cols["churned"].astype(np.int8),
            "segment": labels(SEGMENTS, cols["segment"]),
            "latent_state": labels(STATE_NAMES, cols["latent_state"]),
            "days_since_last_shipment": cols["days_since_last_shipment"].astype(np.int64),
        },
        copy=False,
    )


def _first_day(mask: np.ndarray, start: dt.date) -> np.ndarray:
    """Date of the first True along the day axis of a (days, n) mask (NaT when never)."""
    dates = timestamps(start, mask.argmax(axis=0).astype(np.int64) * US_PER_DAY)
    dates[~mask.any(axis=0)] = np.datetime64("NaT")
    return dates


def build_latent(
    pop: Population, proc: ProcessResult, config: SimulationConfig, ids: pd.arrays.ArrowStringArray
) -> pd.DataFrame:
    """Per-customer latent attributes and summaries of the latent path (for tests and docs)."""
    start = config.start
    drifting = proc.state == DRIFTING
    entries = drifting[0].astype(np.int64) + (drifting[1:] & ~drifting[:-1]).sum(axis=0)
    active_days = np.maximum(config.days - np.clip(pop.since_day, 0, config.days), 1)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "segment": labels(SEGMENTS, pop.segment),
            "contract": labels(CONTRACTS, pop.contract),
            "key_account": pop.key_account,
            "edi": pop.edi,
            "account_manager": pop.account_manager,
            "loyalty_member": pop.loyalty,
            "joined_during_history": pop.since_day > 0,
            "shipments_per_week": pop.rate * 7.0,
            "teu_per_shipment": pop.teu,
            "base_price_per_teu": pop.price0,
            "cost_ratio": pop.cost_ratio,
            "service_quality": pop.quality,
            "price_sensitivity": pop.sensitivity,
            "competitor_exposure": pop.exposure,
            "competitor_offers_per_year": pop.offers_per_year,
            "engaged_to_drifting_per_year": pop.engaged_to_drifting,
            "engaged_to_lost_per_year": pop.engaged_to_lost,
            "drifting_to_lost_per_year": pop.drifting_to_lost,
            "drifting_to_engaged_per_year": pop.drifting_to_engaged,
            "drifting_rate_share": pop.rho,
            "quiet_rate_factor": pop.quiet_factor,
            "quiet_share": proc.quiet_days / active_days,
            "initial_state": labels(STATE_NAMES, pop.initial_state),
            "final_state": labels(STATE_NAMES, proc.state[-1]),
            "first_drifting": _first_day(drifting, start),
            "lost_date": _first_day(proc.state == LOST, start),
            "drifting_episodes": entries,
            "days_drifting": drifting.sum(axis=0),
        }
    )

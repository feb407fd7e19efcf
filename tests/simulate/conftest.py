"""Simulated ports shared by the simulator tests (built once per session, seeded)."""

from __future__ import annotations

import datetime as dt

import pytest

from berth.simulate import SimulatedPort, SimulationConfig, simulate_port

START = dt.date(2024, 1, 1)


def small_config(n_customers: int = 2_000, seed: int = 7, days: int = 730) -> SimulationConfig:
    """A port small enough for unit tests, with the default behaviour."""
    return SimulationConfig(n_customers=n_customers, days=days, seed=seed, start=START)


@pytest.fixture(scope="session")
def port() -> SimulatedPort:
    """2,000 customers over two years."""
    return simulate_port(small_config())


@pytest.fixture(scope="session")
def big_port() -> SimulatedPort:
    """6,000 customers over two years, for the statistical checks of the oracle."""
    return simulate_port(small_config(n_customers=6_000, seed=11))

"""Simulated ports shared by the training tests (built once per session, seeded)."""

from __future__ import annotations

from datetime import date

import pytest

from berth.config import ModelConfig, TrainConfig
from berth.simulate import SimulatedPort, SimulationConfig, simulate_port
from berth.tables import PortData

START = date(2024, 1, 1)


def port_data(port: SimulatedPort) -> PortData:
    """The simulator's tables as validated-shaped PortData."""
    return PortData(shipments=port.shipments, interactions=port.interactions, customers=port.customers)


@pytest.fixture(scope="session")
def small_port() -> SimulatedPort:
    """1,500 customers over two years: enough for a real time split, fast to train."""
    return simulate_port(SimulationConfig(n_customers=1_500, days=730, seed=7, start=START))


@pytest.fixture
def fast_config() -> TrainConfig:
    """Training settings for tests: single-threaded, fewer rounds."""
    return TrainConfig(
        model=ModelConfig(num_boost_round=150, early_stopping_rounds=20, params={"nthread": 1})
    )

"""A trained bundle shared by the bundle and registry tests."""

from __future__ import annotations

from datetime import date

import pytest

from berth.config import ModelConfig, TrainConfig
from berth.simulate import SimulationConfig, simulate_port
from berth.tables import PortData
from berth.training import TrainedModel, train_churn_model


@pytest.fixture(scope="session")
def sim_data() -> PortData:
    port = simulate_port(SimulationConfig(n_customers=800, days=600, seed=5, start=date(2024, 1, 1)))
    return PortData(shipments=port.shipments, interactions=port.interactions, customers=port.customers)


@pytest.fixture(scope="session")
def trained(sim_data: PortData) -> TrainedModel:
    config = TrainConfig(
        min_training_rows=100,
        model=ModelConfig(num_boost_round=60, early_stopping_rounds=10, params={"nthread": 1}),
    )
    return train_churn_model(sim_data, config)

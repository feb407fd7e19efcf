"""A small trained book for the recommendation tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from berth.config import ModelConfig, TrainConfig
from berth.recommend.playbook import Playbook, load_playbook
from berth.simulate import SimulationConfig, simulate_port
from berth.tables import PortData
from berth.training import TrainedModel, train_churn_model

PLAYBOOK = Path(__file__).resolve().parents[2] / "configs" / "playbook.yaml"


@pytest.fixture(scope="session")
def book() -> PortData:
    port = simulate_port(SimulationConfig(n_customers=700, days=600, seed=21, start=date(2024, 1, 1)))
    return PortData(shipments=port.shipments, interactions=port.interactions, customers=port.customers)


@pytest.fixture(scope="session")
def book_model(book: PortData) -> TrainedModel:
    config = TrainConfig(
        min_training_rows=100,
        model=ModelConfig(num_boost_round=60, early_stopping_rounds=10, params={"nthread": 1}),
    )
    return train_churn_model(book, config)


@pytest.fixture(scope="session")
def playbook() -> Playbook:
    return load_playbook(PLAYBOOK)

"""The time split as a plot: logged with every run, even one too short to validate."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from berth.config import ModelConfig, TrainConfig
from berth.evaluation import plot_time_split
from berth.simulate import SimulationConfig, simulate_port
from berth.tables import PortData
from berth.training import train_churn_model


def test_plot_time_split_draws_each_slice(tmp_path: Path) -> None:
    start = date(2024, 1, 1)
    weeks = [start + timedelta(days=120 + 7 * i) for i in range(8)]
    path = plot_time_split(
        {"train": weeks[:4], "calibration": weeks[4:6], "validation": weeks[6:], "dropped": []},
        90,
        start,
        date(2025, 3, 1),
        tmp_path / "time_split.png",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_training_run_writes_the_time_split_plot_even_when_it_falls_back(tmp_path: Path) -> None:
    port = simulate_port(SimulationConfig(n_customers=150, days=240, seed=3, start=date(2024, 1, 1)))
    config = TrainConfig(
        model=ModelConfig(num_boost_round=20, early_stopping_rounds=5, params={"nthread": 1})
    )
    trained = train_churn_model(PortData(shipments=port.shipments), config, artifacts_dir=tmp_path)
    assert trained.plots["time_split"] == tmp_path / "time_split.png"
    assert (tmp_path / "time_split.png").stat().st_size > 0

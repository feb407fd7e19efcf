"""What `berth train` and `berth score` tell the user: each note once, why customers were not scored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from berth import cli, registry, training
from berth.io import write_table
from berth.registry import RegisteredRun
from berth.tables import PortData
from berth.training import TrainedModel


@pytest.fixture
def wide_console() -> Iterator[None]:
    widths = cli.console.width, cli.err_console.width
    cli.console.width = cli.err_console.width = 400
    yield
    cli.console.width, cli.err_console.width = widths


@pytest.fixture
def folder(tmp_path: Path, sim_data: PortData) -> Path:
    data = tmp_path / "data"
    write_table(sim_data.shipments, data / "shipments.csv")
    assert sim_data.customers is not None
    write_table(sim_data.customers, data / "customers.csv")
    return data


@pytest.mark.usefixtures("wide_console")
def test_train_prints_the_validation_table_and_each_note_once(
    folder: Path, trained: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_train(data: PortData, *args: Any, **kwargs: Any) -> TrainedModel:
        return replace(trained, notes=[*data.notes, "cutoffs: a note of the training"])

    monkeypatch.setattr(training, "train_churn_model", fake_train)
    monkeypatch.setattr(registry, "training_run", contextlib.nullcontext)
    monkeypatch.setattr(
        registry, "log_and_register", lambda *a, **k: RegisteredRun("r", "1", "m", "1", True, "first", None)
    )
    result = CliRunner().invoke(cli.app, ["train", "--data", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.count("Data validation") == 1
    assert result.output.count("interactions table absent") == 1
    assert result.output.count("cutoffs: a note of the training") == 1


@pytest.mark.usefixtures("wide_console")
def test_score_says_why_customers_were_not_scored(
    folder: Path, tmp_path: Path, trained: TrainedModel, sim_data: PortData
) -> None:
    bundle = tmp_path / "bundle"
    trained.bundle.save(bundle)
    as_of = pd.Timestamp(sim_data.shipments["shipment_date"].max()).date()
    out = tmp_path / "scores.csv"
    args = [
        "score",
        "--data",
        str(folder),
        "--as-of",
        str(as_of),
        "--output",
        str(out),
        "--bundle",
        str(bundle),
    ]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    scored = len(pd.read_csv(out))
    assert sim_data.customers is not None
    known = len(set(sim_data.shipments["customer_id"]) | set(sim_data.customers["customer_id"]))
    line = f"{known - scored:,} of {known:,} customers in the data not scored:"
    assert line in result.output
    assert f"no shipment in the 365 days up to {as_of} (the model's lookback_days)" in result.output

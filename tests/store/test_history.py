"""berth.history and ``berth ingest`` on SQLite and PostgreSQL: idempotent, quarantined, pruned."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from berth.cli import app
from berth.config import load_data_config
from berth.history import HistoryStore
from berth.ingest import ingest_folder, retention_days
from berth.store import Store

REFERENCE = date(2025, 7, 1)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B", "B"],
            "shipment_date": ["2024-01-05", "2025-06-01", "2025-06-20", "2025-05-01", "2025-05-01", "bad"],
            "shipment_id": ["S1", "S2", "S3", "", "", "S6"],
            "volume": ["1", "2", "3", "4", "4", "5"],
        }
    ).to_csv(folder / "shipments.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["A", "A", "B"],
            "timestamp": ["2025-06-02T10:00:00Z", "2025-06-02T10:00:00Z", "2025-05-03 08:00"],
            "type": ["complaint", "complaint", "survey"],
            "score": ["", "", "11"],
        }
    ).to_csv(folder / "interactions.csv", index=False)
    pd.DataFrame({"customer_id": ["A", "B"], "segment": ["forwarder", "shipper"]}).to_csv(
        folder / "customers.csv", index=False
    )
    return folder


def test_ingest_is_idempotent_and_counts_quarantine(store: Store, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    config = load_data_config(None).model_copy(
        update={"validation": load_data_config(None).validation.model_copy(update={"max_bad_share": 0.5})}
    )
    history = HistoryStore(store.engine)
    first = ingest_folder(folder, config, history, reference_date=REFERENCE)
    # two identical shipments without an id stay two; the repeated interaction is stored once
    assert (first.counts.shipments.new, first.counts.shipments.already_stored) == (5, 0)
    assert (first.counts.interactions.new, first.counts.interactions.already_stored) == (1, 1)
    assert first.counts.profiles.new == 2
    assert first.quarantined["shipments"] == {"shipment_date: not a date": 1}
    assert first.quarantined["interactions"] == {"score: outside 0-10": 1}
    second = ingest_folder(folder, config, history, reference_date=REFERENCE)
    assert second.counts.events_new == 0
    assert (second.counts.shipments.already_stored, second.counts.profiles.already_stored) == (5, 2)
    assert history.counts() == {"shipments": 5, "interactions": 1, "profiles": 2}


def test_ingest_prunes_to_the_lookback_and_stays_idempotent(store: Store, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    config = load_data_config(None).model_copy(
        update={"validation": load_data_config(None).validation.model_copy(update={"max_bad_share": 0.5})}
    )
    history = HistoryStore(store.engine)
    first = ingest_folder(folder, config, history, keep_days=365, reference_date=REFERENCE)
    assert first.kept_from == date(2024, 6, 21)  # the last shipment 2025-06-20, 365 days back
    assert first.too_old == 1  # the 2024-01-05 shipment: no feature window reaches it
    assert history.counts()["shipments"] == 4
    again = ingest_folder(folder, config, history, keep_days=365, reference_date=REFERENCE)
    assert again.counts.events_new == 0
    stored = history.history(["A", "B", "C"], date(2025, 6, 30))
    assert stored.customer_ids == ["A", "B"]
    assert stored.missing == ["C"]
    assert list(stored.shipment_starts) == [0, 2, 4]
    assert list(stored.columns["shipments"]["shipment_date"].astype(str)) == [
        "2025-06-01",
        "2025-06-20",
        "2025-05-01",
        "2025-05-01",
    ]


def test_retention_days_from_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "feature_spec.json").write_text(json.dumps({"lookback_days": 400}))
    assert retention_days(tmp_path, None) is None  # pruning is opt-in: whole-history features
    assert retention_days(tmp_path, 730) == 730
    assert retention_days(tmp_path, 90) == 400  # never below what the features read
    assert retention_days(None, 90) == 90
    assert retention_days(None, None) is None


def test_cli_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    pd.DataFrame({"customer_id": ["A", "B"], "shipment_date": ["2025-06-01", "2025-06-02"]}).to_csv(
        folder / "shipments.csv", index=False
    )
    monkeypatch.setenv("BERTH_DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
    first = CliRunner().invoke(app, ["ingest", "--data", str(folder), "--retention-days", "365"])
    assert first.exit_code == 0, first.output
    assert "shipments: 2 new, 0 already stored" in first.output
    second = CliRunner().invoke(app, ["ingest", "--data", str(folder)])
    assert second.exit_code == 0, second.output
    assert "shipments: 0 new, 2 already stored" in second.output
    assert "No pruning" in second.output

"""berth.store on SQLite and PostgreSQL: migrations, scores, prediction log, feedback, API keys."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from berth.errors import DataContractError
from berth.store import PredictionLogEntry, Store, hash_api_key, metadata, upgrade


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert diff == []
    tables = set(inspect(store.engine).get_table_names())
    assert {"scores", "prediction_log", "feedback", "api_keys", "alembic_version"} <= tables


def test_upgrade_is_idempotent(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    store = Store(db_url)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0004"
    finally:
        store.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path}/wal.db"
    upgrade(url)
    store = Store(url)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar_one() == 1  # NORMAL
    finally:
        store.dispose()


def test_ping(store: Store) -> None:
    assert store.ping()
    broken = Store("sqlite:////nonexistent-dir/x/y.db")
    assert not broken.ping()
    broken.dispose()


def _scores_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "A"],
            "as_of": pd.to_datetime(["2025-03-31", "2025-06-30", "2025-06-30", "2025-01-31"]),
            "churn_probability": [0.3, 0.8, 0.1, 0.5],
            "partial_churn_probability": [0.2, None, 0.05, 0.1],
            "risk_band": ["medium", "critical", "low", "high"],
        }
    )


def test_write_scores_and_latest(store: Store) -> None:
    assert store.write_scores(_scores_frame(), "berth-churn", "3") == 4
    latest = store.latest_score("A")
    assert latest is not None
    assert latest.as_of == date(2025, 6, 30)
    assert latest.churn_probability == 0.8
    assert latest.partial_churn_probability is None
    assert (latest.model_name, latest.model_version, latest.risk_band) == ("berth-churn", "3", "critical")
    assert latest.scored_at.tzinfo is not None
    assert store.latest_score("nobody") is None


def test_scores_keep_tiers_value_and_taxonomy(store: Store) -> None:
    frame = _scores_frame().assign(
        tier_current="gold",
        tier_expected="silver",
        tier_probabilities='{"lapsed": 0.1, "silver": 0.6, "gold": 0.3}',
        p_downgrade=0.7,
        p_upgrade=0.0,
        expected_shipments=12.5,
        expected_revenue=3_400.0,
        clv=float("nan"),
        p_alive=0.9,
        activity_state="dozing",
        loyalty_form="spurious",
        abc_class="A",
        relationship_level="partnership",
        upgrade_stage="loyal",
    )
    store.write_scores(frame, "berth-churn", "5")
    latest = store.latest_score("A")
    assert latest is not None
    assert latest.loyalty["tier_current"] == "gold"
    assert latest.loyalty["tier_probabilities"] == {"lapsed": 0.1, "silver": 0.6, "gold": 0.3}
    assert latest.loyalty["expected_revenue"] == 3_400.0
    assert "clv" not in latest.loyalty  # unknown stays unknown, never 0
    assert latest.loyalty["relationship_level"] == "partnership"


def test_a_rescore_of_the_same_date_wins(store: Store) -> None:
    store.write_scores(_scores_frame(), "berth-churn", "3")
    again = _scores_frame().iloc[[1]].assign(churn_probability=0.6, risk_band="high")
    again["scored_at"] = datetime.now(UTC) + timedelta(minutes=1)
    store.write_scores(again, "berth-churn", "4")
    latest = store.latest_score("A")
    assert latest is not None
    assert latest.model_version == "4"
    assert latest.churn_probability == 0.6


def test_write_scores_rejects_bad_loyalty_values(store: Store) -> None:
    for column, value, match in (
        ("p_downgrade", 1.5, "p_downgrade"),
        ("clv", float("inf"), "clv"),
        ("tier_probabilities", "not json", "tier_probabilities"),
        ("activity_state", "x" * 40, "activity_state"),
    ):
        frame = _scores_frame().assign(**{column: None})
        frame[column] = frame[column].astype(object)
        frame.loc[2, column] = value
        with pytest.raises(DataContractError, match=match):
            store.write_scores(frame, "m", "1")
    assert store.latest_score("A") is None


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("churn_probability", 1.5, "not in"),
        ("churn_probability", float("nan"), "missing"),
        ("churn_probability", float("inf"), "not in"),
        ("partial_churn_probability", -0.1, "not in"),
        ("risk_band", "extreme", "risk_band"),
    ],
)
def test_write_scores_rejects_bad_rows(store: Store, column: str, value: object, match: str) -> None:
    frame = _scores_frame()
    frame[column] = frame[column].astype(object)
    frame.loc[2, column] = value
    with pytest.raises(DataContractError, match=match):
        store.write_scores(frame, "m", "1")
    assert store.latest_score("A") is None  # nothing half-written


def test_write_scores_needs_columns(store: Store) -> None:
    with pytest.raises(DataContractError, match="lacks columns"):
        store.write_scores(pd.DataFrame({"customer_id": ["A"]}), "m", "1")
    assert store.write_scores(_scores_frame().iloc[0:0], "m", "1") == 0


def test_prediction_log(store: Store) -> None:
    now = datetime(2025, 7, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    rows = [
        PredictionLogEntry("r1", f"C-{i}", "7", "ab" * 32, {"churn_probability": 0.1 * i, "drivers": []}, now)
        for i in range(3)
    ]
    store.log_predictions(rows)
    store.log_predictions([])
    assert store.count_predictions() == 3
    assert store.count_predictions("r1") == 3
    assert store.count_predictions("r2") == 0
    stored = store.predictions("r1")
    assert [r.customer_id for r in stored] == ["C-0", "C-1", "C-2"]
    assert stored[2].outputs == {"churn_probability": pytest.approx(0.2), "drivers": []}
    assert stored[0].created_at == datetime(2025, 7, 1, 10, tzinfo=UTC)


def test_prediction_log_outputs_are_stored_as_json(store: Store) -> None:
    """Outputs go through the engine's JSON serializer: nested values round-trip, NaN becomes null
    (standard JSON, which PostgreSQL's json type requires)."""
    outputs = {
        "churn_probability": 0.1234567890123,
        "partial_churn_probability": None,
        "drivers": [{"name": "recency", "contribution": -0.5, "label_zh": "最近一次发货"}],
        "unexplained": float("nan"),
        "from_numpy": [np.float64(0.25), np.int64(3), np.bool_(True)],
    }
    store.log_predictions([PredictionLogEntry("r9", "C-9", "7", "cd" * 32, outputs, datetime.now(UTC))])
    (stored,) = store.predictions("r9")
    assert stored.outputs == {**outputs, "unexplained": None, "from_numpy": [0.25, 3, True]}


def test_concurrent_prediction_log_writes(store: Store) -> None:
    now = datetime.now(UTC)

    def write(thread: int) -> None:
        for batch in range(10):
            store.log_predictions(
                [PredictionLogEntry(f"t{thread}-{batch}", f"C-{i}", "1", "0" * 64, {}, now) for i in range(5)]
            )

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_predictions() == 4 * 10 * 5


def test_feedback(store: Store) -> None:
    taken = datetime(2025, 7, 2, 14, tzinfo=UTC)
    feedback_id = store.add_feedback("C-1", "call", taken, notes="n", request_id="r1")
    assert isinstance(feedback_id, int)
    record = store.get_feedback(feedback_id)
    assert record is not None
    assert (record.customer_id, record.action, record.taken_at, record.outcome) == (
        "C-1",
        "call",
        taken,
        None,
    )
    assert store.record_outcome(feedback_id, "retained", taken + timedelta(days=60))
    record = store.get_feedback(feedback_id)
    assert record is not None
    assert record.outcome == "retained"
    assert not store.record_outcome(feedback_id + 1000, "retained", taken)
    assert store.get_feedback(feedback_id + 1000) is None
    assert store.add_feedback("C-2", "discount", taken) == feedback_id + 1


def test_api_keys(store: Store) -> None:
    key_id, plaintext = store.create_api_key(["score", "admin", "score"], name="crm")
    assert plaintext.startswith(key_id + ".")
    assert len(plaintext.split(".")[1]) >= 43  # 32 random bytes
    record = store.verify_api_key(plaintext)
    assert record is not None
    assert (record.key_id, record.name, record.scopes) == (key_id, "crm", frozenset({"score", "admin"}))
    assert store.verify_api_key(plaintext + "x") is None
    assert store.verify_api_key(key_id) is None
    assert store.verify_api_key("") is None
    with store.engine.connect() as connection:
        stored_hash = connection.execute(text("SELECT key_hash FROM api_keys")).scalar_one()
    assert stored_hash == hash_api_key(plaintext)
    assert plaintext not in stored_hash

    other_id, other = store.create_api_key(["score"])
    assert store.revoke_api_key(key_id)
    assert not store.revoke_api_key(key_id)
    assert not store.revoke_api_key("bk_unknown")
    assert store.verify_api_key(plaintext) is None
    assert store.verify_api_key(other) is not None
    listed = {r.key_id: r for r in store.list_api_keys()}
    assert listed[key_id].revoked_at is not None
    assert listed[other_id].revoked_at is None


@pytest.mark.parametrize("scopes", [[], ["root"], ["score", "superuser"]])
def test_api_key_scopes_are_checked(store: Store, scopes: list[str]) -> None:
    with pytest.raises(ValueError, match="scopes"):
        store.create_api_key(scopes)

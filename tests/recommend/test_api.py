"""Recommendations over HTTP: beside scores (same code as berth plan), from a stored plan or
score, feedback linked to its campaign, and feedback imported from a CRM export."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from berth import tables
from berth.api.app import create_app
from berth.bundle import BundleScorer
from berth.cli import app as cli
from berth.features import HistoryArrays
from berth.recommend.campaign import customer_frame
from berth.recommend.playbook import Playbook
from berth.recommend.ranking import candidate_actions, recommend
from berth.settings import Settings
from berth.store import Store
from berth.tables import PortData
from berth.training import TrainedModel

from .conftest import PLAYBOOK

# the data contract's columns of a customer's records (berth.tables), without the customer id
SHIPMENT_FIELDS = (tables.SHIPMENT_DATE, *tables.SHIPMENT_OPTIONAL)
INTERACTION_FIELDS = (tables.TIMESTAMP, tables.INTERACTION_TYPE, *tables.INTERACTION_OPTIONAL)
PROFILE_FIELDS = tables.CUSTOMER_OPTIONAL


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _records(frame: pd.DataFrame, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for row in frame[[f for f in fields if f in frame]].to_dict("records"):
        out.append({k: v for k, v in ((k, _json_value(v)) for k, v in row.items()) if v is not None})
    return out


def body(book: PortData, ids: list[str], as_of: date) -> dict[str, Any]:
    """A POST /v1/scores body with these customers' histories up to ``as_of``."""
    cut = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    ships = book.shipments[book.shipments["shipment_date"] < cut]
    events = book.interactions[book.interactions["timestamp"] < cut]
    profile = book.customers.set_index("customer_id")
    customers = []
    for cid in ids:
        shipments = _records(ships[ships["customer_id"] == cid], SHIPMENT_FIELDS)
        for s in shipments:
            s["shipment_date"] = s["shipment_date"][:10]
            if "damaged" in s:
                s["damaged"] = bool(s["damaged"])
        interactions = _records(events[events["customer_id"] == cid], INTERACTION_FIELDS)
        for x in interactions:
            for name in ("timestamp", "resolved_at"):
                if name in x:  # midnight came out as a date
                    x[name] = pd.Timestamp(x[name]).isoformat()
        person = _records(profile.loc[[cid]], PROFILE_FIELDS)[0]
        person["since"] = person["since"][:10]
        customers.append(
            {"customer_id": cid, "shipments": shipments, "interactions": interactions, "profile": person}
        )
    return {"as_of": as_of.isoformat(), "customers": customers}


@pytest.fixture
def client(tmp_path: Path, book_model: TrainedModel) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        environment="development",
        auth_disabled=True,
        playbook_path=PLAYBOOK,
    )
    scorer = BundleScorer(book_model.bundle)
    with TestClient(create_app(settings, lambda: scorer)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def frame_recommendations(book: PortData, book_model: TrainedModel, playbook: Playbook) -> pd.DataFrame:
    """What berth plan's path recommends for every customer at the training cutoff."""
    as_of = book_model.training_cutoff
    scorer = BundleScorer(book_model.bundle)
    history = HistoryArrays.from_port_data(book, known_until=as_of)
    customers = customer_frame(scorer, history, as_of, playbook, "en")
    return recommend(candidate_actions(customers, playbook), customers["customer_id"].tolist(), 3)


@pytest.mark.slow
def test_scores_carry_the_same_recommendations_as_berth_plan(
    client: TestClient, book: PortData, book_model: TrainedModel, frame_recommendations: pd.DataFrame
) -> None:
    paying = frame_recommendations[frame_recommendations["rank"] == 1]
    ids = sorted(paying["customer_id"].unique())[:6]
    unpaid = frame_recommendations[frame_recommendations["rank"] == 0]["customer_id"].head(2).tolist()
    response = client.post("/v1/scores", json=body(book, ids + unpaid, book_model.training_cutoff))
    assert response.status_code == 200, response.text
    assert response.headers["content-language"] == "en"
    scores = {s["customer_id"]: s for s in response.json()["scores"]}
    for cid in ids:
        served = scores[cid]["recommendations"]
        expected = frame_recommendations[frame_recommendations["customer_id"] == cid].sort_values("rank")
        assert [r["action"] for r in served] == expected["action"].tolist()
        for got, (_, want) in zip(served, expected.iterrows(), strict=True):
            assert got["expected_net_value"] == pytest.approx(want["expected_net_value"], rel=1e-6, abs=0.01)
            assert got["cost"] == want["cost"]
        values = [r["expected_net_value"] for r in served]
        assert values == sorted(values, reverse=True)
        assert values[-1] > 0
        assert scores[cid]["recommendation_note"] is None
    for cid in unpaid:
        assert scores[cid]["recommendations"] == []
        note = scores[cid]["recommendation_note"]
        assert note == frame_recommendations.set_index("customer_id").loc[cid, "reason"]


@pytest.mark.slow
def test_driver_sentences_follow_lang_and_accept_language(
    client: TestClient, book: PortData, book_model: TrainedModel
) -> None:
    ids = sorted(book.customers["customer_id"])[:3]
    payload = body(book, ids, book_model.training_cutoff)
    chinese = client.post("/v1/scores", json=payload, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    english = client.post("/v1/scores?lang=en", json=payload, headers={"Accept-Language": "zh-CN"})
    assert chinese.headers["content-language"] == "zh"
    assert english.headers["content-language"] == "en"
    zh_sentences = [d["sentence"] for s in chinese.json()["scores"] for d in s["drivers"]]
    en_sentences = [d["sentence"] for s in english.json()["scores"] for d in s["drivers"]]
    assert zh_sentences
    assert len(zh_sentences) == len(en_sentences)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in zh_sentences)
    assert all(text.isascii() for text in en_sentences)
    off = client.post("/v1/scores?recommendations=false", json=payload).json()["scores"]
    assert all(s["recommendations"] is None and s["recommendation_note"] is None for s in off)
    refused = client.post("/v1/scores?lang=fr", json=payload)
    assert refused.status_code == 422
    assert "lang" in refused.text


def _plan_rows() -> pd.DataFrame:
    common = {"as_of": "2025-06-30", "churn_probability": 0.5, "value_at_risk": 10_000.0, "uplift": 0.2}
    return pd.DataFrame(
        [
            {
                **common,
                "campaign_id": "c1",
                "customer_id": "A",
                "action": "follow_up_call",
                "group": "treatment",
                "cost": 50.0,
                "expected_saved_value": 1000.0,
                "expected_net_value": 950.0,
                "lead_driver_sentence": "on-time share fell",
            },
            {
                **common,
                "campaign_id": "c1",
                "customer_id": "B",
                "action": "account_manager_visit",
                "group": "control",
                "cost": 400.0,
                "expected_saved_value": 1000.0,
                "expected_net_value": 600.0,
                "lead_driver_sentence": None,
            },
        ]
    )


def test_recommendations_by_customer_from_the_stored_plan_then_the_score(client: TestClient) -> None:
    store: Store = client.app.state.services.store  # type: ignore[attr-defined]
    assert client.get("/v1/customers/A/recommendations").status_code == 404
    assert store.write_plan(_plan_rows(), "berth-churn", "3") == 2
    # storing a campaign again replaces its rows, never duplicates them
    assert store.write_plan(_plan_rows(), "berth-churn", "3") == 2
    treated = client.get("/v1/customers/A/recommendations").json()
    assert treated["source"] == "plan"
    assert treated["group"] == "treatment"
    assert treated["campaign_id"] == "c1"
    assert [r["action"] for r in treated["recommendations"]] == ["follow_up_call"]
    assert treated["recommendations"][0]["expected_net_value"] == 950.0
    control = client.get("/v1/customers/B/recommendations").json()
    assert control["group"] == "control"
    assert control["recommendations"] == []
    assert "control" in control["note"]
    # without a plan: the playbook applied to the latest stored score
    score = pd.DataFrame(
        [
            {
                "customer_id": "Z",
                "as_of": "2025-06-30",
                "churn_probability": 0.7,
                "risk_band": "critical",
                "clv": 500_000.0,
                "expected_revenue": 900_000.0,
                "activity_state": "dozing",
                "abc_class": "A",
                "relationship_level": "partnership",
                "loyalty_form": "spurious",
                "driver_1": "service",
                "driver_1_contribution": 0.8,
            }
        ]
    )
    store.write_scores(score, "berth-churn", "3")
    from_score = client.get("/v1/customers/Z/recommendations").json()
    assert from_score["source"] == "score"
    assert from_score["group"] is None
    assert from_score["recommendations"], from_score
    assert all(r["expected_net_value"] > 0 for r in from_score["recommendations"])
    # a later campaign that leaves A out: A's old action is no recommendation any more
    later = _plan_rows().iloc[[1]].assign(campaign_id="c2", as_of="2025-09-30", customer_id="Q")
    store.write_plan(later, "berth-churn", "3")
    assert client.get("/v1/customers/A/recommendations").status_code == 404  # no stored score for A
    assert client.get("/v1/customers/Q/recommendations").json()["campaign_id"] == "c2"
    # feedback quotes the campaign it answers
    created = client.post(
        "/v1/feedback",
        json={
            "customer_id": "A",
            "action": "follow_up_call",
            "taken_at": "2025-07-02T10:00:00Z",
            "campaign_id": "c1",
        },
    )
    assert created.status_code == 201
    assert store.get_feedback(created.json()["id"]).campaign_id == "c1"  # type: ignore[union-attr]


def test_store_refuses_a_plan_with_a_customer_twice(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    store.upgrade()
    rows = _plan_rows()
    rows.loc[1, "customer_id"] = "A"
    with pytest.raises(Exception, match="each customer once"):
        store.write_plan(rows, "m", "1")


def test_feedback_import_stores_valid_rows_once_and_quarantines_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    monkeypatch.setenv("BERTH_DATABASE_URL", url)
    export = tmp_path / "crm.csv"
    export.write_text(
        "customer_id,action,taken_at,outcome,outcome_at,campaign_id\n"
        "C1,follow_up_call,2025-07-01T10:00:00Z,retained,2025-09-01T00:00:00Z,c1\n"
        "C2,follow_up_call,2025-07-01,,,\n"
        "C3,,2025-07-01T10:00:00Z,,,\n"
        "C5,visit,2025-07-01T10:00:00Z,lost,2025-06-01T00:00:00Z,\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    first = runner.invoke(cli, ["feedback", "import", str(export)])
    assert first.exit_code == 0, first.output
    assert "Stored 2 of 4 feedback rows" in " ".join(first.output.split())
    quarantined = pd.read_csv(tmp_path / "crm.quarantine.csv")
    assert quarantined["line"].tolist() == [4, 5]
    assert quarantined["reason"].tolist() == ["action: Field required", "row: outcome_at is before taken_at"]
    again = runner.invoke(cli, ["feedback", "import", str(export)])
    said = " ".join(again.output.split())  # rich wraps long lines
    assert "Stored 0 of 4" in said
    assert "2 already stored" in said
    # the CRM re-exports the C2 action once its outcome is known: the outcome is added, not a twin
    later = tmp_path / "crm_later.csv"
    later.write_text(
        "customer_id,action,taken_at,outcome,outcome_at\nC2,follow_up_call,2025-07-01,lost,2025-10-01\n",
        encoding="utf-8",
    )
    updated = runner.invoke(cli, ["feedback", "import", str(later)])
    assert "1 outcomes added" in " ".join(updated.output.split())
    store = Store(url)
    second_row = store.get_feedback(2)
    assert second_row is not None
    assert second_row.outcome == "lost"
    first_row = store.get_feedback(1)
    assert first_row is not None
    assert first_row.campaign_id == "c1"
    assert first_row.outcome == "retained"
    broken = tmp_path / "broken.csv"
    broken.write_text("cust,action\nC1,call\n", encoding="utf-8")
    refused = runner.invoke(cli, ["feedback", "import", str(broken)])
    assert refused.exit_code == 2
    assert "missing column(s) customer_id, taken_at" in " ".join(refused.output.split())

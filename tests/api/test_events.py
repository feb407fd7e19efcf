"""POST /v1/events and scoring by id from the stored history (SQLite; PostgreSQL when configured)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from berth.store import upgrade
from store.pg import postgres_base_url, temporary_schema

from .conftest import Api, MakeApi, assert_problem


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> Iterator[str]:
    """A migrated SQLite copy, or a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "berth.db"
        shutil.copyfile(migrated_sqlite, path)
        yield f"sqlite:///{path}"
        return
    with temporary_schema(postgres_base_url()) as url:
        upgrade(url)
        yield url


SHIPMENTS: list[dict[str, Any]] = [
    {"shipment_id": "S-1", "shipment_date": "2025-03-02", "volume": 12.0, "revenue": 8400.0, "lane": "EU-AS"},
    {"shipment_date": "2025-04-11", "volume": 9.5, "damaged": False},  # no id: keyed by content
    {"shipment_id": "S-3", "shipment_date": "2025-06-11", "volume": 3.0, "delay_hours": 5.0},
]
INTERACTIONS: list[dict[str, Any]] = [
    {"timestamp": "2025-05-12T09:30:00Z", "type": "complaint", "resolved_at": "2025-05-14T16:00:00Z"},
    {"timestamp": "2025-06-20T10:00:00+02:00", "type": "survey", "score": 6, "sentiment": "negative"},
]
PROFILE: dict[str, Any] = {
    "segment": "forwarder",
    "region": "EU",
    "since": "2019-03-01",
    "loyalty_member": True,
}


def _events(customer_id: str = "C-1") -> dict[str, Any]:
    return {
        "shipments": [{"customer_id": customer_id, **s} for s in SHIPMENTS],
        "interactions": [{"customer_id": customer_id, **i} for i in INTERACTIONS],
        "profiles": [{"customer_id": customer_id, **PROFILE}],
    }


def _post(api: Api, body: Any) -> Any:
    _, key = api.services.store.create_api_key(["events"], "history feed")
    return api.client.post("/v1/events", json=body, headers=api.headers(key))


def test_events_are_stored_once(api: Api) -> None:
    first = _post(api, _events())
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["stored"], body["duplicates"], body["updated"], body["refused"]) == (6, 0, 0, 0)
    assert [r["status"] for r in body["shipments"]] == ["stored"] * 3
    again = _post(api, _events()).json()
    assert [r["status"] for r in again["shipments"]] == ["duplicate"] * 3
    assert [r["status"] for r in again["interactions"]] == ["duplicate"] * 2
    assert [r["status"] for r in again["profiles"]] == ["updated"]
    from berth.history import HistoryStore

    assert HistoryStore(api.services.store.engine).counts() == {
        "shipments": 3,
        "interactions": 2,
        "profiles": 1,
    }


def test_bad_rows_are_refused_with_field_and_reason_and_the_others_stored(api: Api) -> None:
    future = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    body = {
        "shipments": [
            {"customer_id": "C-1", "shipment_date": "2025-03-02", "volume": 2.0},
            {"customer_id": "C-1", "shipment_date": future},
            {"customer_id": "C-1", "shipment_date": "2025-03-03", "volume": 1.0},
            {"customer_id": "C-1", "shipment_date": "2025-03-03", "volume": 1.0},  # an identical twin
        ],
        "interactions": [
            {
                "customer_id": "C-1",
                "timestamp": "2025-05-12T09:30:00Z",
                "type": "complaint",
                "resolved_at": "2025-05-11T00:00:00Z",
            }
        ],
    }
    response = _post(api, body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert [r["status"] for r in out["shipments"]] == ["stored", "refused", "stored", "stored"]
    assert "in the future" in out["shipments"][1]["problems"][0]["reason"]
    assert out["interactions"][0]["problems"] == [
        {"field": "resolved_at", "reason": "resolved_at is before timestamp"}
    ]
    assert (
        _post(api, body).json()["shipments"][2:]
        == [{"status": "duplicate", "customer_id": "C-1", "problems": None}] * 2
    )


def test_a_row_breaking_the_schema_makes_the_body_a_422_and_stores_nothing(api: Api) -> None:
    body = {
        "shipments": [
            {"customer_id": "C-9", "shipment_date": "2025-03-02", "volume": 1.0},
            {"customer_id": "C-9", "shipment_date": "2025-03-03", "volume": -1.0},
        ],
        "profiles": [{"segment": "forwarder"}],
    }
    problem = assert_problem(_post(api, body), 422)
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/shipments/1/volume", "/profiles/0/customer_id"} <= pointers
    again = _post(api, {"shipments": body["shipments"][:1]}).json()
    assert again["shipments"][0]["status"] == "stored"  # the first try stored nothing


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ([1, 2], None),
        ({"shipments": {"customer_id": "C-1"}}, "/shipments"),
        ({"shipments": [], "orders": []}, "/orders"),
        ({"shipments": [7]}, "/shipments/0"),
    ],
)
def test_malformed_bodies_are_422_with_field_paths(api: Api, body: Any, pointer: str | None) -> None:
    problem = assert_problem(_post(api, body), 422)
    if pointer is not None:
        assert pointer in {e["pointer"] for e in problem["errors"]}


def test_too_many_rows_is_413(api: Api) -> None:
    rows = [{"customer_id": "C-1", "shipment_date": "2025-01-01"}] * 10_001
    assert_problem(_post(api, {"shipments": rows}), 413, "batch-too-large")


def test_events_need_the_events_scope(api: Api) -> None:
    for key in (api.score_key, api.admin_key, api.all_key):  # scoring keys cannot rewrite history
        response = api.client.post("/v1/events", json=_events(), headers=api.headers(key))
        assert_problem(response, 403, "forbidden")


def _history_body(customer_id: str, as_of: str) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "customers": [
            {
                "customer_id": customer_id,
                "shipments": SHIPMENTS,
                "interactions": INTERACTIONS,
                "profile": PROFILE,
            }
        ],
    }


def test_scoring_by_id_equals_scoring_the_same_history_in_the_body(api: Api) -> None:
    assert _post(api, _events("C-1")).status_code == 200
    by_id = api.score({"as_of": "2025-06-30", "customer_ids": ["C-1"]})
    assert by_id.status_code == 200, by_id.text
    in_body = api.score(_history_body("C-1", "2025-06-30"))
    assert in_body.status_code == 200, in_body.text
    assert by_id.json()["scores"] == in_body.json()["scores"]
    assert api.services.writer.flush(timeout=10)
    store = api.services.store
    (logged_by_id,) = store.predictions(by_id.json()["request_id"])
    (logged_in_body,) = store.predictions(in_body.json()["request_id"])
    assert logged_by_id.input_hash == logged_in_body.input_hash  # the same values reached the scorer


def test_scoring_by_id_as_of_a_past_date_sees_what_was_known_then(api: Api) -> None:
    assert _post(api, _events("C-1")).status_code == 200
    by_id = api.score({"as_of": "2025-05-31", "customer_ids": ["C-1"]})
    assert by_id.status_code == 200, by_id.text
    body = _history_body("C-1", "2025-05-31")
    customer = body["customers"][0]
    customer["shipments"] = SHIPMENTS[:2]
    customer["interactions"] = INTERACTIONS[:1]
    assert by_id.json()["scores"] == api.score(body).json()["scores"]


def test_unknown_ids_are_404_naming_them(api: Api) -> None:
    assert _post(api, _events("C-1")).status_code == 200
    response = api.score({"as_of": "2025-06-30", "customer_ids": ["C-1", "C-404", "C-405"]})
    problem = assert_problem(response, 404, "unknown-customers")
    assert problem["customer_ids"] == ["C-404", "C-405"]
    assert "C-404" in problem["detail"]
    early = api.score({"as_of": "2025-01-01", "customer_ids": ["C-1"]})  # nothing stored by then
    assert_problem(early, 404, "unknown-customers")


def test_by_id_bodies_are_validated(api: Api) -> None:
    for body in (
        {"as_of": "2025-06-30", "customer_ids": []},
        {"as_of": "2025-06-30", "customer_ids": ["A", "A"]},
        {"as_of": "30/06/2025", "customer_ids": ["A"]},
        {"customer_ids": ["A"]},
        {"as_of": "2025-06-30", "customer_ids": ["A"], "extra": 1},
    ):
        assert_problem(api.score(body), 422)
    too_many = {"as_of": "2025-06-30", "customer_ids": [f"C-{i}" for i in range(1_001)]}
    assert_problem(api.score(too_many), 413, "batch-too-large")


def test_fresh_customer_score_from_the_stored_history(api: Api) -> None:
    assert _post(api, _events("C-1")).status_code == 200
    fresh = api.client.get("/v1/customers/C-1/score?fresh=true&as_of=2025-06-30", headers=api.headers())
    assert fresh.status_code == 200, fresh.text
    (score,) = api.score({"as_of": "2025-06-30", "customer_ids": ["C-1"]}).json()["scores"]
    out = fresh.json()
    assert (out["as_of"], out["churn_probability"], out["risk_band"]) == (
        "2025-06-30",
        score["churn_probability"],
        score["risk_band"],
    )
    assert out["model_version"] == "1"
    assert api.services.writer.flush(timeout=10)
    assert api.services.store.count_predictions(fresh.headers["x-request-id"]) == 1
    missing = api.client.get("/v1/customers/C-9/score?fresh=true", headers=api.headers())
    assert_problem(missing, 404, "unknown-customers")


def test_openapi_documents_both_scoring_bodies_and_events(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    body = document["paths"]["/v1/scores"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {
        "oneOf": [
            {"$ref": "#/components/schemas/ScoreRequest"},
            {"$ref": "#/components/schemas/ScoreByIdRequest"},
        ]
    }
    assert "EventsRequest" in document["components"]["schemas"]
    assert "/v1/events" in document["paths"]


def test_events_and_scoring_by_id_on_each_database(make_api: MakeApi) -> None:
    api = make_api()
    assert _post(api, _events("C-1")).json()["stored"] == 6
    assert _post(api, _events("C-1")).json()["duplicates"] == 5
    response = api.score({"as_of": "2025-06-30", "customer_ids": ["C-1"]})
    assert response.status_code == 200, response.text
    assert [s["customer_id"] for s in response.json()["scores"]] == ["C-1"]

"""GET /v1/customers/{id}/score and the feedback endpoints."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from .conftest import Api, assert_problem


def _write_scores(api: Api) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["C-1", "C-1", "C-2"],
            "as_of": [date(2025, 3, 31), date(2025, 6, 30), date(2025, 6, 30)],
            "churn_probability": [0.2, 0.7, 0.1],
            "partial_churn_probability": [0.1, float("nan"), 0.05],
            "risk_band": ["low", "high", "low"],
            # berth score's driver columns (a missing third driver: None)
            "driver_1": ["rhythm", "service", "volume"],
            "driver_1_contribution": [0.4, 0.9, -0.2],
            "driver_2": ["volume", "complaints", None],
            "driver_2_contribution": [0.1, 0.3, float("nan")],
        }
    )
    assert api.services.store.write_scores(frame, "berth-churn", "7") == 3


def test_latest_stored_score(api: Api) -> None:
    _write_scores(api)
    response = api.client.get("/v1/customers/C-1/score", headers=api.headers())
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2025-06-30"
    assert body["churn_probability"] == 0.7
    assert body["partial_churn_probability"] is None
    assert body["risk_band"] == "high"
    assert body["model_version"] == "7"
    assert datetime.fromisoformat(body["scored_at"]).tzinfo is not None
    assert [(d["name"], d["contribution"]) for d in body["drivers"]] == [
        ("service", 0.9),
        ("complaints", 0.3),
    ]
    assert body["drivers"][0]["label_zh"]
    assert body["drivers"][0]["sentence"] is None
    assert_problem(
        api.client.get("/v1/customers/C-1/score?as_of=2025-03-31", headers=api.headers()),
        422,
        "validation-error",
    )
    other = api.client.get("/v1/customers/C-2/score", headers=api.headers()).json()
    assert [d["name"] for d in other["drivers"]] == ["volume"]


def test_unknown_customer_is_404(api: Api) -> None:
    _write_scores(api)
    problem = assert_problem(
        api.client.get("/v1/customers/nobody/score", headers=api.headers()), 404, "not-found"
    )
    assert "nobody" in problem["detail"]


def test_customer_id_too_long_is_422(api: Api) -> None:
    response = api.client.get("/v1/customers/" + "x" * 129 + "/score", headers=api.headers())
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["path", "customer_id"]


def test_feedback_then_outcome(api: Api) -> None:
    created = api.client.post(
        "/v1/feedback",
        json={
            "customer_id": "C-1",
            "action": "account_review_call",
            "taken_at": "2025-07-02T14:00:00+02:00",
            "notes": "Discussed delays.",
            "request_id": "abc",
        },
        headers=api.headers(),
    )
    assert created.status_code == 201, created.text
    feedback_id = created.json()["id"]
    stored = api.services.store.get_feedback(feedback_id)
    assert stored is not None
    assert stored.taken_at == datetime(2025, 7, 2, 12, 0, tzinfo=UTC)
    assert stored.outcome is None

    updated = api.client.patch(
        f"/v1/feedback/{feedback_id}",
        json={"outcome": "retained", "outcome_at": "2025-09-30T00:00:00Z"},
        headers=api.headers(),
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["outcome"] == "retained"
    assert body["action"] == "account_review_call"
    assert body["request_id"] == "abc"


def test_feedback_with_outcome_in_one_go(api: Api) -> None:
    response = api.client.post(
        "/v1/feedback",
        json={
            "customer_id": "C-1",
            "action": "discount",
            "taken_at": "2025-07-02T00:00:00Z",
            "outcome": "churned",
            "outcome_at": "2025-10-01T00:00:00Z",
        },
        headers=api.headers(),
    )
    assert response.status_code == 201
    stored = api.services.store.get_feedback(response.json()["id"])
    assert stored is not None
    assert stored.outcome == "churned"


def test_feedback_validation(api: Api) -> None:
    base = {"customer_id": "C-1", "action": "call", "taken_at": "2025-07-02T00:00:00Z"}
    cases = [
        {**base, "outcome_at": "2025-08-01T00:00:00Z"},
        {**base, "outcome": "retained", "outcome_at": "2025-07-01T00:00:00Z"},
        {**base, "action": ""},
        {**base, "colour": "red"},
        {**base, "taken_at": "soon"},
    ]
    for body in cases:
        assert_problem(api.client.post("/v1/feedback", json=body, headers=api.headers()), 422)


def test_outcome_for_unknown_feedback_is_404(api: Api) -> None:
    response = api.client.patch(
        "/v1/feedback/999",
        json={"outcome": "retained", "outcome_at": "2025-09-30T00:00:00Z"},
        headers=api.headers(),
    )
    assert_problem(response, 404, "not-found")


def test_outcome_before_action_is_422(api: Api) -> None:
    feedback_id = api.services.store.add_feedback("C-1", "call", datetime(2025, 7, 2, tzinfo=UTC))
    response = api.client.patch(
        f"/v1/feedback/{feedback_id}",
        json={"outcome": "retained", "outcome_at": "2025-07-01T00:00:00Z"},
        headers=api.headers(),
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["loc"] == ["body", "outcome_at"]

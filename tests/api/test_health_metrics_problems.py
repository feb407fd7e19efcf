"""Health, readiness, Prometheus metrics and the problem-details shape of every error class."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from .conftest import Api, MakeApi, assert_problem
from .payloads import batch


def test_healthz(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_readyz_names_the_model(api: Api) -> None:
    assert api.client.get("/readyz").json() == {
        "status": "ready",
        "model_name": "berth-churn",
        "model_version": "1",
    }


def test_readyz_is_503_when_the_database_is_down(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.services.store, "ping", lambda: False)
    problem = assert_problem(api.client.get("/readyz"), 503, "not-ready")
    assert "database" in problem["detail"]


def test_database_errors_are_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def broken(customer_id: str) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(api.services.store, "latest_score", broken)
    problem = assert_problem(
        api.client.get("/v1/customers/C-1/score", headers=api.headers()), 503, "database-unavailable"
    )
    assert "refused" not in problem["detail"]


def test_metrics_exposition(api: Api) -> None:
    assert api.score(batch(3)).status_code == 200
    api.client.get("/v1/customers/C-9/score", headers=api.headers())
    api.client.get("/nowhere")
    text = api.client.get("/metrics").text
    assert 'berth_http_requests_total{method="POST",route="/v1/scores",status="200"} 1.0' in text
    assert (
        'berth_http_requests_total{method="GET",route="/v1/customers/{customer_id}/score",status="404"} 1.0'
        in text
    )
    assert 'berth_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert (
        'berth_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/scores",status="200"}'
        in text
    )
    assert 'berth_model_info{name="berth-churn",version="1"} 1.0' in text
    assert 'berth_scores_served_total{model_version="1"} 3.0' in text
    assert "berth_prediction_log_dropped_total 0.0" in text


def test_requests_refused_before_routing_count_under_their_route(api: Api) -> None:
    headers = {**api.headers(), "Content-Type": "text/plain"}
    assert api.client.post("/v1/scores", content=b"x", headers=headers).status_code == 415
    assert api.client.post("/v1/feedback", content=b"x", headers=headers).status_code == 415
    assert api.client.post("/nowhere", content=b"x", headers=headers).status_code == 415
    text = api.client.get("/metrics").text
    assert 'berth_http_requests_total{method="POST",route="/v1/scores",status="415"} 1.0' in text
    assert 'berth_http_requests_total{method="POST",route="/v1/feedback",status="415"} 1.0' in text
    assert 'berth_http_requests_total{method="POST",route="<unmatched>",status="415"} 1.0' in text


def test_unknown_route_is_404_problem(api: Api) -> None:
    body = assert_problem(api.client.get("/v2/everything"), 404, "not-found")
    assert body["instance"] == "/v2/everything"


def test_wrong_method_is_405_problem_with_allow(api: Api) -> None:
    response = api.client.get("/v1/scores", headers=api.headers())
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


def test_unexpected_error_is_500_problem(make_api: MakeApi) -> None:
    api = make_api(raise_server_exceptions=False)
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise ZeroDivisionError("do not show this")

    api.app.include_router(router)
    response = api.client.get("/boom")
    problem = assert_problem(response, 500, "internal-error")
    assert "ZeroDivision" not in response.text
    assert "do not show" not in response.text
    assert problem["request_id"] in problem["detail"]
    text = api.client.get("/metrics").text
    assert 'berth_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in text


def test_invalid_content_length_is_400(api: Api) -> None:
    response = api.client.post(
        "/v1/scores",
        content=b"{}",
        headers={**api.headers(), "Content-Length": "-1", "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_openapi_declares_problem_responses(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    assert "ValidationIssue" in schema["components"]["schemas"]
    responses = schema["paths"]["/v1/scores"]["post"]["responses"]
    for status in ("401", "403", "413", "415", "422", "503", "504"):
        assert "application/problem+json" in responses[status]["content"], status
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    example = schema["components"]["schemas"]["ScoreRequest"]["examples"][0]
    assert example["customers"][0]["customer_id"] == "C-00042"


def test_score_request_example_is_valid(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    example = schema["components"]["schemas"]["ScoreRequest"]["examples"][0]
    assert api.score(example).status_code == 200


def test_literals_match_the_data_contract() -> None:
    from typing import get_args

    from berth import tables
    from berth.api.schemas import InteractionType, RiskBand
    from berth.scoring import RISK_BANDS

    assert get_args(InteractionType) == tables.INTERACTION_TYPES
    assert get_args(RiskBand) == RISK_BANDS

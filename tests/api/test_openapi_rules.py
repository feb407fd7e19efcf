"""The OpenAPI document states the rules the API enforces: enums, ranges and cross-field rules."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from berth.api.schemas import DriverGroup
from berth.features import GROUP_LABELS
from berth.scoring import RISK_BANDS

from .conftest import Api, assert_problem
from .payloads import batch


@pytest.fixture
def components(api: Api) -> dict[str, Any]:
    schemas: dict[str, Any] = api.client.get("/openapi.json").json()["components"]["schemas"]
    return schemas


def test_driver_groups_match_the_feature_groups() -> None:
    assert get_args(DriverGroup) == tuple(GROUP_LABELS)


def test_bands_and_driver_names_are_enums(components: dict[str, Any]) -> None:
    for model in ("CustomerScoreOut", "StoredScoreOut"):
        assert components[model]["properties"]["risk_band"]["enum"] == list(RISK_BANDS)
    assert components["DriverOut"]["properties"]["name"]["enum"] == list(GROUP_LABELS)


def test_sentiment_range_is_stated(components: dict[str, Any]) -> None:
    number = components["InteractionIn"]["properties"]["sentiment"]["anyOf"][0]
    assert (number["minimum"], number["maximum"]) == (-1.0, 1.0)


def test_cross_field_rules_are_stated(components: dict[str, Any]) -> None:
    feedback = components["FeedbackCreate"]
    assert "outcome_at" in feedback["description"]
    assert "taken_at" in feedback["properties"]["outcome_at"]["description"]
    assert "outcome" in feedback["properties"]["outcome_at"]["description"]
    assert "distinct" in components["ScoreRequest"]["properties"]["customers"]["description"]


@pytest.mark.parametrize("value", [1.5, -1.01])
def test_sentiment_out_of_range_is_422(api: Api, value: float) -> None:
    body = batch(1)
    body["customers"][0]["interactions"][0]["sentiment"] = value
    problem = assert_problem(api.score(body), 422)
    assert "sentiment" in problem["detail"]


def test_sentiment_in_range_is_served(api: Api) -> None:
    body = batch(1)
    body["customers"][0]["interactions"][0]["sentiment"] = -1.0
    body["customers"][0]["interactions"][1]["sentiment"] = 1.0
    assert api.score(body).status_code == 200
